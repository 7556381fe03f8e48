"""The pages reporters use: search, meetings, a meeting with its player."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request, send_file, url_for

from catalog import OnRecordError
from catalog.formats import clock
from search import SearchQuery
from search.links import player_link
from web import Services
from web.api import meeting_with_segments, query_from_args, run_search, run_timeline, search_args
from web.chart import chart
from web.feed import atom_feed
from web.present import citation, highlight, table_of_contents

pages = Blueprint("web", __name__)


def services() -> Services:
    return current_app.extensions["onrecord"]


@pages.app_template_filter("clock")
def _clock(seconds: float) -> str:
    return clock(seconds or 0)[:8]


@pages.get("/")
def search_page() -> str:
    s = services()
    hits: list[Any] = []
    error = None
    query = None
    found = None
    if request.args.get("q", "").strip():
        try:
            query = query_from_args()
            hits = run_search(query)
            found = run_timeline(query, throttle=False)
        except OnRecordError as exc:
            error = str(exc)
    args = search_args()

    def narrow(since: str, until: str, body: str) -> str:
        kept = {k: v for k, v in args.items() if k not in ("page", "since", "until", "body")}
        return url_for("web.search_page", **kept, since=since, until=until, body=body)

    bodies = s.reader().catalog.bodies()
    page = (query.offset // query.limit + 1) if query else 1
    from web.votes import votes_near_hits

    return render_template(
        "search.html",
        near_votes=votes_near_hits(hits),
        hits=hits,
        error=error,
        args=request.args,
        # Links that carry the search on carry only its own arguments: any
        # other (endpoint=x, _method=POST) would be read by url_for itself.
        search_args=args,
        bodies=bodies,
        page=page,
        timeline=found,
        chart=chart(found, narrow) if found else None,
        limit=query.limit if query else 10,
        more=bool(query and len(hits) == query.limit),
        play=lambda h: player_link(h.meeting_id, h.start, "").replace(
            "#", f"?hit={h.start:.1f}-{h.end:.1f}#"
        ),
        highlight=highlight,
        citation=citation,
    )


@pages.get("/meetings")
def meetings_page() -> str:
    s = services()
    body = request.args.get("body") or None
    catalog = s.reader().catalog
    found = catalog.meetings(body=body)
    bodies = catalog.bodies()
    working = [
        {"meeting": m, "done": catalog.transcribed_seconds(m.audio_hash) if m.audio_hash else 0.0}
        for m in found
        if m.status in ("queued", "transcribing", "indexing")
    ]
    failed = [m for m in found if m.status == "failed"]
    return render_template(
        "meetings.html",
        meetings=found,
        bodies=bodies,
        body=body,
        working=working,
        failed=failed,
        last_run=catalog.last_run(),
    )


def _span(raw: str | None) -> tuple[float, float] | None:
    """``?hit=START-END`` from a search result."""
    try:
        start, end = (float(x) for x in (raw or "").split("-", 1))
        return start, end
    except ValueError:
        return None


@pages.get("/meetings/<int:meeting_id>")
def meeting_page(meeting_id: int) -> str:
    s = services()
    meeting, segments = meeting_with_segments(meeting_id)
    speakers = s.reader().catalog.speakers.speakers(meeting_id)
    named = next((sp for sp in speakers if sp.label == request.args.get("named")), None)
    q = request.args.get("q", "").strip()
    spans = [span] if (span := _span(request.args.get("hit"))) else []
    hits: list[Any] = []
    error = None
    if q:
        try:
            hits = run_search(SearchQuery(q, meeting_id=meeting_id, limit=20))
            spans += [(h.start, h.end) for h in hits]
        except OnRecordError as exc:
            error = str(exc)
    # Only a query that passed the checks marks words: a raw oversized one
    # would make every line of the transcript cost as much as the query.
    marked = q if q and error is None else ""
    lines = [
        {
            "segment": seg,
            "hit": any(seg.start < end and seg.end > start for start, end in spans),
            "doubtful": seg.doubtful(),
        }
        for seg in segments
    ]
    from web.votes import meeting_votes

    votes_at, unplaced_votes = meeting_votes(meeting_id, [seg.start for seg in segments])
    every_vote = [v for placed in votes_at.values() for v in placed] + unplaced_votes
    return render_template(
        "meeting.html",
        chapters=table_of_contents(s.reader().catalog.chapters.chapters(meeting_id), segments, every_vote),
        votes_at=votes_at,
        unplaced_votes=unplaced_votes,
        meeting=meeting,
        lines=lines,
        hits=hits,
        q=q,
        marked=marked,
        error=error,
        highlight=highlight,
        has_audio=bool(meeting.audio_path),
        speakers=speakers,
        named=named,
        # Read-only by default: without a configured token there is nothing to offer.
        can_write=s.can_write,
    )


@pages.get("/meetings/<int:meeting_id>/audio")
def meeting_audio(meeting_id: int) -> Response:
    meeting = services().reader().catalog.meeting(meeting_id)
    if meeting is None or not meeting.audio_path or not Path(meeting.audio_path).exists():
        abort(404)
    # conditional=True answers Range requests, so the player can seek.
    return send_file(meeting.audio_path, mimetype="audio/mp4", conditional=True, max_age=3600)


@pages.get("/alerts/<string(maxlength=64):feed_token>/feed.atom")
def alert_feed(feed_token: str) -> Response:
    """A saved search's alerts as an Atom feed, newest first. The address
    holds the search's unguessable feed token: it is the feed's only key."""
    from search.alerts import alerts_book

    s = services()
    book = alerts_book(s.reader().catalog)
    saved = book.by_feed_token(feed_token)
    if saved is None:
        abort(404)
    xml = atom_feed(saved, book.for_search(saved.id), feed_url(saved.feed_token))
    return Response(xml, mimetype="application/atom+xml")


def feed_url(feed_token: str) -> str:
    """The feed's address on ``base_url``, never on the request's Host
    header, which any client may write."""
    base = services().settings.base_url.rstrip("/")
    return base + url_for("web.alert_feed", feed_token=feed_token)
