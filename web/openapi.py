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

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
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
    },
}
