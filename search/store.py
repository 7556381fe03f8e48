"""The index seam, and the embedded SQLite store: FTS5 for words and phrases,
float32 vectors searched exactly with NumPy."""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod

import numpy as np

from catalog.db import transaction
from catalog.errors import QueryError
from catalog.migrations import apply_migrations
from catalog.types import Chunk
from search.fusion import Ranked
from search.query import SearchQuery, fts_expression

CANDIDATES = 200

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
        CREATE TABLE chunk_vectors (
            chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (model, chunk_id)
        );
        CREATE INDEX chunk_vectors_chunk ON chunk_vectors(chunk_id);
        """,
    ),
]

# Filters shared by both retrievers; each ``?`` pair lets a NULL mean "any".
FILTER_SQL = (
    " AND (? IS NULL OR b.name = ? COLLATE NOCASE)"
    " AND (? IS NULL OR m.meeting_date >= ?)"
    " AND (? IS NULL OR m.meeting_date <= ?)"
    " AND (? IS NULL OR c.speaker = ? COLLATE NOCASE)"
    " AND (? IS NULL OR m.id = ?)"
)


def _filter_params(q: SearchQuery) -> list[object]:
    params: list[object] = []
    for value in (q.body, q.since, q.until, q.speaker, q.meeting_id):
        params += [value, value]
    return params


class Store(ABC):
    """Where chunks are indexed and searched. ``search`` returns chunk ids
    with their per-retriever ranks; fusion happens above the store, so a
    PostgreSQL + pgvector store only has to answer the same question."""

    @abstractmethod
    def search(self, query: SearchQuery, query_vector: np.ndarray | None) -> Ranked:
        """Return ``{"bm25": [(chunk id, score), …best first], "dense": […]}``."""


class SQLiteStore(Store):
    def __init__(self, conn: sqlite3.Connection, model_id: str) -> None:
        self.conn = conn
        self.model_id = model_id
        apply_migrations(conn, "search_sqlite", SQLITE_MIGRATIONS)
        self._matrix_key: tuple[int, int] | None = None
        self._ids = np.zeros(0, dtype=np.int64)
        self._matrix = np.zeros((0, 0), dtype=np.float32)

    # -- writing --------------------------------------------------------
    def index_meeting(self, meeting_id: int, chunks: list[Chunk], vectors: np.ndarray) -> None:
        """Replace a meeting's chunks and vectors in one transaction."""
        with transaction(self.conn):
            self.conn.execute("DELETE FROM chunks WHERE meeting_id = ?", (meeting_id,))
            for chunk, vector in zip(chunks, vectors, strict=True):
                cur = self.conn.execute(
                    "INSERT INTO chunks (meeting_id, seq, start_time, end_time, text, speaker)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (meeting_id, chunk.seq, chunk.start, chunk.end, chunk.text, chunk.speaker),
                )
                chunk.id = cur.lastrowid
                self.conn.execute(
                    "INSERT INTO chunk_vectors (chunk_id, model, vector) VALUES (?, ?, ?)",
                    (chunk.id, self.model_id, np.asarray(vector, dtype=np.float32).tobytes()),
                )

    # -- reading --------------------------------------------------------
    def chunks(self, ids: list[int]) -> dict[int, Chunk]:
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            f"SELECT id, meeting_id, seq, start_time, end_time, text, speaker FROM chunks"
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

    def search(self, query: SearchQuery, query_vector: np.ndarray | None) -> Ranked:
        ranked: Ranked = {"bm25": self._bm25(query)}
        ranked["dense"] = self._dense(query, query_vector) if query_vector is not None else []
        return ranked

    def _bm25(self, q: SearchQuery) -> list[tuple[int, float]]:
        expression = fts_expression(q.text)
        if expression is None:
            return []
        try:
            rows = self.conn.execute(
                "SELECT c.id, f.rank FROM chunks_fts f"
                " JOIN chunks c ON c.id = f.rowid"
                " JOIN meetings m ON m.id = c.meeting_id JOIN bodies b ON b.id = m.body_id"
                " WHERE chunks_fts MATCH ?" + FILTER_SQL + " ORDER BY f.rank LIMIT ?",
                [expression, *_filter_params(q), CANDIDATES],
            )
            return [(r[0], -r[1]) for r in rows]
        except sqlite3.OperationalError as exc:
            # fts_expression only emits quoted terms, so this is a bug, but a
            # user must still get a message rather than a traceback.
            raise QueryError(f"Could not search for {q.text!r}: {exc}") from None

    def _load_matrix(self) -> None:
        row = self.conn.execute(
            "SELECT count(*), coalesce(max(rowid), 0) FROM chunk_vectors WHERE model = ?",
            (self.model_id,),
        ).fetchone()
        key = (row[0], row[1])
        if key == self._matrix_key:
            return
        rows = self.conn.execute(
            "SELECT chunk_id, vector FROM chunk_vectors WHERE model = ? ORDER BY chunk_id",
            (self.model_id,),
        ).fetchall()
        self._ids = np.array([r[0] for r in rows], dtype=np.int64)
        self._matrix = (
            np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
            if rows
            else np.zeros((0, 0), dtype=np.float32)
        )
        self._matrix_key = key

    def _dense(self, q: SearchQuery, vector: np.ndarray) -> list[tuple[int, float]]:
        self._load_matrix()
        if not len(self._ids):
            return []
        scores = self._matrix @ vector.astype(np.float32)
        if q.has_filters:
            allowed = np.array(
                [
                    r[0]
                    for r in self.conn.execute(
                        "SELECT c.id FROM chunks c JOIN meetings m ON m.id = c.meeting_id"
                        " JOIN bodies b ON b.id = m.body_id WHERE 1 = 1" + FILTER_SQL,
                        _filter_params(q),
                    )
                ],
                dtype=np.int64,
            )
            scores = np.where(np.isin(self._ids, allowed), scores, -np.inf)
        top = min(CANDIDATES, len(scores))
        best = np.argpartition(-scores, top - 1)[:top]
        best = best[np.argsort(-scores[best])]
        return [(int(self._ids[i]), float(scores[i])) for i in best if np.isfinite(scores[i])]
