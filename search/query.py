"""A search request, and the translation of what a user typed into a safe
FTS5 expression.

Users type quotes, parentheses, ``287(g)``, ``won't`` and stray operators.
None of that may ever reach FTS5 raw: every term is re-quoted here, so the
MATCH expression is always valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from catalog.errors import QueryError
from catalog.types import parse_date

MAX_QUERY_CHARS = 500
TOKEN = re.compile(r"\w+", re.UNICODE)
PART = re.compile(r'"([^"]*)"|(\S+)')
OPERATORS = {"AND", "OR", "NOT"}


@dataclass
class SearchQuery:
    text: str
    body: str | None = None
    since: str | None = None
    until: str | None = None
    speaker: str | None = None
    meeting_id: int | None = None
    limit: int = 10
    offset: int = 0
    order: str = "relevance"  # or "date": newest meetings first

    def __post_init__(self) -> None:
        self.text = (self.text or "").strip()
        if not self.text:
            raise QueryError("Empty query; type some words to search for")
        if len(self.text) > MAX_QUERY_CHARS:
            raise QueryError(f"Query is {len(self.text)} characters; keep it under {MAX_QUERY_CHARS}")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value:
                setattr(self, name, parse_date(value, f"--{name}"))
        if self.since and self.until and self.since > self.until:
            raise QueryError(f"--since {self.since} is after --until {self.until}; swap them")
        if not 1 <= self.limit <= 100:
            raise QueryError("--limit must be between 1 and 100")
        if self.order not in ("relevance", "date"):
            raise QueryError(f"order {self.order!r} is unknown; use relevance or date")
        if not 0 <= self.offset <= 1000:
            raise QueryError("The page is out of range; results stop after 1000")

    @property
    def has_filters(self) -> bool:
        return any([self.body, self.since, self.until, self.speaker, self.meeting_id])


def _term(raw: str, phrase: bool) -> str | None:
    prefix = raw.endswith("*") and not phrase
    tokens = TOKEN.findall(raw)
    if not tokens:
        return None
    quoted = '"' + " ".join(tokens) + '"'
    return quoted + "*" if prefix and len(tokens) == 1 else quoted


def fts_expression(text: str) -> str | None:
    """Build an FTS5 MATCH string: quoted phrases and words, optional
    ``word*`` prefixes and AND/OR/NOT between terms. Plain words are OR-ed so
    that a natural sentence still finds passages using only some of its
    words; BM25 ranks passages with more of them first."""
    items: list[str] = []
    explicit = False
    for match in PART.finditer(text):
        phrase, word = match.group(1), match.group(2)
        if word in OPERATORS:
            if items and items[-1] not in OPERATORS:
                items.append(word)
                explicit = True
            continue
        term = _term(phrase if phrase is not None else word, phrase is not None)
        if term:
            items.append(term)
    while items and items[-1] in OPERATORS:
        items.pop()
    if not items:
        return None
    joiner = " AND " if explicit else " OR "
    out = [items[0]]
    for prev, item in zip(items, items[1:], strict=False):
        out.append(f" {item}" if item in OPERATORS or prev in OPERATORS else joiner + item)
    return "".join(out).strip()
