"""Pages and the JSON API. They read through ``catalog`` and ``search`` only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request, send_file
from werkzeug.exceptions import HTTPException

from catalog import OnRecordError
from catalog.formats import clock
from search import SearchQuery
from search.links import player_link
from web import Services

bp = Blueprint("web", __name__)


def services() -> Services:
    return current_app.extensions["onrecord"]


def _query_from_args() -> SearchQuery:
    args = request.args
    limit = args.get("limit", "10")
    if not limit.isdigit():
        raise OnRecordError("limit must be a whole number between 1 and 100")
    meeting = args.get("meeting")
    return SearchQuery(
        args.get("q", ""),
        body=args.get("body") or None,
        since=args.get("since") or None,
        until=args.get("until") or None,
        speaker=args.get("speaker") or None,
        meeting_id=int(meeting) if meeting and meeting.isdigit() else None,
        limit=int(limit),
    )


@bp.app_template_filter("clock")
def _clock(seconds: float) -> str:
    return clock(seconds or 0)[:8]


@bp.get("/")
def search_page() -> str:
    s = services()
    hits: list[Any] = []
    error = None
    if request.args.get("q", "").strip():
        try:
            with s.lock:
                hits = s.index.search(_query_from_args())
        except OnRecordError as exc:
            error = str(exc)
    with s.lock:
        bodies = s.catalog.bodies()
    return render_template(
        "search.html",
        hits=hits,
        error=error,
        args=request.args,
        bodies=bodies,
        player_link=player_link,
        base_url="",
    )


@bp.get("/meetings")
def meetings_page() -> str:
    s = services()
    with s.lock:
        found = s.catalog.meetings(body=request.args.get("body") or None)
    return render_template("meetings.html", meetings=found)


@bp.get("/meetings/<int:meeting_id>")
def meeting_page(meeting_id: int) -> str:
    s = services()
    with s.lock:
        meeting = s.catalog.meeting(meeting_id)
        if meeting is None:
            abort(404)
        segments = s.catalog.segments(meeting_id)
    return render_template("meeting.html", meeting=meeting, segments=segments)


@bp.get("/meetings/<int:meeting_id>/audio")
def meeting_audio(meeting_id: int) -> Response:
    s = services()
    with s.lock:
        meeting = s.catalog.meeting(meeting_id)
    if meeting is None or not meeting.audio_path or not Path(meeting.audio_path).exists():
        abort(404)
    # conditional=True answers Range requests, so the player can seek.
    return send_file(meeting.audio_path, mimetype="audio/mp4", conditional=True)


@bp.get("/api/search")
def api_search() -> Response:
    s = services()
    q = _query_from_args()
    with s.lock:
        hits = s.index.search(q)
    return jsonify({"query": q.text, "results": [h.to_dict() for h in hits]})


@bp.get("/api/meetings")
def api_meetings() -> Response:
    s = services()
    with s.lock:
        found = s.catalog.meetings(body=request.args.get("body") or None)
    return jsonify({"meetings": [m.summary() for m in found]})


@bp.get("/api/meetings/<int:meeting_id>")
def api_meeting(meeting_id: int) -> Response:
    s = services()
    with s.lock:
        meeting = s.catalog.meeting(meeting_id)
        if meeting is None:
            abort(404)
        segments = s.catalog.segments(meeting_id)
    return jsonify({"meeting": meeting.summary(), "segments": [seg.to_dict() for seg in segments]})


@bp.get("/alerts/<int:saved_id>/feed.atom")
def alert_feed(saved_id: int) -> Response:
    """A saved search's alerts as an Atom feed, newest first."""
    from search.alerts import AlertBook
    from search.notify import summary

    s = services()
    with s.lock:
        book = AlertBook(s.catalog.conn)
        saved = book.get(saved_id)
        if saved is None:
            abort(404)
        alerts = book.for_search(saved_id)
    updated = (alerts[0].created_at if alerts else saved.created_at).replace(" ", "T") + "Z"
    xml = render_template(
        "feed.xml", saved=saved, alerts=alerts, summary=summary, updated=updated, feed_url=request.base_url
    )
    return Response(xml, mimetype="application/atom+xml")


@bp.app_errorhandler(OnRecordError)
def user_error(exc: OnRecordError) -> tuple[Any, int]:
    if request.path.startswith("/api/"):
        return jsonify({"error": str(exc)}), 400
    return render_template("error.html", message=str(exc), code=400), 400


@bp.app_errorhandler(HTTPException)
def http_error(exc: HTTPException) -> tuple[Any, int]:
    code = exc.code or 500
    message = "Not found" if code == 404 else (exc.description or exc.name)
    if request.path.startswith("/api/"):
        return jsonify({"error": message}), code
    return render_template("error.html", message=message, code=code), code


@bp.app_errorhandler(Exception)
def server_error(exc: Exception) -> tuple[Any, int]:
    current_app.logger.exception("unhandled error")
    message = "Something went wrong on our side; the error was logged."
    if request.path.startswith("/api/"):
        return jsonify({"error": message}), 500
    return render_template("error.html", message=message, code=500), 500
