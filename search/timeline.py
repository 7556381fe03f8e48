"""How often a search's words come up, month by month and body by body.

A passage *matches* when it holds every content word of the query (or its
phrases and operators, as typed), which FTS5 answers exactly, or when it is
among the passages the meaning retriever brings back and its similarity
reaches ``CLOSE_IN_MEANING`` (at 0.55 MiniLM cosine, nine in ten of such
passages were about the query in QMSum; benchmarks/results/alert_threshold).

Counting stays cheap at a million passages: FTS5 gives only the matching
rowids (no ranking), and each meeting's chunks hold one range of ids, so
the ids fall into meetings by a binary search over the ranges' starts; the
meetings' bodies and dates are then a small join. The meaning side costs
one scan, the same the search itself makes.
"""

from __future__ import annotations

import sqlite3
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from catalog.errors import QueryError
from search.query import SearchQuery, all_words_expression
from search.store import CANDIDATES, SECTION_DEPTH

CLOSE_IN_MEANING = 0.55
# Per meeting rather than per month when the matches span this few months.
PER_MEETING_MONTHS = 2


@dataclass
class Bucket:
    period: str  # YYYY-MM, or YYYY-MM-DD per meeting
    body: str
    count: int
    meeting_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"period": self.period, "body": self.body, "count": self.count}
        if self.meeting_id is not None:
            out["meeting_id"] = self.meeting_id
        return out


@dataclass
class Timeline:
    query: str
    total: int
    buckets: list[Bucket] = field(default_factory=list)
    undated: int = 0  # matches in meetings with no date, in the total only
    per: str = "month"

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "total": self.total,
            "per": self.per,
            "undated": self.undated,
            "buckets": [b.to_dict() for b in self.buckets],
        }


class MeetingRanges:
    """Each meeting's [first, last] chunk id, read once per index change."""

    def __init__(self) -> None:
        self._generation: object = None
        self.starts = np.zeros(0, dtype=np.int64)
        self.ends = np.zeros(0, dtype=np.int64)
        self.meetings = np.zeros(0, dtype=np.int64)
        self.contiguous = True

    def refresh(self, conn: sqlite3.Connection, generation: object) -> None:
        if generation == self._generation:
            return
        rows = conn.execute(
            "SELECT meeting_id, min(id), max(id), count(*) FROM chunks GROUP BY meeting_id ORDER BY min(id)"
        ).fetchall()
        table = np.array([tuple(r) for r in rows], dtype=np.int64).reshape(-1, 4)
        self.meetings, self.starts, self.ends = table[:, 0], table[:, 1], table[:, 2]
        self.contiguous = bool(np.all(table[:, 2] - table[:, 1] + 1 == table[:, 3]))
        self._generation = generation

    def meeting_of(self, ids: np.ndarray) -> np.ndarray:
        at = np.searchsorted(self.starts, ids, side="right") - 1
        return self.meetings[np.clip(at, 0, None)]


def keyword_matches(
    conn: sqlite3.Connection, ranges: MeetingRanges, query: SearchQuery
) -> dict[int, set[int]]:
    """The chunk ids holding the query's words, by meeting."""
    expression = all_words_expression(query.text)
    if expression is None:
        return {}
    try:
        if query.speaker or not ranges.contiguous:
            rows = conn.execute(
                "SELECT c.meeting_id, f.rowid FROM chunks_fts f JOIN chunks c ON c.id = f.rowid"
                " WHERE chunks_fts MATCH ? AND (? IS NULL OR c.speaker = ? COLLATE NOCASE"
                " OR c.speaker = 'probably ' || ? COLLATE NOCASE)",
                (expression, query.speaker, query.speaker, query.speaker),
            ).fetchall()
            out: dict[int, set[int]] = {}
            for meeting_id, chunk_id in rows:
                out.setdefault(meeting_id, set()).add(chunk_id)
            return out
        cursor = conn.execute("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?", (expression,))
        ids = np.fromiter((r[0] for r in cursor), dtype=np.int64)
    except sqlite3.OperationalError as exc:
        raise QueryError(f"Could not count {query.text!r}: {exc}") from None
    if not len(ids):
        return {}
    ids.sort()
    owners = ranges.meeting_of(ids)
    cuts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    return {
        int(owners[a]): set(ids[a:b].tolist()) for a, b in zip(cuts, np.r_[cuts[1:], len(ids)], strict=True)
    }


def count(
    conn: sqlite3.Connection,
    ranges: MeetingRanges,
    query: SearchQuery,
    dense: list[tuple[int, float]],
    meeting_of: dict[int, int],
    per: str | None = None,
    public_comment: frozenset[int] | None = None,
    keyword: dict[int, set[int]] | None = None,
) -> Timeline:
    """The timeline of ``query``: keyword matches counted exactly, plus the
    meaning retriever's candidates (``dense``: chunk id and similarity,
    ``meeting_of``: their meetings) close enough in meaning. ``per`` is
    "month" or "meeting"; unset, a short span is told per meeting.
    ``keyword`` gives the keyword matches found by a store itself."""
    found = keyword if keyword is not None else keyword_matches(conn, ranges, query)
    for chunk_id, score in dense:
        if score >= CLOSE_IN_MEANING and chunk_id in meeting_of:
            found.setdefault(meeting_of[chunk_id], set()).add(chunk_id)
    if query.section is not None and public_comment is not None:
        # ``public_comment``: the chunks said in such a period (the index's).
        wanted = query.section == "public_comment"
        found = {
            m: kept
            for m, ids in found.items()
            if (kept := {i for i in ids if (i in public_comment) == wanted})
        }
    if not found:
        return Timeline(query.text, 0)
    marks = ",".join("?" * len(found))
    rows = conn.execute(
        f"SELECT m.id, m.meeting_date, b.name FROM meetings m JOIN bodies b ON b.id = m.body_id"
        f" WHERE m.id IN ({marks})"
        " AND (? IS NULL OR b.name = ? COLLATE NOCASE) AND (? IS NULL OR m.meeting_date >= ?)"
        " AND (? IS NULL OR m.meeting_date <= ?) AND (? IS NULL OR m.id = ?)",
        [*found, query.body, query.body, query.since, query.since, query.until, query.until]
        + [query.meeting_id, query.meeting_id],
    ).fetchall()
    dated = [(r[0], r[1], r[2]) for r in rows if r[1]]
    undated = sum(len(found[r[0]]) for r in rows if not r[1])
    months = {d[:7] for _, d, _ in dated}
    if per is None:
        per = "meeting" if 0 < len(months) <= PER_MEETING_MONTHS else "month"
    sums: dict[tuple[str, str, int | None], int] = {}
    for meeting_id, date, body in dated:
        key = (date, body, meeting_id) if per == "meeting" else (date[:7], body, None)
        sums[key] = sums.get(key, 0) + len(found[meeting_id])
    buckets = [
        Bucket(p, b, n, m) for (p, b, m), n in sorted(sums.items(), key=lambda kv: (kv[0][0], kv[0][1]))
    ]
    return Timeline(query.text, sum(b.count for b in buckets) + undated, buckets, undated, per)


_ranges: weakref.WeakKeyDictionary[Any, MeetingRanges] = weakref.WeakKeyDictionary()


def timeline(index: Any, query: SearchQuery, per: str | None = None) -> Timeline:
    """The timeline of a search through a ``SearchIndex``: the same
    filters, and the same checks, as its ``search``."""
    index.check(query)
    store = index.store
    if hasattr(store, "matching_chunks"):  # PostgreSQL answers the keyword side itself
        vector = index.embedder.embed_batch([query.text])[0]
        comment = index.public_comment_chunks() if query.section else None
        depth = SECTION_DEPTH if comment is not None else CANDIDATES
        dense = [(cid, s) for cid, s in store._dense(query, vector, depth) if s >= CLOSE_IN_MEANING]
        meeting_of = {cid: c.meeting_id for cid, c in store.chunks([cid for cid, _ in dense]).items()}
        found = store.matching_chunks(query)
        return count(index.catalog.conn, MeetingRanges(), query, dense, meeting_of, per, comment, found)
    generation = store.conn.execute(
        "SELECT generation FROM index_generation WHERE model = ?", (store.model_id,)
    ).fetchone()
    ranges = _ranges.setdefault(store, MeetingRanges())
    ranges.refresh(store.conn, generation[0] if generation else None)
    vector = index.embedder.embed_batch([query.text])[0]
    # The meaning retriever alone (its ranking's keyword half is not needed).
    comment = index.public_comment_chunks() if query.section else None
    depth = SECTION_DEPTH if comment is not None else CANDIDATES
    dense = [(cid, score) for cid, score in store._dense(query, vector, depth) if score >= CLOSE_IN_MEANING]
    chunks = store.chunks([cid for cid, _ in dense])
    meeting_of = {cid: c.meeting_id for cid, c in chunks.items()}
    return count(store.conn, ranges, query, dense, meeting_of, per, comment)
