"""The JSON API, its OpenAPI description, and the exports."""

from __future__ import annotations

import csv
import io
from dataclasses import fields
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from catalog import Hit, OnRecordError
from catalog.formats import FORMATS, render
from search import SearchQuery
from web import Services
from web.openapi import OPENAPI

api = Blueprint("api", __name__)

# The CSV export has the same columns as `search --json`.
HIT_FIELDS = [f.name for f in fields(Hit)]


def services() -> Services:
    return current_app.extensions["onrecord"]


def query_from_args() -> SearchQuery:
    """A SearchQuery from the request's arguments; bad values are 400s."""
    args = request.args
    numbers = {}
    for name, default in (("limit", "10"), ("page", "1")):
        raw = args.get(name, default)
        if not raw.isdigit():
            raise OnRecordError(f"{name} must be a whole number")
        numbers[name] = int(raw)
    meeting = args.get("meeting", "")
    if meeting and not meeting.isdigit():
        raise OnRecordError("meeting must be a meeting id")
    limit = numbers["limit"]
    return SearchQuery(
        args.get("q", ""),
        body=args.get("body") or None,
        since=args.get("since") or None,
        until=args.get("until") or None,
        speaker=args.get("speaker") or None,
        meeting_id=int(meeting) if meeting else None,
        limit=limit,
        offset=(max(1, numbers["page"]) - 1) * limit,
        order=args.get("order") or "relevance",
    )


def run_search(q: SearchQuery) -> list[Any]:
    s = services()
    s.throttle()
    with s.lock:
        return s.index.search(q)


@api.get("/api/search")
def api_search() -> Response:
    q = query_from_args()
    hits = run_search(q)
    if request.args.get("format") == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=HIT_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for hit in hits:
            writer.writerow(hit.to_dict())
        return Response(
            out.getvalue(),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="onrecord-search.csv"'},
        )
    return jsonify({"query": q.text, "results": [h.to_dict() for h in hits]})


@api.get("/api/meetings")
def api_meetings() -> Response:
    s = services()
    with s.lock:
        found = s.catalog.meetings(body=request.args.get("body") or None)
    return jsonify({"meetings": [m.summary() for m in found]})


@api.get("/api/meetings/<int:meeting_id>")
def api_meeting(meeting_id: int) -> Response:
    meeting, segments = services().meeting_with_segments(meeting_id)
    return jsonify({"meeting": meeting.summary(), "segments": [seg.to_dict() for seg in segments]})


@api.get("/meetings/<int:meeting_id>/transcript.<fmt>")
def transcript_export(meeting_id: int, fmt: str) -> Response:
    if fmt not in FORMATS:
        abort(404)
    meeting, segments = services().meeting_with_segments(meeting_id)
    mimetypes = {
        "txt": "text/plain",
        "vtt": "text/vtt",
        "srt": "application/x-subrip",
        "json": "application/json",
    }
    return Response(
        render(meeting, segments, fmt),
        mimetype=mimetypes[fmt],
        headers={"Content-Disposition": f'attachment; filename="meeting-{meeting_id}.{fmt}"'},
    )


@api.get("/api/openapi.json")
def openapi() -> Response:
    return jsonify(OPENAPI)
