"""A search request, and the translation of what a user typed into a safe
FTS5 expression.

Users type quotes, parentheses, ``287(g)``, ``won't`` and stray operators.
None of that may ever reach FTS5 raw: every term is re-quoted here, so the
MATCH expression is always valid.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from catalog.errors import OnRecordError, QueryError
from catalog.types import parse_date

MAX_QUERY_CHARS = 500
# A search's cost grows with its terms, and most with prefixes: "a*" reads
# the postings of every word starting with a. Real queries stay well inside
# these (a remark described from memory ran to 33 words in the judged set);
# 166 prefix terms took 25 times a normal search.
MAX_TERMS = 48
MAX_PREFIX_TERMS = 4
TOKEN = re.compile(r"\w+", re.UNICODE)
PART = re.compile(r'"([^"]*)"|(\S+)')
OPERATORS = {"AND", "OR", "NOT"}
# Who is speaking, by the meeting's chapters: residents during a
# public-comment period, or members and staff the rest of the time.
SECTIONS = ("public_comment", "members")


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
    section: str | None = None  # one of SECTIONS

    def __post_init__(self) -> None:
        self.text = (self.text or "").strip()
        if not self.text:
            raise QueryError("Empty query; type some words to search for")
        if len(self.text) > MAX_QUERY_CHARS:
            raise QueryError(f"Query is {len(self.text)} characters; keep it under {MAX_QUERY_CHARS}")
        check_terms(self.text)
        for name in ("since", "until"):
            value = getattr(self, name)
            if value:
                try:
                    setattr(self, name, parse_date(value, f"--{name}"))
                except OnRecordError as exc:  # a search request is refused with one kind of error
                    raise QueryError(str(exc)) from None
        if self.since and self.until and self.since > self.until:
            raise QueryError(f"--since {self.since} is after --until {self.until}; swap them")
        if not 1 <= self.limit <= 100:
            raise QueryError("--limit must be between 1 and 100")
        if self.order not in ("relevance", "date"):
            raise QueryError(f"order {self.order!r} is unknown; use relevance or date")
        if self.section is not None and self.section not in SECTIONS:
            raise QueryError(f"section {self.section!r} is unknown; use {' or '.join(SECTIONS)}")
        if not 0 <= self.offset <= 1000:
            raise QueryError("The page is out of range; results stop after 1000")

    @property
    def has_filters(self) -> bool:
        return any([self.body, self.since, self.until, self.speaker, self.meeting_id])


# Words that carry no topic. Dropped from OR-ed natural-language queries
# only: BM25 gives every OR-ed term a say, and rare scaffolding such as
# "summarize" or "discussion" otherwise pulls in passages that merely use it.
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just let me more most my myself no nor not of off on once only or other ought our
    ours ourselves out over own same shall she should so some such than that the their theirs
    them themselves then there these they this those through to too under until up upon very
    was we were what when where which while who whom why will with would you your yours
    yourself yourselves s t""".split()
)
# How people ask about a meeting rather than what it was about.
SCAFFOLDING = frozenset(
    """summarize summarise summary discuss discussed discussing discussion discussions talk talked
    talking opinion opinions think thought thoughts say said saying mention mentioned mentions
    regarding""".split()
)
NOISE = STOPWORDS | SCAFFOLDING


def _term(raw: str, phrase: bool) -> str | None:
    prefix = raw.endswith("*") and not phrase
    tokens = TOKEN.findall(raw)
    if not tokens:
        return None
    quoted = '"' + " ".join(tokens) + '"'
    return quoted + "*" if prefix and len(tokens) == 1 else quoted


def _parts(text: str) -> list[tuple[str, str]]:
    """What the user typed as (FTS5 item, kind) pairs. Kinds: ``op`` (an
    operator between two terms), ``word`` (a plain word), ``phrase`` (typed
    in quotes), ``prefix`` (``word*``) and ``compound`` (``287(g)``)."""
    items: list[tuple[str, str]] = []
    for match in PART.finditer(text):
        phrase, word = match.group(1), match.group(2)
        if word in OPERATORS:
            # An operator only counts between two terms.
            if items and items[-1][1] != "op":
                items.append((word, "op"))
            continue
        term = _term(phrase if phrase is not None else word, phrase is not None)
        if term is None:
            continue
        if phrase is not None:
            kind = "phrase"
        elif term.endswith("*"):
            kind = "prefix"
        else:
            kind = "compound" if " " in term else "word"
        items.append((term, kind))
    while items and items[-1][1] == "op":
        items.pop()
    return items


def check_terms(text: str) -> None:
    """Refuse a query whose terms would make one search cost many."""
    kinds = [kind for _, kind in _parts(text) if kind != "op"]
    prefixes = kinds.count("prefix")
    if prefixes > MAX_PREFIX_TERMS:
        raise QueryError(
            f"The query has {prefixes} word* prefixes; use at most {MAX_PREFIX_TERMS}, or whole words"
        )
    if len(kinds) > MAX_TERMS:
        raise QueryError(f"The query has {len(kinds)} terms; use at most {MAX_TERMS}")


def _is_noise(term: str) -> bool:
    return term.strip('"').lower() in NOISE


Expand = Callable[[str], list[str]]


def _widen(parts: list[tuple[str, str]], expand: Expand | None) -> list[tuple[str, str]]:
    """Each plain word or compound OR-ed with its spellings in the index
    (``expand`` maps an FTS5 item to other items, see search/variants.py)."""
    if expand is None:
        return parts
    out = []
    for item, kind in parts:
        others = expand(item) if kind in ("word", "compound") else []
        out.append(("(" + " OR ".join([item, *others]) + ")" if others else item, kind))
    return out


def or_terms(text: str, expand: Expand | None = None) -> list[str] | None:
    """The OR-ed terms of a natural-language query, as ``fts_expression``
    joins them; None when the user typed operators, phrases or prefixes,
    whose meaning must be kept exactly."""
    if is_strict(text) or any(kind == "op" for _, kind in _parts(text)):
        return None
    parts = _parts(text)
    kept = [p for p in parts if not (p[1] == "word" and _is_noise(p[0]))] or parts
    return [item for item, _ in _widen(kept, expand)]


def fts_expression(text: str, expand: Expand | None = None) -> str | None:
    """Build an FTS5 MATCH string: quoted phrases and words, optional
    ``word*`` prefixes and AND/OR/NOT between terms. Plain words are OR-ed so
    that a natural sentence still finds passages using only some of its
    words; BM25 ranks passages with more of them first. In such a sentence,
    stopwords and question scaffolding are left out unless nothing else is
    left; with explicit operators every word stays, as typed. ``expand``
    adds each word's other spellings as alternatives."""
    parts = _parts(text)
    explicit = any(kind == "op" for _, kind in parts)
    if not explicit:
        parts = [p for p in parts if not (p[1] == "word" and _is_noise(p[0]))] or parts
    if not parts:
        return None
    parts = _widen(parts, expand)
    joiner = " AND " if explicit else " OR "
    out = [parts[0][0]]
    for (_, prev), (item, kind) in zip(parts, parts[1:], strict=False):
        out.append(f" {item}" if "op" in (kind, prev) else joiner + item)
    return "".join(out).strip()


def is_strict(text: str) -> bool:
    """True when the user asked for exact keywords: a quoted phrase, a
    ``word*`` prefix, or AND / NOT between terms. Then only passages that
    match the keyword expression qualify, and meaning only reorders them."""
    return any(kind in ("phrase", "prefix") or item in ("AND", "NOT") for item, kind in _parts(text))


# "<someone> said (that) <the remark>": how a reporter describes what was
# said. The reporting clause is about the telling, not what was told, and
# dilutes the remark's meaning (search/index.py ``query_vector``).
REPORTED = re.compile(
    r"^\s*(?:[\w'’.,()-]+\s+){1,8}?(?:"
    r"said|says|say|saying|told|tells|asked|asks|argued|argues|complained|complains|claimed|claims|"
    r"warned|warns|explained|explains|stressed|stresses|noted|notes|insisted|insists|admitted|admits|"
    r"suggested|suggests|promised|promises|urged|urges|recalled|recalls|described|describes|listed|"
    r"lists|revealed|reveals|announced|announces|reported|reports|mentioned|mentions|testified|"
    r"testifies|added|adds|agreed|agrees|objected|objects|thinks|thought|believes|believed|feels|felt|"
    r"pointed out|points out|worried|worries|wondered|wonders|compared|compares|mocked|mocks"
    r")\s+(?:that\s+)?",
    re.IGNORECASE,
)
REMARK_WORDS = 4
# "What did the minister say about …?" asks about a topic; it describes no remark.
QUESTION = re.compile(
    r"^\s*(?:what|how|why|when|where|who|whom|whose|which|did|does|do|is|are|was|were)\b", re.IGNORECASE
)


def reported_remark(text: str) -> str | None:
    """What a query says was said, when it reads "<someone> said <remark>":
    "a pastor said the raids kept families home from church" gives "the
    raids kept families home from church". None for questions, typed
    keywords (phrases, operators) and anything else."""
    if is_strict(text) or QUESTION.match(text) or text.rstrip().endswith("?"):
        return None
    found = REPORTED.match(text)
    if found is None:
        return None
    remark = text[found.end() :].strip()
    return remark if len(remark.split()) >= REMARK_WORDS else None


def content_items(text: str) -> list[str]:
    """The FTS5 items of a query's content: its words, compounds, phrases
    and prefixes, less operators, what it excludes, and (unless nothing else
    is left) stopwords and scaffolding; for weighing how much of a query a
    passage holds."""
    items: list[str] = []
    negated = False
    parts = _parts(text)
    for item, kind in parts:
        if kind == "op":
            negated = item == "NOT"
        elif negated:
            negated = False
        elif not (kind == "word" and _is_noise(item)):
            items.append(item)
    if not items:
        items = [item for item, kind in parts if kind != "op"][:1]
    return list(dict.fromkeys(items))


def query_terms(text: str) -> tuple[list[str], list[list[str]]]:
    """The lowercased content words and the quoted phrases (as word lists)
    of a query, read as ``fts_expression`` reads them; for picking quotes."""
    words: list[str] = []
    phrases: list[list[str]] = []
    negated = False
    for item, kind in _parts(text):
        if kind == "op":
            negated = item == "NOT"
            continue
        if negated:
            negated = False  # what the user excluded is never the quote
            continue
        tokens = [t.lower() for t in TOKEN.findall(item)]
        if kind == "phrase" and len(tokens) > 1:
            phrases.append(tokens)
        words.extend(t for t in tokens if t not in NOISE)
    if not words and not phrases:
        words = [t.lower() for item, kind in _parts(text) if kind != "op" for t in TOKEN.findall(item)]
    return list(dict.fromkeys(words)), phrases


def all_words_expression(text: str) -> str | None:
    """The FTS5 expression a passage must match to count as mentioning the
    query (the timeline's keyword matches): every content word of a
    natural-language query, or the query's own operators, phrases and
    prefixes as typed."""
    parts = _parts(text)
    if any(kind == "op" for _, kind in parts) or is_strict(text):
        return fts_expression(text)
    kept = [item for item, kind in parts if not (kind == "word" and _is_noise(item))] or [i for i, _ in parts]
    return " AND ".join(kept) if kept else None
