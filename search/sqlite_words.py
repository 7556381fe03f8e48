"""The keyword half of ``SQLiteStore`` (search/store.py): BM25 through
FTS5, within the posting budget, a filter checked as chunk-id ranges where
it can be, and the timeline's unranked matches. It reads on the store's
connection and through the ranges the store keeps of its meetings."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

import numpy as np

from catalog.errors import QueryError
from search.query import SearchQuery, all_words_expression, fts_expression, or_terms
from search.sqlite_filters import FILTER_SQL, _filter_params, _merge, _rowid_in
from search.storage import CANDIDATES, POSTING_BUDGET, affordable

# bm25() weights of the FTS5 columns (text, speaker): a name in the query
# should favour that speaker's passages without outweighing what was said.
BM25_WEIGHTS = (1.0, 1.0)
# Past this many separate chunk-id ranges a filter joins instead (three
# parameters a range, under SQLite's 32,766).
MAX_RANGES = 4_000
# A filter allowing at most this many passages is searched range by range,
# every match within it scored; a wider one goes through the posting budget.
RANGE_SCAN = 100_000


def _rank_function() -> str:
    return "bm25({})".format(", ".join(str(float(w)) for w in BM25_WEIGHTS))


class SQLiteWords:
    """FTS5's answers, for ``SQLiteStore`` to inherit."""

    conn: sqlite3.Connection
    _counts: dict[str, int]
    _chunk_of_row: np.ndarray
    _id_ranges: dict[int, tuple[int, int]]
    _id_table: np.ndarray

    if TYPE_CHECKING:  # the store's, and the spellings table's

        def _refresh(self) -> None: ...
        def _meetings(self, q: SearchQuery) -> list[int]: ...
        def vector_count(self) -> int: ...
        def spellings(self, item: str) -> list[str]: ...

    def _bm25(self, q: SearchQuery, depth: int | None = None) -> list[tuple[int, float]]:
        depth = CANDIDATES if depth is None else depth
        expression = fts_expression(q.text, self.spellings)
        if expression is None:
            return []
        if self.vector_count() > POSTING_BUDGET:
            terms = or_terms(q.text, self.spellings)
            if terms and len(terms) > 1:
                expression = " OR ".join(self._affordable(terms))
        ranges = self._ranges_of(q)
        try:
            if ranges is not None and sum(end - first for first, end in ranges) <= RANGE_SCAN:
                return self._bm25_in(expression, ranges, depth) if ranges else []
            return self._bm25_all(expression, q, depth)
        except sqlite3.OperationalError as exc:
            # fts_expression only emits quoted terms, so this is a bug, but a
            # user must still get a message rather than a traceback.
            raise QueryError(f"Could not search for {q.text!r}: {exc}") from None

    def _bm25_in(self, expression: str, ranges: list[tuple[int, int]], depth: int) -> list[tuple[int, float]]:
        """BM25 within chunk-id ranges. Ranked by the ``rank`` column, FTS5
        scores every match of the whole index before the ranges filter them
        out; scored by ``bm25()`` in the select list, only the matches
        inside the ranges are (about a fifth of the time at a million)."""
        clause, params = _rowid_in(ranges, "rowid")
        weights = ", ".join(str(float(w)) for w in BM25_WEIGHTS)
        rows = self.conn.execute(
            f"SELECT rowid, bm25(chunks_fts, {weights}) AS score FROM chunks_fts"
            f" WHERE chunks_fts MATCH ? AND {clause} ORDER BY score, rowid LIMIT ?",
            [expression, *params, depth],
        )
        return [(r[0], -r[1]) for r in rows]

    def _bm25_all(self, expression: str, q: SearchQuery, depth: int) -> list[tuple[int, float]]:
        newest_first_from = self._budget_start(expression, q) if self.vector_count() > POSTING_BUDGET else 0
        scope, params = self._scope(q)
        rows = self.conn.execute(
            "SELECT f.rowid, f.rank FROM chunks_fts f"
            + scope[0]
            + " WHERE chunks_fts MATCH ? AND f.rank MATCH ? AND f.rowid >= ?"
            + scope[1]
            + " ORDER BY f.rank LIMIT ?",
            [expression, _rank_function(), newest_first_from, *params, depth],
        )
        return [(r[0], -r[1]) for r in rows]

    def _scope(self, q: SearchQuery) -> tuple[tuple[str, str], list[object]]:
        """The join and the WHERE clause that keep a keyword search inside
        the query's filters. A meeting's chunk ids are one range, so body,
        date and meeting filters become rowid ranges that FTS5 checks
        without joining every match to its meeting; a speaker filter (or a
        meeting this model has not indexed) joins."""
        if not q.has_filters:
            return ("", ""), []
        ranges = self._ranges_of(q)
        if ranges is not None:
            if not ranges:
                return ("", " AND 0"), []
            clause, params = _rowid_in(ranges, "f.rowid")
            return ("", f" AND {clause}"), params
        join = (
            " JOIN chunks c ON c.id = f.rowid"
            " JOIN meetings m ON m.id = c.meeting_id JOIN bodies b ON b.id = m.body_id"
        )
        return (join, FILTER_SQL), _filter_params(q)

    def _ranges_of(self, q: SearchQuery) -> list[tuple[int, int]] | None:
        """The chunk-id ranges of the meetings a query's filters allow,
        newest first; None without filters, with a speaker filter, or where
        ranges cannot stand for the filter."""
        if not q.has_filters or q.speaker:
            return None
        self._refresh()
        meetings = self._meetings(q)
        if not all(m in self._id_ranges for m in meetings):
            return None
        ranges = _merge(sorted(self._id_ranges[m] for m in meetings))
        return ranges[::-1] if len(ranges) <= MAX_RANGES else None

    def _affordable(self, terms: list[str]) -> list[str]:
        """The rarest terms whose passages fit the posting budget (at least one)."""
        found = {term: self._passages_with(term) for term in terms}
        kept = {terms[i] for i in affordable([found[t] for t in terms], POSTING_BUDGET)}
        return [t for t in terms if t in kept]

    def _budget_start(self, expression: str, q: SearchQuery) -> int:
        """The first chunk id to score so that at most the budget's worth of
        the newest matching passages are scored (0: all of them fit). Even a
        query's rarest word can be in more passages than the budget allows;
        then keywords rank the newest ones, which a monitor cares most about.
        Counted within the query's filters: the newest passages overall may
        all lie outside them (an older meeting, an earlier year)."""
        scope, params = self._scope(q)
        row = self.conn.execute(
            "SELECT f.rowid FROM chunks_fts f"
            + scope[0]
            + " WHERE chunks_fts MATCH ?"
            + scope[1]
            + " ORDER BY f.rowid DESC LIMIT 1 OFFSET ?",
            [expression, *params, POSTING_BUDGET],
        ).fetchone()
        return int(row[0]) + 1 if row else 0

    def _passages_with(self, term: str) -> int:
        # Counting stops past the budget: a common word costs no more than a
        # rare one. Remembered until the index changes: the budget, the
        # spellings and the match strength all ask about the same words.
        self._refresh()
        if term not in self._counts:
            row = self.conn.execute(
                "SELECT count(*) FROM (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)",
                (term, POSTING_BUDGET + 1),
            ).fetchone()
            if len(self._counts) > 10_000:
                self._counts.clear()
            self._counts[term] = int(row[0])
        return self._counts[term]

    def term_counts(self, terms: list[str]) -> tuple[int, dict[str, int]]:
        self._refresh()
        return int((self._chunk_of_row >= 0).sum()), {t: self._passages_with(t) for t in terms}

    def matching_chunks(self, q: SearchQuery) -> dict[int, set[int]]:
        """FTS5 gives only the matching rowids (no ranking); each meeting's
        chunk ids are one range, so the ids fall into meetings by a binary
        search over the ranges' starts, cheap at a million passages. Ids in
        no known range (a meeting not yet mapped) are looked up."""
        expression = all_words_expression(q.text)
        if expression is None:
            return {}
        try:
            if q.speaker:
                rows = self.conn.execute(
                    "SELECT c.meeting_id, f.rowid FROM chunks_fts f JOIN chunks c ON c.id = f.rowid"
                    " WHERE chunks_fts MATCH ? AND (c.speaker = ? COLLATE NOCASE"
                    " OR c.speaker = 'probably ' || ? COLLATE NOCASE)",
                    (expression, q.speaker, q.speaker),
                ).fetchall()
                return _by_meeting(rows)
            cursor = self.conn.execute("SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?", (expression,))
            ids = np.fromiter((r[0] for r in cursor), dtype=np.int64)
        except sqlite3.OperationalError as exc:
            raise QueryError(f"Could not count {q.text!r}: {exc}") from None
        if not len(ids):
            return {}
        self._refresh()
        ids.sort()
        table = self._id_table
        at = np.searchsorted(table[:, 0], ids, side="right") - 1
        known = (at >= 0) & (ids < table[np.clip(at, 0, None), 1]) if len(table) else np.zeros(len(ids), bool)
        owners, kept = table[at[known], 2], ids[known]
        found: dict[int, set[int]] = {}
        if len(kept):
            cuts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
            for a, b in zip(cuts, np.r_[cuts[1:], len(kept)], strict=True):
                found[int(owners[a])] = set(kept[a:b].tolist())
        if not known.all():
            rows = self.conn.execute(
                "SELECT meeting_id, id FROM chunks WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(ids[~known].tolist()),),
            ).fetchall()
            for meeting_id, chunk_ids in _by_meeting(rows).items():
                found.setdefault(meeting_id, set()).update(chunk_ids)
        return found


def _by_meeting(rows: list[sqlite3.Row]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for meeting_id, chunk_id in rows:
        out.setdefault(meeting_id, set()).add(chunk_id)
    return out
