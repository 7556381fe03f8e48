"""Votes on the web: the /votes page, a member's page, /api/votes (the
same JSON as ``onrecord votes --json``) with its exports, and the helpers
the meeting and search pages use to show votes in place."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request

from catalog import Meeting, OnRecordError
from catalog.formats import clock
from catalog.vote_export import ocd_vote_event, vote_summary, votes_csv
from catalog.votes import VoteFilter, vote_filter
from search.links import deep_link, player_link
from web import Services
from web.api import whole_number

votes = Blueprint("votes", __name__)
# A search hit this close before a vote leads into it ("voted 7-2 at 1:02:13").
LEADS_INTO = 120.0


def services() -> Services:
    return current_app.extensions["onrecord"]


def link(meeting: Meeting, start: float) -> str:
    base = services().settings.base_url
    if not meeting.audio_path:
        return player_link(meeting.id, start, base)
    return deep_link(meeting.source_url, start, meeting.id, base)


def vote_filter_from_args() -> VoteFilter:
    """The CLI's filters from a request; a bad one is a 400 that says why."""
    args = request.args
    meeting = args.get("meeting")
    return vote_filter(
        services().reader().catalog,
        None if meeting is None else whole_number("meeting", meeting, "a meeting id"),
        args.get("body") or None,
        args.get("member") or None,
        args.get("since") or None,
        args.get("until") or None,
        args.get("result") or None,
    )


def listed(where: VoteFilter) -> list[tuple[dict[str, Any], Any]]:
    """Each vote as the API gives it, beside the event it came from (whose
    disagreements and members' person ids the pages show)."""
    found = services().reader().catalog.votes.listing(where)
    return [(vote_summary(e, m, link), e) for e, m in found]


def for_page(vote: dict[str, Any], event: Any) -> dict[str, Any]:
    """The API's vote with the notes and member links a page shows."""
    people = [m.person_id for m in event.members]
    members = [dict(m, person_id=pid) for m, pid in zip(vote["members"], people, strict=True)]
    return dict(vote, members=members, notes=event.disagreements, agenda_item_id=event.agenda_item_id)


@votes.get("/api/votes")
def api_votes() -> Response:
    found = [v for v, _ in listed(vote_filter_from_args())]
    fmt = request.args.get("format", "json")
    if fmt == "csv":
        return Response(
            votes_csv(found),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="onrecord-votes.csv"'},
        )
    if fmt == "ocd":
        return Response(json.dumps([ocd_vote_event(v) for v in found], indent=2), mimetype="application/json")
    if fmt != "json":
        raise OnRecordError("format must be json, csv or ocd")
    return jsonify({"votes": found})


@votes.get("/api/votes/<int:vote_id>")
def api_vote(vote_id: int) -> Response:
    """One vote with what the short listing leaves out: where the sources,
    or the announced and the counted counts, disagree."""
    found = services().reader().catalog.votes.get(vote_id)
    if found is None:
        abort(404)
    event, meeting = found
    return jsonify(
        {
            "vote": vote_summary(event, meeting, link),
            "counted": event.counted,
            "disagreements": event.disagreements,
            "confidence": event.confidence,
        }
    )


@votes.get("/votes")
def votes_page() -> str:
    error, found = None, []
    try:
        found = listed(vote_filter_from_args())
    except OnRecordError as exc:
        error = str(exc)
    bodies = services().reader().catalog.bodies()
    shown = [for_page(v, e) for v, e in found]
    return render_template("votes.html", votes=shown, error=error, args=request.args, bodies=bodies)


@votes.get("/persons/<int:person_id>")
def person_page(person_id: int) -> str:
    """Who someone is (their seats), the meetings they spoke in, what they
    said (searchable: the real search, filtered to their passages) and how
    they voted, each linked to the second."""
    from search import SearchQuery
    from web.api import run_search
    from web.present import citation, highlight

    catalog = services().reader().catalog
    book = catalog.persons
    person = book.person(person_id)
    if person is None:
        abort(404)
    events = catalog.votes.listing(VoteFilter(person_ids=(person_id,)))
    rows = []
    for event, meeting in events:
        mine = next((m for m in event.members if m.person_id == person_id), None)
        rows.append({"vote": vote_summary(event, meeting, link), "mine": mine.vote if mine else "unclear"})
    by_meeting: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_meeting.setdefault(row["vote"]["meeting_id"], []).append(row)
    spoke = book.spoken_in(person)
    q = request.args.get("q", "").strip()
    hits, error = [], None
    if q:
        # Their passages carry the name they were given in each meeting.
        names = sorted({name for _, name, _ in spoke if name}, key=lambda n: n != person.name)
        try:
            if not names:
                raise OnRecordError(
                    f"No passages are named as {person.name}'s yet, so there is nothing to search"
                )
            hits = run_search(SearchQuery(q, speaker=names[0], limit=20))
        except OnRecordError as exc:
            error = str(exc)
    return render_template(
        "person.html",
        person=person,
        seats=book.memberships(person_id),
        spoke=spoke,
        meetings=list(by_meeting.values())[::-1],
        passages=[(m, start, text, link(m, start)) for m, start, text in book.passages(person)],
        q=q,
        hits=hits,
        error=error,
        highlight=highlight,
        citation=citation,
    )


def meeting_votes(meeting_id: int, starts: list[float]) -> tuple[dict[int, list[dict[str, Any]]], list[Any]]:
    """A meeting's votes placed in its transcript: by the index of the line
    in which each question is put, to follow that line (``starts`` are the
    lines' start times), and
    those with no second (a Legistar record without a recording)."""
    placed: dict[int, list[dict[str, Any]]] = {}
    loose = []
    for found, event in listed(VoteFilter(meeting_id=meeting_id)):
        vote = for_page(found, event)
        if vote["start"] is None or not starts:
            loose.append(vote)
            continue
        line = max([i for i, s in enumerate(starts) if s <= vote["start"] + 0.05] or [0])
        placed.setdefault(line, []).append(vote)
    return placed, loose


def votes_near_hits(hits: list[Any]) -> list[dict[str, Any] | None]:
    """For each search hit, the vote it falls inside or just before."""
    book = services().reader().catalog.votes
    cache: dict[int, list[tuple[Any, Any]]] = {}
    out: list[dict[str, Any] | None] = []
    for hit in hits:
        if hit.meeting_id not in cache:
            cache[hit.meeting_id] = book.listing(VoteFilter(meeting_id=hit.meeting_id))
        near = None
        for event, meeting in cache[hit.meeting_id]:
            if event.start is None or event.end is None:
                continue
            if event.start - LEADS_INTO <= hit.start <= event.end:
                counts = "-".join(str(c) for c in (event.yes, event.no) if c is not None)
                verb = {"passed": "passed", "failed": "failed"}.get(event.result, "voted")
                near = {
                    "label": f"{'voted ' + counts if counts else verb} at {clock(event.start)[:8]}",
                    "href": f"/meetings/{meeting.id}#vote-{event.id}",
                    "motion": event.motion,
                }
                break
        out.append(near)
    return out
