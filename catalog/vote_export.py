"""The shapes of a vote: one event from its two sources, the JSON of
``votes --json``, the Open Civic Data vote event, and a flat CSV with one
row per member's vote."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from catalog.formats import csv_cell
from catalog.types import Meeting, VoteEvent


def merge(official: VoteEvent, heard: VoteEvent | None) -> VoteEvent:
    """One event from a Legistar vote and the detected vote it matched:
    the record's result, counts and members, the recording's second and
    the words of the motion as put, and every difference kept."""
    if heard is None or official.source != "legistar":
        return official
    notes = list(official.disagreements) + list(heard.disagreements)
    if heard.result != "unknown" and heard.result != official.result:
        notes.append(f"Legistar records {official.result}; the recording announces {heard.result}")
    for option in ("yes", "no", "abstain", "absent"):
        said, recorded = getattr(heard, option), getattr(official, option)
        if said is not None and recorded is not None and said != recorded:
            notes.append(f"{option}: Legistar records {recorded}, the recording announces {said}")
    heard_by_person = {m.person_id: m for m in heard.members if m.person_id is not None}
    for m in official.members:
        spoken = heard_by_person.get(m.person_id)
        if spoken and spoken.vote not in (m.vote, "unclear"):
            notes.append(f"{m.person or m.name}: Legistar records {m.vote}, the recording has {spoken.vote}")
    event = replace(
        official,
        motion=heard.motion or official.motion,
        kind=heard.kind,
        start=heard.start,
        end=heard.end,
        source="both",
        confidence=max(official.confidence, heard.confidence),
        members=official.members or heard.members,
        counted=heard.counted,
        disagreements=notes,
        twin_id=heard.id,
    )
    return event


# The keys of ``votes --json``, in order (the CLI and API contract).
VOTE_FIELDS = (
    "id",
    "meeting_id",
    "meeting_title",
    "meeting_date",
    "body",
    "agenda_item",
    "motion",
    "kind",
    "result",
    "yes",
    "no",
    "abstain",
    "absent",
    "start",
    "end",
    "members",
    "source",
    "url",
)


def vote_summary(
    event: VoteEvent, meeting: Meeting, link: Callable[[Meeting, float], str]
) -> dict[str, object]:
    """The shape ``votes --json`` and ``GET /api/votes`` print."""
    return {
        "id": event.id,
        "meeting_id": meeting.id,
        "meeting_title": meeting.title,
        "meeting_date": meeting.date,
        "body": meeting.body,
        "agenda_item": event.agenda_item,
        "motion": event.motion,
        "kind": event.kind,
        "result": event.result,
        "yes": event.yes,
        "no": event.no,
        "abstain": event.abstain,
        "absent": event.absent,
        "start": event.start,
        "end": event.end,
        "members": [{"name": m.person or m.name, "vote": m.vote} for m in event.members],
        "source": event.source,
        "url": link(meeting, event.start or 0.0),
    }


OCD_RESULT = {"passed": "pass", "failed": "fail", "unknown": "unknown"}
# A row per member's vote: the vote's own columns, then the voter's.
CSV_COLUMNS = [
    "vote_id",
    *(f for f in VOTE_FIELDS if f not in ("id", "members", "meeting_title")),
    "voter",
    "vote",
]


def ocd_vote_event(vote: dict[str, Any]) -> dict[str, Any]:
    """One vote (as ``votes --json`` prints it) in the shape of an Open
    Civic Data VoteEvent: motion, result, counts by option, votes by voter."""
    return {
        "identifier": f"onrecord-vote-{vote['id']}",
        "motion_text": vote["motion"],
        "motion_classification": [vote["kind"]],
        "start_date": vote["meeting_date"],
        "result": OCD_RESULT[vote["result"]],
        "organization": vote["body"],
        "bill": {"identifier": vote["agenda_item"]} if vote["agenda_item"] else None,
        "counts": [
            {"option": option, "value": vote[option]}
            for option in ("yes", "no", "abstain", "absent")
            if vote[option] is not None
        ],
        "votes": [{"option": m["vote"], "voter_name": m["name"]} for m in vote["members"]],
        "sources": [{"url": vote["url"], "note": f"recording at {vote['start']} s" if vote["start"] else ""}],
        "extras": {"onrecord_source": vote["source"], "start": vote["start"], "end": vote["end"]},
    }


def votes_csv(votes: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for vote in votes:
        row = {k: vote.get(k) for k in CSV_COLUMNS} | {"vote_id": vote["id"]}
        for member in vote["members"] or [{"name": "", "vote": ""}]:
            cells = row | {"voter": member["name"], "vote": member["vote"]}
            writer.writerow({k: csv_cell(v) for k, v in cells.items()})
    return out.getvalue()
