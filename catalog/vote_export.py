"""Votes for other civic tools: the Open Civic Data vote event as JSON,
and a flat CSV with one row per member's vote."""

from __future__ import annotations

import csv
import io
from typing import Any

from catalog.votes import VOTE_FIELDS

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
            writer.writerow(row | {"voter": member["name"], "vote": member["vote"]})
    return out.getvalue()
