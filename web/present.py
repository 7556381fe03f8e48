"""Turning hits into what a reader sees: highlighted quotes and citations."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

from catalog.formats import clock
from catalog.types import Hit

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
