"""The embedded SQLite store.

Words and phrases go through SQLite FTS5 (BM25). Vectors live beside the
database in one append-only float32 file per embedding model, memory-mapped
and searched exactly with NumPy; SQLite maps each file row to its chunk.
A meeting's rows are contiguous, so a body, date or meeting filter becomes a
few row ranges and the scan skips everything else.

The store is one class in parts: its keyword half (search/sqlite_words.py),
its spellings table (search/sqlite_variants.py), the filters' SQL
(search/sqlite_filters.py) and its schema (search/schema.py).
"""

from __future__ import annotations

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
from search.query import SearchQuery
from search.schema import SQLITE_MIGRATIONS
from search.sqlite_filters import FILTER_SQL, _by_start, _filter_params, _spans
from search.sqlite_variants import SQLiteVariants
from search.sqlite_words import SQLiteWords
from search.storage import CANDIDATES, Reporter, Store
from search.vectors import EXACT_BELOW, VectorMap


def _chunk_key(chunk: Chunk) -> tuple[object, ...]:
    return (chunk.seq, chunk.start, chunk.end, chunk.text, chunk.speaker)


class SQLiteStore(SQLiteWords, SQLiteVariants, Store):
    """Chunks and their FTS5 index in the catalog's SQLite database, vectors
    in files beside it. The halves come before ``Store``, whose defaults
    (no spellings, no term counts) they replace."""

    @classmethod
    def beside(
        cls,
        catalog: Catalog,
        model_id: str,
        vectors_dir: Path | None = None,
        progress: Reporter | None = None,
    ) -> SQLiteStore:
        """The store in the catalog's own SQLite database, its vector files
        in ``vectors/`` beside it."""
        return cls(catalog.conn, model_id, vectors_dir or catalog.db_path.parent / "vectors", progress)

    def __init__(
        self,
        conn: sqlite3.Connection,
        model_id: str,
        vectors_dir: Path,
        progress: Reporter | None = None,
    ) -> None:
        """``progress`` hears (meetings done, meetings) while an upgrade
        reads in the spellings of meetings indexed before it."""
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
            self._fill_variants(progress)
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
