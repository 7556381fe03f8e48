"""The API's OpenAPI 3.1 description, served at /api/openapi.json."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from catalog.types import Hit

_HIT = {
    "type": "object",
    "required": [f.name for f in fields(Hit)],
    "properties": {
        "meeting_id": {"type": "integer"},
        "meeting_title": {"type": "string"},
        "meeting_date": {"type": ["string", "null"], "format": "date"},
        "body": {"type": "string"},
        "start": {"type": "number", "description": "seconds from the start of the recording"},
        "end": {"type": "number"},
        "speaker": {"type": ["string", "null"]},
        "text": {"type": "string", "description": "the quote"},
        "score": {"type": "number"},
        "url": {
            "type": "string",
            "description": "deep link to the second at the source or in the app's player",
        },
    },
}
_MEETING = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "date": {"type": ["string", "null"], "format": "date"},
        "body": {"type": "string"},
        "status": {"type": "string", "enum": ["queued", "transcribing", "indexing", "indexed", "failed"]},
        "duration": {"type": ["number", "null"]},
        "source_url": {"type": "string"},
    },
}
_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}


def _param(name: str, description: str, schema: dict[str, Any] | None = None, required: bool = False) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": {"description": "bad input", **_json(_ERROR)},
    "404": {"description": "not found", **_json(_ERROR)},
}
# Writes need the admin token; without one configured the app is read-only.
_ADMIN: dict[str, Any] = {
    "security": [{"adminToken": []}],
}
_FORBIDDEN = {"403": {"description": "read-only app, or a missing or wrong admin token", **_json(_ERROR)}}
_SPEAKER = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "description": "SPEAKER_1…, from diarization"},
        "name": {"type": ["string", "null"], "description": "the confirmed name"},
        "display": {
            "type": "string",
            "description": 'name, "probably NAME" from a strong voice match, or label',
        },
        "proposed_name": {"type": ["string", "null"]},
        "proposed_score": {"type": ["number", "null"], "description": "voice match cosine similarity"},
        "seconds": {"type": "number", "description": "talk time"},
        "sample": {"type": "string", "description": "the speaker's longest passage"},
    },
}
_SAVED = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "query": {"type": "string"},
        "body": {"type": ["string", "null"]},
        "speaker": {"type": ["string", "null"]},
        "notify": {"type": "string", "description": "atom, webhook:URL or email:ADDRESS"},
        "min_score": {"type": "number"},
        "created_at": {"type": "string"},
        "feed": {"type": "string", "description": "the saved search's Atom feed"},
    },
}


def _path(name: str, kind: str = "integer") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "components": {
        "securitySchemes": {
            "adminToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "the admin_token setting (ONRECORD_ADMIN_TOKEN)",
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
                "parameters": [
                    _param("q", 'what was said; "quoted phrase", word*, AND/OR/NOT work', required=True),
                    _param("body", "only this body"),
                    _param("since", "only meetings on or after", {"type": "string", "format": "date"}),
                    _param("until", "only meetings on or before", {"type": "string", "format": "date"}),
                    _param("speaker", "only passages by this speaker"),
                    _param("meeting", "only this meeting id", {"type": "integer"}),
                    _param("limit", "results per page (1-100)", {"type": "integer", "default": 10}),
                    _param("page", "page number", {"type": "integer", "default": 1}),
                    _param("order", "relevance or date", {"type": "string", "enum": ["relevance", "date"]}),
                    _param("format", "json (default) or csv", {"type": "string", "enum": ["json", "csv"]}),
                ],
                "responses": {
                    "200": {
                        "description": "results",
                        **_json(
                            {
                                "type": "object",
                                "properties": {
                                    "query": {"type": "string"},
                                    "results": {"type": "array", "items": _HIT},
                                },
                            }
                        ),
                    },
                    "429": {"description": "rate limited", **_json(_ERROR)},
                    **_ERRORS,
                },
            }
        },
        "/api/meetings": {
            "get": {
                "summary": "Meetings, newest first",
                "parameters": [_param("body", "only this body")],
                "responses": {
                    "200": {
                        "description": "meetings",
                        **_json(
                            {
                                "type": "object",
                                "properties": {"meetings": {"type": "array", "items": _MEETING}},
                            }
                        ),
                    }
                },
            }
        },
        "/api/meetings/{id}": {
            "get": {
                "summary": "A meeting and its transcript segments",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "responses": {
                    "200": {
                        "description": "the meeting",
                        **_json(
                            {
                                "type": "object",
                                "properties": {
                                    "meeting": _MEETING,
                                    "segments": {"type": "array", "items": {"type": "object"}},
                                },
                            }
                        ),
                    },
                    **_ERRORS,
                },
            }
        },
        "/api/meetings/{id}/speakers": {
            "get": {
                "summary": "A meeting's speakers: label, name, suggestion and talk time",
                "parameters": [_path("id")],
                "responses": {
                    "200": {
                        "description": "the speakers",
                        **_json(
                            {
                                "type": "object",
                                "properties": {
                                    "meeting_id": {"type": "integer"},
                                    "speakers": {"type": "array", "items": _SPEAKER},
                                },
                            }
                        ),
                    },
                    **_ERRORS,
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
                            "properties": {"name": {"type": "string", "maxLength": 120}},
                        }
                    ),
                },
                "responses": {
                    "200": {
                        "description": "the named speaker",
                        **_json(
                            {
                                "type": "object",
                                "properties": {"meeting_id": {"type": "integer"}, "speaker": _SPEAKER},
                            }
                        ),
                    },
                    **_FORBIDDEN,
                    **_ERRORS,
                },
            }
        },
        "/api/alerts": {
            "get": {
                **_ADMIN,
                "summary": "Saved searches (admin only: webhook addresses can hold secrets)",
                "responses": {
                    "200": {
                        "description": "saved searches",
                        **_json(
                            {
                                "type": "object",
                                "properties": {"saved_searches": {"type": "array", "items": _SAVED}},
                            }
                        ),
                    },
                    **_FORBIDDEN,
                },
            },
            "post": {
                **_ADMIN,
                "summary": "Save a search; new meetings that match it send an alert",
                "requestBody": {
                    "required": True,
                    **_json(
                        {
                            "type": "object",
                            "required": ["query"],
                            "properties": {
                                "query": {"type": "string", "maxLength": 500},
                                "notify": {"type": "string", "default": "atom"},
                                "body": {"type": "string"},
                                "speaker": {"type": "string"},
                                "min_score": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.55},
                                "backfill": {
                                    "type": "boolean",
                                    "description": "also meetings already indexed",
                                },
                            },
                        }
                    ),
                },
                "responses": {
                    "201": {
                        "description": "the saved search",
                        **_json({"type": "object", "properties": {"saved_search": _SAVED}}),
                    },
                    **_FORBIDDEN,
                    "400": _ERRORS["400"],
                },
            },
        },
        "/api/alerts/{id}": {
            "delete": {
                **_ADMIN,
                "summary": "Delete a saved search and its alerts",
                "parameters": [_path("id")],
                "responses": {
                    "200": {
                        "description": "removed",
                        **_json({"type": "object", "properties": {"removed": {"type": "integer"}}}),
                    },
                    **_FORBIDDEN,
                    "404": _ERRORS["404"],
                },
            }
        },
    },
}

# Votes (web/votes.py): the same JSON as `onrecord votes --json`.
from web.votes_openapi import VOTES_PATHS  # noqa: E402

OPENAPI["paths"].update(VOTES_PATHS)
