"""The index seam, and the embedded SQLite store.

Words and phrases go through SQLite FTS5 (BM25). Vectors live beside the
database in one append-only float32 file per embedding model, memory-mapped
and searched exactly with NumPy; SQLite maps each file row to its chunk.
A meeting's rows are contiguous, so a body, date or meeting filter becomes a
few row ranges and the scan skips everything else.
"""

from __future__ import annotations

import os
import re
import sqlite3
import uuid
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

from catalog.db import transaction
from catalog.errors import QueryError
from catalog.migrations import apply_migrations
from catalog.types import Chunk
from search.fusion import Ranked
from search.query import SearchQuery, fts_expression, or_terms

CANDIDATES = 200
# BM25 scores every passage that holds any OR-ed word, about 14 µs each on
# this CPU: a million-chunk store has 137,000 passages with "says" in them.
# A natural-language query keeps its rarest words while their passages add
# up to this many, the rest are left to the dense side, which reads meaning
# anyway; if still more passages match, the newest this many are scored.
# Smaller stores never reach it, so their ranking is untouched.
POSTING_BUDGET = 12_000
# bm25() weights of the FTS5 columns (text, speaker): a name in the query
# should favour that speaker's passages without outweighing what was said.
BM25_WEIGHTS = (1.0, 1.0)

SQLITE_MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            text, content='chunks', content_rowid='id', tokenize='porter unicode61'
        );
        CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
        END;
        CREATE TRIGGER chunks_au AFTER UPDATE ON chunks BEGIN
            INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
            INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text);
        END;
        CREATE INDEX chunks_speaker ON chunks(speaker COLLATE NOCASE);
        -- Which file holds a model's vectors; a rebuild writes a new file.
        CREATE TABLE vector_files (
            model TEXT PRIMARY KEY,
            filename TEXT NOT NULL,
            dim INTEGER NOT NULL
        );
        CREATE TABLE chunk_vectors (
            model TEXT NOT NULL,
            row INTEGER NOT NULL,
            chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
            meeting_id INTEGER NOT NULL,
            PRIMARY KEY (model, row)
        ) WITHOUT ROWID;
        CREATE INDEX chunk_vectors_chunk ON chunk_vectors(chunk_id);
        -- What each meeting was indexed with, so a rerun skips finished work
        -- and a new model or chunker re-indexes.
        CREATE TABLE indexed_meetings (
            meeting_id INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            version TEXT NOT NULL,
            PRIMARY KEY (meeting_id, model)
        );
        -- Bumped on every write, so readers know when to refresh their maps.
        CREATE TABLE index_generation (model TEXT PRIMARY KEY, generation INTEGER NOT NULL);
        """,
    ),
    (
        2,
        """
        -- The speaker's name becomes a second column, so that "Ruiz" or a
        -- question naming who spoke finds that person's passages. The table
        -- reads its content from chunks, so a rebuild fills it in place.
        DROP TRIGGER chunks_ai;
        DROP TRIGGER chunks_ad;
        DROP TRIGGER chunks_au;
        DROP TABLE chunks_fts;
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            text, speaker, content='chunks', content_rowid='id', tokenize='porter unicode61'
        );
        CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
            INSERT INTO chunks_fts (rowid, text, speaker) VALUES (new.id, new.text, new.speaker);
        END;
        CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
            INSERT INTO chunks_fts (chunks_fts, rowid, text, speaker)
                VALUES ('delete', old.id, old.text, old.speaker);
        END;
        CREATE TRIGGER chunks_au AFTER UPDATE ON chunks BEGIN
            INSERT INTO chunks_fts (chunks_fts, rowid, text, speaker)
                VALUES ('delete', old.id, old.text, old.speaker);
            INSERT INTO chunks_fts (rowid, text, speaker) VALUES (new.id, new.text, new.speaker);
        END;
        INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild');
        """,
    ),
]

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


class Store(ABC):
    """Where chunks are indexed and searched. ``search`` returns each
    retriever's ranking and ``chunks`` the candidates' records; fusion,
    folding and quotes happen above the store, so a PostgreSQL + pgvector
    store only has to answer these two questions (``ts_rank`` standing in
    for BM25, with the speaker as a lower-weighted part of the tsvector)."""

    @abstractmethod
    def search(self, query: SearchQuery, query_vector: np.ndarray | None) -> Ranked:
        """Return ``{"bm25": [(chunk id, score), …best first], "dense": […]}``,
        each cut at ``CANDIDATES`` and honouring the query's filters; higher
        scores are better."""

    @abstractmethod
    def chunks(self, ids: list[int]) -> dict[int, Chunk]:
        """The records of these chunks, by id; ids no longer present are left out."""


class SQLiteStore(Store):
    def __init__(self, conn: sqlite3.Connection, model_id: str, vectors_dir: Path) -> None:
        self.conn = conn
        self.model_id = model_id
        self.vectors_dir = vectors_dir
        apply_migrations(conn, "search_sqlite", SQLITE_MIGRATIONS)
        self._generation = -1
        self._rows = 0
        self._matrix: np.ndarray | None = None
        self._chunk_of_row = np.zeros(0, dtype=np.int64)
        self._ranges: dict[int, tuple[int, int]] = {}

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

    def index_meeting(self, meeting_id: int, chunks: list[Chunk], vectors: np.ndarray, version: str) -> None:
        """Replace a meeting's chunks and vectors in one transaction.

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
                path = self._vector_file(vectors.shape[1])
                with path.open("ab") as fh:
                    first_row = fh.tell() // (4 * vectors.shape[1])
                    fh.seek(first_row * 4 * vectors.shape[1])
                    fh.truncate()
                    fh.write(vectors.tobytes())
                    fh.flush()
                    os.fsync(fh.fileno())
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
            (self.vectors_dir / old["filename"]).unlink(missing_ok=True)

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

    def rename_speaker(self, meeting_id: int, old: str, new: str) -> None:
        """A speaker got a name: relabel their passages; the text, and so the
        vectors, stay as they were."""
        self.conn.execute(
            "UPDATE chunks SET speaker = ? WHERE meeting_id = ? AND speaker = ?", (new, meeting_id, old)
        )

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

    def search(self, query: SearchQuery, query_vector: np.ndarray | None) -> Ranked:
        ranked: Ranked = {"bm25": self._bm25(query)}
        ranked["dense"] = self._dense(query, query_vector) if query_vector is not None else []
        return ranked

    def _bm25(self, q: SearchQuery) -> list[tuple[int, float]]:
        expression = fts_expression(q.text)
        if expression is None:
            return []
        newest_first_from = 0
        if self.vector_count() > POSTING_BUDGET:
            terms = or_terms(q.text)
            if terms and len(terms) > 1:
                expression = " OR ".join(self._affordable(terms))
            newest_first_from = self._budget_start(expression, q)
        try:
            rows = self.conn.execute(
                "SELECT c.id, f.rank FROM chunks_fts f"
                " JOIN chunks c ON c.id = f.rowid"
                " JOIN meetings m ON m.id = c.meeting_id JOIN bodies b ON b.id = m.body_id"
                " WHERE chunks_fts MATCH ? AND f.rank MATCH ? AND f.rowid >= ?"
                + FILTER_SQL
                + " ORDER BY f.rank LIMIT ?",
                [expression, _rank_function(), newest_first_from, *_filter_params(q), CANDIDATES],
            )
            return [(r[0], -r[1]) for r in rows]
        except sqlite3.OperationalError as exc:
            # fts_expression only emits quoted terms, so this is a bug, but a
            # user must still get a message rather than a traceback.
            raise QueryError(f"Could not search for {q.text!r}: {exc}") from None

    def _affordable(self, terms: list[str]) -> list[str]:
        """The rarest terms whose passages fit the posting budget (at least one)."""
        found = {term: self._passages_with(term) for term in terms}
        kept: list[str] = []
        total = 0
        for term in sorted(terms, key=found.__getitem__):
            if kept and total + found[term] > POSTING_BUDGET:
                break
            kept.append(term)
            total += found[term]
        return [t for t in terms if t in kept]

    def _budget_start(self, expression: str, q: SearchQuery) -> int:
        """The first chunk id to score so that at most the budget's worth of
        the newest matching passages are scored (0: all of them fit). Even a
        query's rarest word can be in more passages than the budget allows;
        then keywords rank the newest ones, which a monitor cares most about.
        Counted within the query's filters: the newest passages overall may
        all lie outside them (an older meeting, an earlier year)."""
        if q.has_filters:
            row = self.conn.execute(
                "SELECT f.rowid FROM chunks_fts f"
                " JOIN chunks c ON c.id = f.rowid"
                " JOIN meetings m ON m.id = c.meeting_id JOIN bodies b ON b.id = m.body_id"
                " WHERE chunks_fts MATCH ?" + FILTER_SQL + " ORDER BY f.rowid DESC LIMIT 1 OFFSET ?",
                [expression, *_filter_params(q), POSTING_BUDGET],
            ).fetchone()
        else:
            row = self.conn.execute(
                "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?",
                (expression, POSTING_BUDGET),
            ).fetchone()
        return int(row[0]) + 1 if row else 0

    def _passages_with(self, term: str) -> int:
        # Counting stops past the budget: a common word costs no more than a rare one.
        row = self.conn.execute(
            "SELECT count(*) FROM (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)",
            (term, POSTING_BUDGET + 1),
        ).fetchone()
        return int(row[0])

    def _refresh(self) -> None:
        """Map new rows since the last look; cheap when nothing changed."""
        row = self.conn.execute(
            "SELECT generation FROM index_generation WHERE model = ?", (self.model_id,)
        ).fetchone()
        generation = row[0] if row else 0
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
        if info is None or not mapped:
            self._matrix, self._rows = None, 0
            self._chunk_of_row = np.zeros(0, dtype=np.int64)
            self._ranges = {}
            return
        table = np.array(mapped, dtype=np.int64)
        rows = int(table[-1, 0]) + 1
        self._chunk_of_row = np.full(rows, -1, dtype=np.int64)
        self._chunk_of_row[table[:, 0]] = table[:, 1]
        self._ranges = {}
        for meeting, row_index in zip(table[:, 2].tolist(), table[:, 0].tolist(), strict=True):
            first, end = self._ranges.get(meeting, (row_index, row_index + 1))
            self._ranges[meeting] = (min(first, row_index), max(end, row_index + 1))
        self._matrix = np.memmap(
            self.vectors_dir / info["filename"], dtype=np.float32, mode="r", shape=(rows, info["dim"])
        )
        self._rows = rows

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
        meetings = [
            r[0]
            for r in self.conn.execute(
                "SELECT m.id FROM meetings m JOIN bodies b ON b.id = m.body_id"
                " WHERE 1 = 1" + FILTER_SQL.replace("c.speaker", "NULL"),
                _filter_params(q),
            )
        ]
        return [slice(*self._ranges[m]) for m in meetings if m in self._ranges]

    def _dense(self, q: SearchQuery, vector: np.ndarray) -> list[tuple[int, float]]:
        self._refresh()
        if self._matrix is None:
            return []
        vector = vector.astype(np.float32)
        allowed = self._allowed_rows(q)
        if allowed is None:
            rows = np.arange(self._rows)
            scores = self._matrix @ vector
        elif isinstance(allowed, np.ndarray):
            rows = allowed
            scores = self._matrix[rows] @ vector if len(rows) else np.zeros(0, dtype=np.float32)
        else:
            rows = np.concatenate([np.arange(s.start, s.stop) for s in allowed] or [np.zeros(0, np.int64)])
            parts = [self._matrix[s] @ vector for s in allowed]
            scores = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        chunk_ids = self._chunk_of_row[rows]
        scores = np.where(chunk_ids >= 0, scores, -np.inf)
        top = min(CANDIDATES, len(scores))
        if top == 0:
            return []
        best = np.argpartition(-scores, top - 1)[:top]
        best = best[np.argsort(-scores[best])]
        return [(int(chunk_ids[i]), float(scores[i])) for i in best if np.isfinite(scores[i])]
