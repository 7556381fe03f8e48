"""The OpenAPI description of /api/votes (merged into web/openapi.py)."""

from __future__ import annotations

from typing import Any

from catalog.vote_export import VOTE_FIELDS

# web.openapi defines these before it imports this module to merge it.
from web.openapi import _DATE_OR_EMPTY, _400, _404, _429, _json, _number, _path, _query

_COUNT = {"type": ["integer", "null"], "minimum": 0, "description": "null when unknown"}
VOTE: dict[str, Any] = {
    "type": "object",
    "required": list(VOTE_FIELDS),
    "properties": {
        "id": {"type": "integer"},
        "meeting_id": {"type": "integer"},
        "meeting_title": {"type": "string"},
        "meeting_date": {"type": ["string", "null"], "format": "date"},
        "body": {"type": "string"},
        "agenda_item": {"type": ["string", "null"]},
        "motion": {"type": "string"},
        "kind": {
            "type": "string",
            "enum": ["roll_call", "voice", "unanimous_consent", "consent_agenda", "electronic"],
        },
        "result": {"type": "string", "enum": ["passed", "failed", "unknown"]},
        "yes": _COUNT,
        "no": _COUNT,
        "abstain": _COUNT,
        "absent": _COUNT,
        "start": {"type": ["number", "null"], "description": "second the question was put"},
        "end": {"type": ["number", "null"], "description": "second the result was announced"},
        "members": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "vote"],
                "properties": {
                    "name": {"type": "string"},
                    "vote": {"type": "string", "enum": ["yes", "no", "abstain", "absent", "unclear"]},
                },
            },
        },
        "source": {"type": "string", "enum": ["transcript", "legistar", "both"]},
        "url": {"type": "string", "description": "deep link to the second the question was put"},
    },
}
# The Open Civic Data vote event, as ?format=ocd gives it.
OCD_VOTE_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["identifier", "motion_text", "result", "organization", "counts", "votes"],
    "properties": {
        "identifier": {"type": "string"},
        "motion_text": {"type": "string"},
        "motion_classification": {"type": "array", "items": {"type": "string"}},
        "start_date": {"type": ["string", "null"]},
        "result": {"type": "string"},
        "organization": {"type": "string"},
        "counts": {"type": "array", "items": {"type": "object"}},
        "votes": {"type": "array", "items": {"type": "object"}},
        "sources": {"type": "array", "items": {"type": "object"}},
    },
}
VOTES_PATHS: dict[str, Any] = {
    "/api/votes": {
        "get": {
            "summary": "Votes taken: motion, result, counts, each member's vote, the second it happened",
            "description": (
                "The same JSON as `onrecord votes --json`; format=csv or ocd exports them."
                " Filters must name things that exist: an unknown meeting, body or member is a 400,"
                " as is since after until."
            ),
            "parameters": [
                _query("meeting", "only this meeting id", _number(0, 999_999_999)),
                _query("body", "only this body"),
                _query("member", "only votes this member cast (name or last name)"),
                _query("since", "only meetings on or after (YYYY-MM-DD)", _DATE_OR_EMPTY),
                _query("until", "only meetings on or before (YYYY-MM-DD)", _DATE_OR_EMPTY),
                _query("result", "passed or failed", {"type": "string", "enum": ["passed", "failed"]}),
                _query(
                    "format",
                    "json (default), csv (a row per member's vote) or ocd (Open Civic Data vote events)",
                    {"type": "string", "enum": ["json", "csv", "ocd"]},
                ),
            ],
            "responses": {
                "200": {
                    "description": "votes; with format=ocd, a list of Open Civic Data vote events",
                    "content": {
                        "application/json": {
                            "schema": {
                                "anyOf": [
                                    {
                                        "type": "object",
                                        "required": ["votes"],
                                        "properties": {"votes": {"type": "array", "items": VOTE}},
                                    },
                                    {"type": "array", "items": OCD_VOTE_EVENT},
                                ]
                            }
                        },
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                **_400,
                **_429,
            },
        }
    },
    "/api/votes/{id}": {
        "get": {
            "summary": "One vote, with the counts heard and every disagreement between sources",
            "parameters": [_path("id")],
            "responses": {
                "200": {
                    "description": "the vote",
                    **_json(
                        {
                            "type": "object",
                            "properties": {
                                "vote": VOTE,
                                "counted": {"type": ["object", "null"]},
                                "disagreements": {"type": "array", "items": {"type": "string"}},
                                "confidence": {"type": "number"},
                            },
                        }
                    ),
                },
                **_404,
            },
        }
    },
}
