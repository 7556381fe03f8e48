"""A query's filters on SQLite, as SQL: a join of each chunk to its meeting
and body (``FILTER_SQL``), or, since a meeting's rows and chunk ids are
contiguous, a few ranges of them that a scan or FTS5 checks without the
join. Part of ``SQLiteStore`` (search/store.py), which holds the ranges."""

from __future__ import annotations

import numpy as np

from search.query import SearchQuery

FILTER_SQL = (
    " AND (? IS NULL OR b.name = ? COLLATE NOCASE)"
    " AND (? IS NULL OR m.meeting_date >= ?)"
    " AND (? IS NULL OR m.meeting_date <= ?)"
    " AND (? IS NULL OR c.speaker = ? COLLATE NOCASE OR c.speaker = 'probably ' || ? COLLATE NOCASE)"
    " AND (? IS NULL OR m.id = ?)"
)


def _filter_params(q: SearchQuery) -> list[object]:
    # One value per ``?`` of FILTER_SQL, in order.
    return [
        q.body,
        q.body,
        q.since,
        q.since,
        q.until,
        q.until,
        q.speaker,
        q.speaker,
        q.speaker,
        q.meeting_id,
        q.meeting_id,
    ]


def _rowid_in(ranges: list[tuple[int, int]], column: str) -> tuple[str, list[int]]:
    """SQL that holds when ``column`` lies in one of the (disjoint) ranges,
    with its parameters. SQLite tries an OR of ranges one by one for every
    match, and a common word's matches times a filter's hundred meetings
    cost half a second at a million passages; a binary search over the
    ranges, as nested CASEs, tries about log2 of them."""
    ordered = sorted(ranges)
    if len(ordered) == 1:
        ((first, end),) = ordered
        return f"({column} >= ? AND {column} < ?)", [first, end]
    mid = len(ordered) // 2
    low, low_params = _rowid_in(ordered[:mid], column)
    high, high_params = _rowid_in(ordered[mid:], column)
    sql = f"(CASE WHEN {column} < ? THEN {low} ELSE {high} END)"
    return sql, [ordered[mid][0], *low_params, *high_params]


def _by_start(ranges: dict[int, tuple[int, int]]) -> np.ndarray:
    spans = sorted((first, end, meeting) for meeting, (first, end) in ranges.items())
    return np.array(spans, dtype=np.int64).reshape(-1, 3)


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted [first, end) ranges with touching ones joined."""
    out: list[tuple[int, int]] = []
    for first, end in ranges:
        if out and first <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((first, end))
    return out


def _spans(meetings: np.ndarray, values: np.ndarray) -> dict[int, tuple[int, int]]:
    """Each meeting's [first, last + 1) of ``values`` (rows or chunk ids),
    which are contiguous per meeting: a meeting is written in one
    transaction. A meeting whose values are not contiguous is left out."""
    order = np.lexsort((values, meetings))
    meetings, values = meetings[order], values[order]
    starts = np.flatnonzero(np.r_[True, meetings[1:] != meetings[:-1]])
    ends = np.r_[starts[1:], len(meetings)]
    out = {}
    for first, end in zip(starts.tolist(), ends.tolist(), strict=True):
        low, high = int(values[first]), int(values[end - 1]) + 1
        if high - low == end - first:
            out[int(meetings[first])] = (low, high)
    return out
