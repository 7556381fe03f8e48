"""A Legistar vote finds its second in the recording through the detected
vote on the same item: the item's matter file, number or title words heard
around the detected vote, in agenda order."""

from __future__ import annotations

import re

from catalog.types import AgendaItem, VoteEvent
from minutes.text import fold

STOP = {
    "the",
    "of",
    "and",
    "a",
    "an",
    "to",
    "for",
    "in",
    "on",
    "by",
    "ordinance",
    "resolution",
    "related",
}


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", fold(text)) if w not in STOP and len(w) > 1}


def _score(item: AgendaItem | None, official: VoteEvent, heard_text: str) -> float:
    heard = _words(heard_text)
    if not heard:
        return 0.0
    score = 0.0
    if item is not None:
        for ident in filter(None, [item.matter_file, item.matter_name]):
            digits = re.sub(r"\D", "", ident)
            if digits and digits in re.sub(r"\D", "", heard_text):
                score += 2.0
        title = _words(item.title)
        if title:
            score += len(title & heard) / len(title)
    motion = _words(official.motion)
    if motion:
        score += 0.5 * len(motion & heard) / len(motion)
    return score


def match_legistar(
    official: list[VoteEvent],
    detected: list[VoteEvent],
    items: dict[int, AgendaItem],
    heard_text: dict[int, str],
) -> dict[int, int | None]:
    """Pairs each Legistar vote (by id) with a detected vote (by id), or
    with None. ``heard_text`` is what was said around each detected vote.
    Pairs keep the agenda's order: a vote later on the agenda is never
    matched to an earlier moment than one before it."""
    ordered = sorted(official, key=lambda e: items[e.agenda_item_id].seq if e.agenda_item_id in items else 0)
    times = sorted(detected, key=lambda e: e.start or 0.0)
    pairs: dict[int, int | None] = {}
    cursor = 0
    for vote in ordered:
        assert vote.id is not None
        item = items.get(vote.agenda_item_id or -1)
        best, best_at, best_score = None, cursor, 0.0
        for k in range(cursor, len(times)):
            score = _score(item, vote, heard_text.get(times[k].id or -1, ""))
            if score > best_score:
                best, best_at, best_score = times[k], k, score
        if best is not None and best_score >= 0.5:
            pairs[vote.id] = best.id
            cursor = best_at + 1
        else:
            pairs[vote.id] = None
    return pairs
