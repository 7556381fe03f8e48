"""Turning hits into what a reader sees: highlighted quotes and citations."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup, escape

from catalog.formats import clock
from catalog.types import Chapter, Hit, Segment

TOKEN = re.compile(r"\w+")
STOPWORDS = {
    "a",
    "an",
    "and",
    "are",
    "as",
    "at",
    "be",
    "by",
    "for",
    "from",
    "has",
    "he",
    "in",
    "is",
    "it",
    "its",
    "of",
    "on",
    "or",
    "not",
    "that",
    "the",
    "to",
    "was",
    "were",
    "will",
    "with",
    "this",
    "they",
    "we",
    "you",
}


def highlight(text: str, query: str) -> Markup:
    """Escape ``text`` and wrap the words the query asked for in <mark>.
    A word matches when it starts with a query word of three letters or more
    ("agent" marks "agents"), or equals a shorter one."""
    terms = {t for t in (w.lower() for w in TOKEN.findall(query)) if t not in STOPWORDS}
    out: list[str] = []
    position = 0
    for match in TOKEN.finditer(text):
        word = match.group(0).lower()
        if any(word == t or (len(t) >= 3 and word.startswith(t)) for t in terms):
            out.append(str(escape(text[position : match.start()])))
            out.append(f"<mark>{escape(match.group(0))}</mark>")
            position = match.end()
    out.append(str(escape(text[position:])))
    return Markup("".join(out))


def citation(hit: Hit) -> dict[str, str]:
    """The same citation as plain text and as Markdown."""
    when = f"{hit.meeting_date or 'undated'}, at {clock(hit.start)[:8]}"
    who = f"{hit.speaker}, " if hit.speaker else ""
    plain = f"“{hit.text}” — {who}{hit.body}, {hit.meeting_title}, {when}. {hit.url}"
    speaker = f"**{hit.speaker}**, " if hit.speaker else ""
    markdown = f"> {hit.text}\n>\n> — {speaker}{hit.body}, [{hit.meeting_title}, {when}]({hit.url})"
    return {"plain": plain, "markdown": markdown}


def table_of_contents(
    chapters: list[Chapter], segments: list[Segment], votes: list[dict[str, Any]]
) -> list[dict]:
    """A meeting's chapters as its page lists them: each with who spoke in
    it (most talk first) and the result of any vote taken in it."""
    out = []
    for n, chapter in enumerate(chapters, 1):
        talk: dict[str, float] = {}
        start, end = chapter.start, chapter.end
        if start is not None:
            for seg in segments:
                if seg.speaker and seg.start >= start and (end is None or seg.start < end):
                    talk[seg.speaker] = talk.get(seg.speaker, 0.0) + seg.end - seg.start
        taken = [
            v
            for v in votes
            if v["start"] is not None
            and start is not None
            and start - 0.5 <= v["start"] < (end or start) + 0.5
        ]
        if chapter.agenda_item_id is not None:
            taken += [
                v for v in votes if v["start"] is None and v.get("agenda_item_id") == chapter.agenda_item_id
            ]
        out.append(
            {
                "n": n,
                "start": start,
                "end": end,
                "title": chapter.title,
                "kind": chapter.kind,
                "speakers": sorted(talk, key=lambda name: -talk[name])[:6],
                "votes": taken,
            }
        )
    return out
