"""The index seam, and the embedded SQLite store.

Words and phrases go through SQLite FTS5 (BM25). Vectors live beside the
database in one append-only float32 file per embedding model, memory-mapped
and searched exactly with NumPy; SQLite maps each file row to its chunk.
A meeting's rows are contiguous, so a body, date or meeting filter becomes a
few row ranges and the scan skips everything else.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from catalog.connection import transaction
from catalog.db import Catalog
from catalog.errors import QueryError
from catalog.migrations import apply_migrations
from catalog.types import Chunk
from search import variants
from search import vectors as vectors_file
from search.fusion import Ranked
from search.query import SearchQuery, all_words_expression, fts_expression, or_terms
from search.schema import SQLITE_MIGRATIONS
from search.storage import CANDIDATES, POSTING_BUDGET, Store, affordable
from search.vectors import EXACT_BELOW, VectorMap

# bm25() weights of the FTS5 columns (text, speaker): a name in the query
# should favour that speaker's passages without outweighing what was said.
BM25_WEIGHTS = (1.0, 1.0)
# Past this many separate chunk-id ranges a filter joins instead (three
# parameters a range, under SQLite's 32,766).
MAX_RANGES = 4_000
# A filter allowing at most this many passages is searched range by range,
# every match within it scored; a wider one goes through the posting budget.
RANGE_SCAN = 100_000

FILTER_SQL = (
    " AND (? IS NULL OR b.name = ? COLLATE NOCASE)"
    " AND (? IS NULL OR m.meeting_date >= ?)"
    " AND (? IS NULL OR m.meeting_date <= ?)"
    " AND (? IS NULL OR c.speaker = ? COLLATE NOCASE OR c.speaker = 'probably ' || ? COLLATE NOCASE)"
    " AND (? IS NULL OR m.id = ?)"
)


def _chunk_key(chunk: Chunk) -> tuple[object, ...]:
    return (chunk.seq, chunk.start, chunk.end, chunk.text, chunk.speaker)


def _rank_function() -> str:
    return "bm25({})".format(", ".join(str(float(w)) for w in BM25_WEIGHTS))


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


class SQLiteStore(Store, variants.VariantTable):
    @classmethod
    def beside(cls, catalog: Catalog, model_id: str, vectors_dir: Path | None = None) -> SQLiteStore:
        """The store in the catalog's own SQLite database, its vector files
        in ``vectors/`` beside it."""
        return cls(catalog.conn, model_id, vectors_dir or catalog.db_path.parent / "vectors")

    def __init__(self, conn: sqlite3.Connection, model_id: str, vectors_dir: Path) -> None:
        self.conn = conn
        self.model_id = model_id
        self.vectors_dir = vectors_dir
        apply_migrations(conn, "search_sqlite", SQLITE_MIGRATIONS)
        self._has_variants = (
            conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'term_variants_todo'"
            ).fetchone()
            is not None
        )
        if self._has_variants:
            self._fill_variants()
        self._generation = -1
        self._map: VectorMap | None = None
        self._chunk_of_row = np.zeros(0, dtype=np.int64)
        # Each meeting's vector rows and chunk ids, [first, last + 1).
        self._ranges: dict[int, tuple[int, int]] = {}
        self._id_ranges: dict[int, tuple[int, int]] = {}
        self._id_table = _by_start({})  # the same, as sorted (first, end, meeting) rows
        self._counts: dict[str, int] = {}  # passages per FTS5 term, capped
        self._spelled = variants.Remembered()
        # Allowed rows past which the int8 copy narrows the float32 scan.
        self.exact_below = EXACT_BELOW

    # -- writing --------------------------------------------------------
    def _vector_file(self, dim: int) -> Path:
        row = self.conn.execute(
            "SELECT filename, dim FROM vector_files WHERE model = ?", (self.model_id,)
        ).fetchone()
        if row is None:
            slug = re.sub(r"[^\w.-]+", "_", self.model_id)[-60:]
            filename = f"{slug}-{uuid.uuid4().hex[:8]}.f32"
            self.conn.execute(
                "INSERT INTO vector_files (model, filename, dim) VALUES (?, ?, ?)",
                (self.model_id, filename, dim),
            )
            return self.vectors_dir / filename
        if row["dim"] != dim:
            raise QueryError(f"Vectors for {self.model_id} have {row['dim']} dimensions, not {dim}")
        return self.vectors_dir / row["filename"]

    def close(self) -> None:
        """Nothing to close: the store reads and writes on the catalog's
        connection, which the catalog closes."""

    def index_meeting(
        self,
        meeting_id: int,
        chunks: list[Chunk],
        vectors: np.ndarray,
        version: str,
        *,
        body: str = "",
        date: str | None = None,
        fence: Callable[[Any], None] | None = None,
        roster: Sequence[str] = (),
    ) -> None:
        """Replace a meeting's chunks and vectors in one transaction. Body
        and date are read from the catalog by join, and one machine's single
        writer needs no fence (workers run on PostgreSQL), so both are unused.

        The vectors are appended to the file before the transaction commits:
        a crash in between leaves only unreferenced rows at the file's end.
        """
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.vectors_dir.mkdir(parents=True, exist_ok=True)
        with transaction(self.conn):
            same_chunks = self._chunk_keys(meeting_id) == [_chunk_key(c) for c in chunks]
            if same_chunks:
                # Another model indexed these very chunks: keep them (and its
                # vectors), and only replace this model's vectors.
                self.conn.execute(
                    "DELETE FROM chunk_vectors WHERE model = ? AND meeting_id = ?",
                    (self.model_id, meeting_id),
                )
                self.conn.execute(
                    "DELETE FROM indexed_meetings WHERE meeting_id = ? AND model = ?",
                    (meeting_id, self.model_id),
                )
            else:
                # New chunks invalidate every model's vectors for the meeting.
                self.conn.execute("DELETE FROM chunks WHERE meeting_id = ?", (meeting_id,))
                self.conn.execute("DELETE FROM indexed_meetings WHERE meeting_id = ?", (meeting_id,))
            if len(chunks):
                first_row = vectors_file.append(self._vector_file(vectors.shape[1]), vectors)
                existing = self._chunk_ids(meeting_id) if same_chunks else []
                for offset, chunk in enumerate(chunks):
                    if same_chunks:
                        chunk.id = existing[offset]
                    else:
                        chunk.id = self.conn.execute(
                            "INSERT INTO chunks (meeting_id, seq, start_time, end_time, text, speaker)"
                            " VALUES (?, ?, ?, ?, ?, ?)",
                            (meeting_id, chunk.seq, chunk.start, chunk.end, chunk.text, chunk.speaker),
                        ).lastrowid
                    self.conn.execute(
                        "INSERT INTO chunk_vectors (model, row, chunk_id, meeting_id) VALUES (?, ?, ?, ?)",
                        (self.model_id, first_row + offset, chunk.id, meeting_id),
                    )
            names = [c.speaker or "" for c in chunks] + list(roster)
            self._add_variants([] if same_chunks else [c.text for c in chunks], names)
            self.conn.execute(
                "INSERT INTO indexed_meetings (meeting_id, model, version) VALUES (?, ?, ?)",
                (meeting_id, self.model_id, version),
            )
            self.conn.execute(
                "INSERT INTO index_generation (model, generation) VALUES (?, 1)"
                " ON CONFLICT (model) DO UPDATE SET generation = generation + 1",
                (self.model_id,),
            )

    def _chunk_keys(self, meeting_id: int) -> list[tuple[object, ...]]:
        rows = self.conn.execute(
            "SELECT seq, start_time, end_time, text, speaker FROM chunks WHERE meeting_id = ? ORDER BY seq",
            (meeting_id,),
        )
        return [tuple(r) for r in rows]

    def _chunk_ids(self, meeting_id: int) -> list[int]:
        rows = self.conn.execute("SELECT id FROM chunks WHERE meeting_id = ? ORDER BY seq", (meeting_id,))
        return [r[0] for r in rows]

    def indexed_versions(self) -> dict[int, str]:
        rows = self.conn.execute(
            "SELECT meeting_id, version FROM indexed_meetings WHERE model = ?", (self.model_id,)
        )
        return {r["meeting_id"]: r["version"] for r in rows}

    def start_rebuild(self) -> None:
        """Point the model at a fresh vector file; the old one (and any rows
        left behind by replaced meetings) goes once nothing maps it."""
        with transaction(self.conn):
            old = self.conn.execute(
                "SELECT filename FROM vector_files WHERE model = ?", (self.model_id,)
            ).fetchone()
            self.conn.execute("DELETE FROM vector_files WHERE model = ?", (self.model_id,))
            self.conn.execute("DELETE FROM chunk_vectors WHERE model = ?", (self.model_id,))
            self.conn.execute("DELETE FROM indexed_meetings WHERE model = ?", (self.model_id,))
            self.conn.execute(
                "INSERT INTO index_generation (model, generation) VALUES (?, 1)"
                " ON CONFLICT (model) DO UPDATE SET generation = generation + 1",
                (self.model_id,),
            )
        if old:
            # Readers that still map it keep a valid mapping after unlink.
            old_path = self.vectors_dir / old["filename"]
            old_path.unlink(missing_ok=True)
            vectors_file.int8_path(old_path).unlink(missing_ok=True)

    # -- reading --------------------------------------------------------
    def chunks(self, ids: list[int]) -> dict[int, Chunk]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            "SELECT id, meeting_id, seq, start_time, end_time, text, speaker FROM chunks"
            f" WHERE id IN ({marks})",
            ids,
        )
        return {
            r["id"]: Chunk(
                meeting_id=r["meeting_id"],
                seq=r["seq"],
                start=r["start_time"],
                end=r["end_time"],
                text=r["text"],
                speaker=r["speaker"],
                id=r["id"],
            )
            for r in rows
        }

    def generation(self) -> int:
        row = self.conn.execute(
            "SELECT generation FROM index_generation WHERE model = ?", (self.model_id,)
        ).fetchone()
        return int(row[0]) if row else 0

    def chunks_within(self, spans: dict[int, list[tuple[float, float]]]) -> frozenset[int]:
        """The chunks that start inside any of a meeting's ``spans`` (start,
        end seconds), e.g. its public-comment periods."""
        found: list[int] = []
        for meeting_id, periods in spans.items():
            for start, end in periods:
                found += [
                    r[0]
                    for r in self.conn.execute(
                        "SELECT id FROM chunks WHERE meeting_id = ? AND start_time >= ? AND start_time < ?",
                        (meeting_id, start, end),
                    )
                ]
        return frozenset(found)

    def rename_speaker(self, meeting_id: int, old: str, new: str) -> None:
        """A speaker got a name: relabel their passages; the text, and so the
        vectors, stay as they were."""
        self.conn.execute(
            "UPDATE chunks SET speaker = ? WHERE meeting_id = ? AND speaker = ?", (new, meeting_id, old)
        )
        self._add_variants([], [new])

    # -- spellings ------------------------------------------------------
    def _add_variants(self, texts: list[str], roster: list[str]) -> None:
        if not self._has_variants:
            return
        self.conn.executemany(
            "INSERT INTO term_variants (key, variant, roster) VALUES (?, ?, ?)"
            " ON CONFLICT (key, variant) DO UPDATE SET roster = max(roster, excluded.roster)",
            variants.table_rows(texts, roster),
        )

    def _fill_variants(self) -> None:
        """Read in the variants of meetings indexed before the table existed,
        one meeting per transaction, so an interrupted upgrade resumes. A
        read-only connection leaves the work to the next writer."""
        todo = [r[0] for r in self.conn.execute("SELECT meeting_id FROM term_variants_todo")]
        for meeting_id in todo:
            try:
                with transaction(self.conn):
                    rows = self.conn.execute(
                        "SELECT text, speaker FROM chunks WHERE meeting_id = ?", (meeting_id,)
                    ).fetchall()
                    self._add_variants([r[0] for r in rows], [r[1] or "" for r in rows])
                    self.conn.execute("DELETE FROM term_variants_todo WHERE meeting_id = ?", (meeting_id,))
            except sqlite3.OperationalError as exc:
                if "readonly" in str(exc):
                    return
                raise

    def spellings(self, item: str) -> list[str]:
        """Other FTS5 items for a query's word or compound: the written forms
        of its code, and rare words that sound like a rare or known name.
        Remembered until the index changes."""
        self._refresh()
        return self._spelled.spellings(item, self) if self._has_variants else []

    # -- the variants table, as variants.spellings asks it -----------------
    def variants_of(self, key: str) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT variant FROM term_variants WHERE key = ?", (key,))]

    def codes_of_length(self, length: int) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT key, variant FROM term_variants WHERE key > '#' AND key < '$' AND length(key) = ?",
            (length,),
        )
        return [(r[0], r[1]) for r in rows]

    def in_roster(self, key: str, word: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM term_variants WHERE key = ? AND variant = ? AND roster = 1", (key, word)
        ).fetchone()
        return row is not None

    def keyed_under(self, prefix: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT variant FROM term_variants WHERE key >= ? AND key < ?", (prefix, prefix + "\uffff")
        )
        return [r[0] for r in rows]

    def passages(self, term: str) -> int:
        return self._passages_with(term)

    def size(self) -> int:
        return self.vector_count()

    def has_speaker(self, speaker: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM chunks"
            " WHERE speaker = ? COLLATE NOCASE OR speaker = 'probably ' || ? COLLATE NOCASE LIMIT 1",
            (speaker, speaker),
        ).fetchone()
        return row is not None

    def vector_count(self) -> int:
        self._refresh()
        return int((self._chunk_of_row >= 0).sum())

    def search(self, query: SearchQuery, query_vector: np.ndarray | None, depth: int | None = None) -> Ranked:
        depth = CANDIDATES if depth is None else depth
        ranked: Ranked = {"bm25": self._bm25(query, depth)}
        ranked["dense"] = self.dense(query, query_vector, depth) if query_vector is not None else []
        return ranked

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

    def _refresh(self) -> None:
        """Map new rows since the last look; cheap when nothing changed."""
        generation = self.generation()
        if generation == self._generation:
            return
        info = self.conn.execute(
            "SELECT filename, dim FROM vector_files WHERE model = ?", (self.model_id,)
        ).fetchone()
        mapped = self.conn.execute(
            "SELECT row, chunk_id, meeting_id FROM chunk_vectors WHERE model = ? ORDER BY row",
            (self.model_id,),
        ).fetchall()
        self._generation = generation
        self._counts.clear()
        self._spelled.clear()
        self._map = None
        self._chunk_of_row = np.zeros(0, dtype=np.int64)
        self._ranges, self._id_ranges = {}, {}
        self._id_table = _by_start({})
        if info is None or not mapped:
            return
        table = np.array(mapped, dtype=np.int64)
        rows = int(table[-1, 0]) + 1
        self._chunk_of_row = np.full(rows, -1, dtype=np.int64)
        self._chunk_of_row[table[:, 0]] = table[:, 1]
        self._ranges = _spans(table[:, 2], table[:, 0])
        self._id_ranges = _spans(table[:, 2], table[:, 1])
        self._id_table = _by_start(self._id_ranges)
        self._map = VectorMap(self.vectors_dir / info["filename"], rows, info["dim"], self._chunk_of_row >= 0)

    def _meetings(self, q: SearchQuery) -> list[int]:
        """The meetings that pass a query's body, date and meeting filters."""
        return [
            r[0]
            for r in self.conn.execute(
                "SELECT m.id FROM meetings m JOIN bodies b ON b.id = m.body_id"
                " WHERE 1 = 1" + FILTER_SQL.replace("c.speaker", "NULL"),
                _filter_params(q),
            )
        ]

    def _allowed_rows(self, q: SearchQuery) -> list[slice] | np.ndarray | None:
        """Row ranges (or rows) that pass the filters; None means all."""
        if not q.has_filters:
            return None
        if q.speaker:
            ids = [
                r[0]
                for r in self.conn.execute(
                    "SELECT v.row FROM chunks c JOIN chunk_vectors v ON v.chunk_id = c.id AND v.model = ?"
                    " JOIN meetings m ON m.id = c.meeting_id JOIN bodies b ON b.id = m.body_id"
                    " WHERE 1 = 1" + FILTER_SQL,
                    [self.model_id, *_filter_params(q)],
                )
            ]
            return np.array(sorted(ids), dtype=np.int64)
        return [slice(*self._ranges[m]) for m in self._meetings(q) if m in self._ranges]

    def dense(self, q: SearchQuery, vector: np.ndarray, depth: int | None = None) -> list[tuple[int, float]]:
        depth = CANDIDATES if depth is None else depth
        self._refresh()
        if self._map is None:
            return []
        rows, scores = self._map.top(vector, depth, self._allowed_rows(q), self.exact_below)
        return list(zip(self._chunk_of_row[rows].tolist(), scores.tolist(), strict=True))

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


def _by_meeting(rows: list[sqlite3.Row]) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for meeting_id, chunk_id in rows:
        out.setdefault(meeting_id, set()).add(chunk_id)
    return out


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
