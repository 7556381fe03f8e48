"""How often a search's words come up, month by month and body by body.

A passage *matches* when it holds every content word of the query (or its
phrases and operators, as typed), which FTS5 answers exactly, or when it is
among the passages the meaning retriever brings back and its similarity
reaches ``CLOSE_IN_MEANING`` (at 0.55 MiniLM cosine, nine in ten of such
passages were about the query in QMSum; benchmarks/results/alert_threshold).

Counting stays cheap at a million passages: the store gives only the
matching chunk ids by meeting, unranked (``Store.matching_chunks``), and
the meetings' bodies and dates are then a small read from the catalog. The
meaning side costs one scan (``Store.dense``), the same the search makes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from catalog.db import Catalog
from search.query import SearchQuery
from search.storage import CANDIDATES, SECTION_DEPTH

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


def count(
    catalog: Catalog,
    query: SearchQuery,
    found: dict[int, set[int]],
    dense: list[tuple[int, float]],
    meeting_of: dict[int, int],
    per: str | None = None,
    public_comment: frozenset[int] | None = None,
) -> Timeline:
    """The timeline of ``query``: its keyword matches (``found``: chunk ids
    by meeting, counted exactly), plus the meaning retriever's candidates
    (``dense``: chunk id and similarity, ``meeting_of``: their meetings)
    close enough in meaning. ``per`` is "month" or "meeting"; unset, a
    short span is told per meeting."""
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
    rows = catalog.meeting_dates(list(found), query.body, query.since, query.until, query.meeting_id)
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


def timeline(index: Any, query: SearchQuery, per: str | None = None) -> Timeline:
    """The timeline of a search through a ``SearchIndex``: the same
    filters, and the same checks, as its ``search``."""
    index.check(query)
    store = index.store
    vector = index.query_vector(query.text)
    # The meaning retriever alone (its ranking's keyword half is not needed).
    comment = index.public_comment_chunks() if query.section else None
    depth = SECTION_DEPTH if comment is not None else CANDIDATES
    dense = [(cid, score) for cid, score in store.dense(query, vector, depth) if score >= CLOSE_IN_MEANING]
    meeting_of = {cid: c.meeting_id for cid, c in store.chunks([cid for cid, _ in dense]).items()}
    return count(index.catalog, query, store.matching_chunks(query), dense, meeting_of, per, comment)
