"""The JSON API, its OpenAPI description, and the exports."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import fields
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from catalog import Hit, OnRecordError
from catalog.formats import FORMATS, csv_cell, render
from search import SearchQuery
from search.query import MAX_QUERY_CHARS
from web import Services
from web.openapi import OPENAPI

api = Blueprint("api", __name__)

# The CSV export has the same columns as `search --json`.
HIT_FIELDS = [f.name for f in fields(Hit)]
# What a search takes; links that carry a search on carry only these.
SEARCH_ARGS = ("q", "body", "since", "until", "speaker", "meeting", "section", "limit", "page", "order")
# Whole numbers as people type them: ASCII digits only ("²".isdigit() is
# True, and int() of 5,000 digits raises), short enough for SQLite.
NUMBER = re.compile(r"[0-9]{1,9}")


def services() -> Services:
    return current_app.extensions["onrecord"]


def whole_number(name: str, raw: str, what: str = "a whole number") -> int:
    if not NUMBER.fullmatch(raw):
        raise OnRecordError(f"{name} must be {what}, e.g. {name}=1")
    return int(raw)


def search_args() -> dict[str, str]:
    """The request's search arguments, and nothing else it carried."""
    return {k: v for k in SEARCH_ARGS if (v := request.args.get(k))}


def query_from_args() -> SearchQuery:
    """A SearchQuery from the request's arguments; bad values are 400s."""
    args = request.args
    limit = whole_number("limit", args.get("limit", "10"))
    page = whole_number("page", args.get("page", "1"))
    if page < 1:
        raise OnRecordError("page must be 1 or more")
    if args.get("format", "json") not in ("json", "csv"):
        raise OnRecordError("format must be json or csv")
    text = args.get("q", "")
    # Counted as sent: the schema's maxLength counts the spaces around it too.
    if len(text) > MAX_QUERY_CHARS:
        raise OnRecordError(f"Query is {len(text)} characters; keep it under {MAX_QUERY_CHARS}")
    meeting = args.get("meeting")
    return SearchQuery(
        text,
        body=args.get("body") or None,
        since=args.get("since") or None,
        until=args.get("until") or None,
        speaker=args.get("speaker") or None,
        section=args.get("section") or None,
        meeting_id=None if meeting is None else whole_number("meeting", meeting, "a meeting id"),
        limit=limit,
        offset=(max(1, page) - 1) * limit,
        order=args.get("order", "relevance"),
    )


def meeting_with_segments(meeting_id: int) -> tuple[Any, list[Any]]:
    """A meeting and its transcript, or a 404."""
    catalog = services().reader().catalog
    meeting = catalog.meeting(meeting_id)
    if meeting is None:
        abort(404)
    return meeting, catalog.segments(meeting_id)


def run_search(q: SearchQuery) -> list[Any]:
    s = services()
    s.throttle()
    return s.reader().index.search(q)


@api.get("/api/search")
def api_search() -> Response:
    q = query_from_args()
    hits = run_search(q)
    if request.args.get("format") == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=HIT_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for hit in hits:
            writer.writerow({k: csv_cell(v) for k, v in hit.to_dict().items()})
        return Response(
            out.getvalue(),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="onrecord-search.csv"'},
        )
    return jsonify({"query": q.text, "results": [h.to_dict() for h in hits]})


def run_timeline(q: SearchQuery, per: str | None = None, throttle: bool = True) -> Any:
    """How many passages match, per month (or meeting) and body."""
    from search.timeline import timeline

    s = services()
    if throttle:
        s.throttle()
    return timeline(s.reader().index, q, per)


@api.get("/api/search/timeline")
def api_timeline() -> Response:
    q = query_from_args()
    per = request.args.get("per", "month")
    if per not in ("month", "meeting"):
        raise OnRecordError("per must be month or meeting, e.g. per=month")
    return jsonify(run_timeline(q, per).to_dict())


@api.get("/api/meetings")
def api_meetings() -> Response:
    found = services().reader().catalog.meetings(body=request.args.get("body") or None)
    return jsonify({"meetings": [m.summary() for m in found]})


@api.get("/api/meetings/<int:meeting_id>")
def api_meeting(meeting_id: int) -> Response:
    meeting, segments = meeting_with_segments(meeting_id)
    return jsonify({"meeting": meeting.summary(), "segments": [seg.to_dict() for seg in segments]})


@api.get("/meetings/<int:meeting_id>/transcript.<fmt>")
def transcript_export(meeting_id: int, fmt: str) -> Response:
    if fmt not in FORMATS:
        abort(404)
    meeting, segments = meeting_with_segments(meeting_id)
    mimetypes = {
        "txt": "text/plain",
        "vtt": "text/vtt",
        "srt": "application/x-subrip",
        "json": "application/json",
    }
    return Response(
        render(meeting, segments, fmt, services().reader().catalog.chapters.chapters(meeting_id)),
        mimetype=mimetypes[fmt],
        headers={"Content-Disposition": f'attachment; filename="meeting-{meeting_id}.{fmt}"'},
    )


@api.get("/api/openapi.json")
def openapi() -> Response:
    return jsonify(OPENAPI)
