"""The API's OpenAPI 3.1 description, served at /api/openapi.json.

The shapes of what the API returns are derived from the records that make
them (``Hit``, ``Segment``, ``Meeting.summary``, ``SpeakerInfo.summary``,
``SavedSearch``), so a field added there is described here without anyone
remembering to. What a request may hold is written out, next to the limits
the code enforces (imported, not copied); schemathesis checks the two agree
(tests/test_api_contract.py). Why not apispec or flask-smorest: without
marshmallow schemas apispec only moves these same dictionaries into
docstrings, and flask-smorest would mean rewriting every view around
marshmallow; neither derives the shapes of our dataclasses.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any

from catalog.speakers import SpeakerInfo
from catalog.types import Hit, Meeting, Segment
from search.alerts import SavedSearch
from search.query import MAX_PREFIX_TERMS, MAX_QUERY_CHARS, MAX_TERMS, SECTIONS
from web.services import MAX_NAME, MAX_SAVED_QUERY

# At least one character that is not white space (as Python's str.strip sees it).
NOT_BLANK = (
    "[^\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
)

# What catalog.text.clean_text refuses in names and saved searches: C0 and C1
# controls, bidirectional overrides and isolates, noncharacters.
TYPED_REFUSED = "\\x00-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069\\ufdd0-\\ufdef\\ufffe\\uffff"

DESCRIPTIONS = {
    "start": "seconds from the start of the recording",
    "text": "the quote",
    "url": "deep link to the second at the source or in the app's player",
    "context": "the whole passage around the quote",
    "label": "SPEAKER_1…, from diarization",
    "display": 'name, "probably NAME" from a strong voice match, or label',
    "seconds": "talk time",
    "sample": "the speaker's longest passage",
    "proposed_score": "voice match cosine similarity",
    "notify": "atom, webhook:URL or email:ADDRESS",
    "feed": "the saved search's Atom feed; its address is its only key",
    "feed_token": "the unguessable key in the feed's address",
}
_SCALARS = {int: "integer", float: "number", str: "string", bool: "boolean"}


def _schema_of(kind: Any) -> dict[str, Any]:
    """The JSON schema of a type hint: scalars, optionals, lists, records."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        schema = _schema_of(inner[0])
        if type(None) in args and "type" in schema:
            schema = {**schema, "type": [schema["type"], "null"]}
        return schema
    if typing.get_origin(kind) is list:
        return {"type": "array", "items": _schema_of(args[0])}
    if dataclasses.is_dataclass(kind):
        return record(kind)
    if kind is Any:
        return {}
    return {"type": _SCALARS[kind]}


def record(cls: type, only: list[str] | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The schema of a dataclass as ``to_dict`` writes it (every field is
    always there), or of the ``only`` fields a summary keeps."""
    hints = typing.get_type_hints(cls)
    names = only or [f.name for f in dataclasses.fields(cls)]
    properties: dict[str, Any] = {}
    for name in names:
        schema = _schema_of(hints[name]) if name in hints else {"type": "string"}
        if name in DESCRIPTIONS:
            schema = {**schema, "description": DESCRIPTIONS[name]}
        properties[name] = schema
    properties.update(extra or {})
    return {"type": "object", "required": list(properties), "properties": properties}


_HIT = record(Hit)
_SEGMENT = record(Segment)
_MEETING = record(Meeting, only=list(Meeting(title="", body="", source_url="").summary()))
_MEETING["properties"]["status"]["enum"] = ["queued", "transcribing", "indexing", "indexed", "failed"]
_SPEAKER = record(
    SpeakerInfo,
    only=[k for k in SpeakerInfo("", None, None, None, 0.0, "").summary() if k != "display"],
    extra={"display": {"type": "string", "description": DESCRIPTIONS["display"]}},
)
_SAVED = record(SavedSearch, extra={"feed": {"type": "string", "description": DESCRIPTIONS["feed"]}})
_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, **_json(_ERROR), **({"headers": headers} if headers else {})}


def _header(description: str, kind: str = "string") -> dict[str, Any]:
    return {"description": description, "required": True, "schema": {"type": kind}}


_400 = {"400": _error("bad input: the message says what to change")}
_404 = {"404": _error("no such thing")}
_413 = {"413": _error("the request body is over 64 KB")}
_414 = {"414": _error("the address is over 8 KB")}
_429 = {"429": _error("too many requests from this client", {"Retry-After": _header("seconds", "integer")})}
# Writes need the admin token; without one configured the app is read-only.
_ADMIN: dict[str, Any] = {
    "security": [{"adminToken": []}],
}
_AUTH = {
    "401": _error("no admin token was sent", {"WWW-Authenticate": _header('Bearer realm="OnRecord"')}),
    "403": _error("a wrong admin token, or a read-only app"),
    **_429,
}


def _query(name: str, description: str, schema: dict[str, Any] | None = None, required: bool = False) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _path(name: str, kind: str = "integer") -> dict[str, Any]:
    schema = {"type": kind, "minimum": 0, "maximum": 10**18 - 1} if kind == "integer" else {"type": kind}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _number(low: int, high: int, default: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": low, "maximum": high}
    return schema | ({"default": default} if default is not None else {})


def _text(max_chars: int) -> dict[str, Any]:
    """Text that must hold something besides white space (an empty query or
    name is a 400), counted as sent."""
    return {"type": "string", "minLength": 1, "maxLength": max_chars, "pattern": NOT_BLANK}


def _typed(max_chars: int) -> dict[str, Any]:
    """What a person types as a name or saved search: not blank, and free of
    the control characters catalog.text.clean_text refuses."""
    allowed = f"[^{TYPED_REFUSED}]"
    pattern = f"^(?={allowed}*?{NOT_BLANK}){allowed}+$"
    return {"type": "string", "minLength": 1, "maxLength": max_chars, "pattern": pattern}


def _ok(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {"200": {"description": description, **_json(record_of(properties))}}


def record_of(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(properties), "properties": properties}


# The search form sends empty dates when none is picked.
_DATE_OR_EMPTY = {"type": "string", "anyOf": [{"format": "date"}, {"maxLength": 0}]}
_SEARCH_DESCRIPTION = (
    f"Filters must name things that exist: an unknown body or speaker is a 400, as is since after until,"
    f" a page past result 1000, more than {MAX_TERMS} terms or more than {MAX_PREFIX_TERMS} word* prefixes."
)

# What a search is filtered by; the timeline takes the same.
_SEARCH_FILTERS = [
    _query(
        "q", 'what was said; "quoted phrase", word*, AND/OR/NOT work', _text(MAX_QUERY_CHARS), required=True
    ),
    _query("body", "only this body"),
    _query("since", "only meetings on or after (empty: no limit)", _DATE_OR_EMPTY),
    _query("until", "only meetings on or before (empty: no limit)", _DATE_OR_EMPTY),
    _query("speaker", "only passages by this speaker"),
    _query("meeting", "only this meeting id", _number(0, 999_999_999)),
    _query(
        "section",
        "public_comment: only passages said in a public-comment period (residents' testimony);"
        " members: only the rest (members and staff); empty: both",
        {"type": "string", "enum": ["", *SECTIONS]},
    ),
]
_BUCKET = {
    "type": "object",
    "required": ["period", "body", "count"],
    "properties": {
        "period": {"type": "string", "description": "YYYY-MM, or the meeting's date YYYY-MM-DD per meeting"},
        "body": {"type": "string"},
        "count": {"type": "integer", "minimum": 1},
        "meeting_id": {"type": "integer", "description": "per meeting only"},
    },
}
_TIMELINE_DESCRIPTION = (
    "A passage matches when it holds every content word of the query (its phrases and operators as"
    " typed), or when it is among the 200 passages closest in meaning with a similarity of 0.55 or more."
    " Matches in undated meetings count in the total only. " + _SEARCH_DESCRIPTION
)

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "components": {
        "securitySchemes": {
            "adminToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "the admin_token setting (ONRECORD_ADMIN_TOKEN), 16 characters or more",
            }
        }
    },
    "info": {
        "title": "OnRecord",
        "version": "0.1.0",
        "description": "Search what was said in public meetings, to the second.",
    },
    "paths": {
        "/api/search": {
            "get": {
                "summary": "Hybrid semantic and keyword search over passages",
                "description": _SEARCH_DESCRIPTION,
                "parameters": [
                    *_SEARCH_FILTERS,
                    _query("limit", "results per page", _number(1, 100, 10)),
                    _query("page", "page number", _number(1, 999_999_999, 1)),
                    _query("order", "relevance or date", {"type": "string", "enum": ["relevance", "date"]}),
                    _query("format", "json (default) or csv", {"type": "string", "enum": ["json", "csv"]}),
                ],
                "responses": {
                    "200": {
                        "description": "results",
                        "content": {
                            "application/json": {
                                "schema": record_of(
                                    {"query": {"type": "string"}, "results": {"type": "array", "items": _HIT}}
                                )
                            },
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    **_400,
                    **_414,
                    **_429,
                },
            }
        },
        "/api/search/timeline": {
            "get": {
                "summary": "How many passages match a search, per month (or meeting) and body",
                "description": _TIMELINE_DESCRIPTION,
                "parameters": [
                    *_SEARCH_FILTERS,
                    _query(
                        "per",
                        "month (default) or meeting",
                        {"type": "string", "enum": ["month", "meeting"], "default": "month"},
                    ),
                ],
                "responses": {
                    **_ok(
                        "the counts, oldest period first",
                        {
                            "query": {"type": "string"},
                            "total": {"type": "integer", "minimum": 0},
                            "per": {"type": "string", "enum": ["month", "meeting"]},
                            "undated": {"type": "integer", "minimum": 0},
                            "buckets": {"type": "array", "items": _BUCKET},
                        },
                    ),
                    **_400,
                    **_414,
                    **_429,
                },
            }
        },
        "/api/meetings": {
            "get": {
                "summary": "Meetings, newest first",
                "parameters": [_query("body", "only this body")],
                "responses": {
                    **_ok("meetings", {"meetings": {"type": "array", "items": _MEETING}}),
                    **_414,
                },
            }
        },
        "/api/meetings/{id}": {
            "get": {
                "summary": "A meeting and its transcript segments",
                "parameters": [_path("id")],
                "responses": {
                    **_ok(
                        "the meeting",
                        {"meeting": _MEETING, "segments": {"type": "array", "items": _SEGMENT}},
                    ),
                    **_404,
                },
            }
        },
        "/api/meetings/{id}/speakers": {
            "get": {
                "summary": "A meeting's speakers: label, name, suggestion and talk time",
                "parameters": [_path("id")],
                "responses": {
                    **_ok(
                        "the speakers",
                        {"meeting_id": {"type": "integer"}, "speakers": {"type": "array", "items": _SPEAKER}},
                    ),
                    **_404,
                },
            }
        },
        "/api/meetings/{id}/speakers/{label}": {
            "post": {
                **_ADMIN,
                "summary": "Name a speaker (or confirm a suggestion by sending it as the name)",
                "description": "The body remembers the voice; search by speaker finds the new name.",
                "parameters": [_path("id"), _path("label", "string")],
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "required": ["name"],
                            "properties": {"name": _typed(MAX_NAME)},
                        }
                    ),
                },
                "responses": {
                    **_ok("the named speaker", {"meeting_id": {"type": "integer"}, "speaker": _SPEAKER}),
                    **_AUTH,
                    **_400,
                    **_404,
                    **_413,
                },
            }
        },
        "/api/alerts": {
            "get": {
                **_ADMIN,
                "summary": "Saved searches (admin only: queries are private, webhook addresses hold secrets)",
                "responses": {
                    **_ok("saved searches", {"saved_searches": {"type": "array", "items": _SAVED}}),
                    **_AUTH,
                },
            },
            "post": {
                **_ADMIN,
                "summary": "Save a search; new meetings that match it send an alert",
                "description": "The query is checked as a search is (terms, prefixes); body must exist.",
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "required": ["query"],
                            "properties": {
                                "query": _typed(MAX_SAVED_QUERY),
                                "notify": {"type": ["string", "null"], "default": "atom"},
                                "body": {"type": ["string", "null"]},
                                "speaker": {"type": ["string", "null"]},
                                "min_score": {
                                    "type": ["number", "null"],
                                    "minimum": 0,
                                    "maximum": 1,
                                    "default": 0.55,
                                },
                                "backfill": {
                                    "type": ["boolean", "null"],
                                    "description": "also meetings already indexed",
                                },
                            },
                        }
                    ),
                },
                "responses": {
                    "201": {"description": "the saved search", **_json(record_of({"saved_search": _SAVED}))},
                    **_AUTH,
                    **_400,
                    **_413,
                },
            },
        },
        "/api/alerts/{id}": {
            "delete": {
                **_ADMIN,
                "summary": "Delete a saved search and its alerts",
                "parameters": [_path("id")],
                "responses": {
                    **_ok("removed", {"removed": {"type": "integer"}}),
                    **_AUTH,
                    **_404,
                },
            }
        },
    },
}

# Votes (web/votes.py): the same JSON as `onrecord votes --json`.
from web.votes_openapi import VOTES_PATHS  # noqa: E402

OPENAPI["paths"].update(VOTES_PATHS)
