"""The PostgreSQL + pgvector store: the same questions as the SQLite store,
answered by one shared database that many workers and web servers use.

Words go through a ``tsvector`` column (the text weighted A, the speaker's
name C) with a GIN index; the tsquery is built from the very expression the
SQLite side hands FTS5, never from what the user typed. ``ts_rank`` has no
IDF, so each query term's rank is weighted by an IDF read from a small
table of term document frequencies, kept as meetings come and go
(``benchmarks/pg_scale.py`` measures what that buys on qmsum-committee).

Vectors live in the same row as ``halfvec`` (half the size of float32, no
loss in ranking at MiniLM's precision), one HNSW index per embedding model.
A filter that leaves few rows is scanned exactly; a broader one walks the
index with pgvector's iterative scan, so a filtered page is still full.
The body and date a chunk's meeting has are kept on the chunk, so a filter
is a column test on the row the index returns, not a join.

The store is one class in parts: its keyword half and the term statistics
(search/pg_words.py), its spellings table (search/pg_variants.py), the
filters' SQL (search/pg_filters.py) and its schema (search/pg_schema.py).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from catalog.errors import QueryError
from catalog.pg import PgConnection, apply_migrations, check_schema, require_extension, translate_outages
from catalog.types import Chunk
from search import variants
from search.fusion import Ranked
from search.pg_filters import _filters
from search.pg_schema import PG_MIGRATIONS
from search.pg_variants import PgVariants
from search.pg_words import PgWords
from search.query import SearchQuery
from search.storage import CANDIDATES, Reporter, Store

if TYPE_CHECKING:
    import psycopg

# A filter leaving at most this many chunks is scanned exactly: cheaper than
# the index and never short of a page.
EXACT_ROWS = 20_000
# Candidates the HNSW walk keeps; at least CANDIDATES, or a page runs short.
EF_SEARCH = 2 * CANDIDATES
MAX_EF_SEARCH = 1000  # pgvector's ceiling
# How far an iterative scan may go for a filtered query before giving up.
MAX_SCAN_TUPLES = 40_000
CHUNK_LOCK = 7_141_002  # advisory lock namespace: one writer per meeting

COPY_TYPES = ["int4", "int8", "int4", "float8", "float8", "text", "text", "text", "text"]


def halfvec_dumper(oid: int) -> type:
    """psycopg dumper sending numpy vectors in pgvector's binary halfvec
    format: dimensions and a spare as int16, then big-endian float16s."""
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    class HalfvecDumper(Dumper):
        format = Format.BINARY

        def dump(self, obj: Any) -> bytes:
            vector = np.asarray(obj, dtype=">f2")
            return struct.pack(">HH", len(vector), 0) + vector.tobytes()

    HalfvecDumper.oid = oid
    return HalfvecDumper


class PgStore(PgWords, PgVariants, Store):
    """Chunks and vectors in PostgreSQL, through one connection of its own
    (reopened after a server restart) to the database at ``url``. The
    meeting's body and date ride on each chunk, so filters need no join.
    The halves come before ``Store``, whose defaults (no spellings, no term
    counts) they replace."""

    def __init__(
        self,
        url: str,
        model_id: str,
        dim: int | Callable[[], int] = 384,
        migrate: bool = True,
        progress: Reporter | None = None,
    ) -> None:
        """``dim`` may be a function (loading the embedding model), called
        only when the model has no vectors here yet. Without ``migrate``
        an old schema is refused with a word about ``onrecord db upgrade``;
        with it, ``progress`` hears (meetings done, meetings) while the
        spellings of meetings indexed before are read in."""
        self.db = PgConnection(url)
        self.model_id = model_id
        if migrate:
            require_extension(self.db.conn, "vector", "0.8.0")
            apply_migrations(self.db.conn, "search_pg", PG_MIGRATIONS)
        else:
            check_schema(self.db.conn, "search_pg", PG_MIGRATIONS)
        known = self.db.conn.execute("SELECT dim FROM vector_models WHERE model = %s", (model_id,)).fetchone()
        self.dim = int(known[0]) if known else dim() if callable(dim) else dim
        self.db.setup = self._adapt
        self._adapt(self.db.conn)
        self.model = self._register_model()
        self._spelled = variants.Remembered()
        self._spelled_at = -1  # the generation it holds
        self._spelled_checked = -math.inf
        if migrate:
            self._fill_variants(progress)

    @property
    def conn(self) -> psycopg.Connection:
        return self.db.conn

    def close(self) -> None:
        self.db.close()

    def _adapt(self, conn: psycopg.Connection) -> None:
        oid = conn.execute("SELECT 'halfvec'::regtype::oid").fetchone()
        assert oid is not None
        self._halfvec = int(oid[0])
        conn.adapters.register_dumper(np.ndarray, halfvec_dumper(self._halfvec))

    # -- the model and its index ------------------------------------------
    def _register_model(self) -> int:
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (CHUNK_LOCK,))
            row = self.conn.execute(
                "SELECT id, dim FROM vector_models WHERE model = %s", (self.model_id,)
            ).fetchone()
            if row is None:
                row = self.conn.execute(
                    "INSERT INTO vector_models (model, dim) VALUES (%s, %s) RETURNING id, dim",
                    (self.model_id, self.dim),
                ).fetchone()
                assert row is not None
                self._create_vector_index(int(row[0]), self.dim)
        if row[1] != self.dim:
            raise QueryError(f"Vectors for {self.model_id} have {row[1]} dimensions, not {self.dim}")
        return int(row[0])

    def _create_vector_index(self, model: int, dim: int) -> None:
        # One partial index per model, on the column cast to its dimension:
        # pgvector indexes only vectors of one fixed size.
        self.conn.execute(
            f"CREATE INDEX IF NOT EXISTS chunks_hnsw_{model} ON chunks"
            f" USING hnsw ((embedding::halfvec({dim})) halfvec_cosine_ops) WHERE model_id = {model}"
        )

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Drop the model's HNSW index while many meetings load, and build it
        once at the end: inserting into a large graph row by row is many
        times slower than one build."""
        self.conn.execute(f"DROP INDEX IF EXISTS chunks_hnsw_{self.model}")
        try:
            yield
        finally:
            self._create_vector_index(self.model, self.dim)
            self.conn.execute("ANALYZE chunks")

    # -- writing --------------------------------------------------------
    @translate_outages
    def index_meeting(
        self,
        meeting_id: int,
        chunks: list[Chunk],
        vectors: np.ndarray,
        version: str,
        *,
        body: str = "",
        date: str | None = None,
        fence: Callable[[psycopg.Connection], None] | None = None,
        roster: Sequence[str] = (),
    ) -> None:
        """Replace a meeting's chunks and vectors for this model in one
        transaction. ``body`` and ``date`` are the meeting's, kept for the
        filters. ``fence`` runs first inside the transaction and raises to
        refuse the write (a worker that lost its claim)."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        if len(chunks) and vectors.shape[1] != self.dim:
            raise QueryError(
                f"Vectors for {self.model_id} have {self.dim} dimensions, not {vectors.shape[1]}"
            )
        with self.conn.transaction():
            if fence is not None:
                fence(self.conn)
            self.conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (CHUNK_LOCK, meeting_id))
            self._forget(meeting_id)
            self._insert(meeting_id, chunks, vectors, body, date)
            self._count_terms(meeting_id, +1)
            self._add_variants([c.text for c in chunks], [c.speaker or "" for c in chunks] + list(roster))
            self.conn.execute(
                "INSERT INTO indexed_meetings (meeting_id, model_id, version) VALUES (%s, %s, %s)",
                (meeting_id, self.model, version),
            )
            self.conn.execute(
                "UPDATE vector_models SET chunks = chunks + %s WHERE id = %s", (len(chunks), self.model)
            )
            self._bump()

    def _insert(
        self, meeting_id: int, chunks: list[Chunk], vectors: np.ndarray, body: str, date: str | None
    ) -> None:
        columns = (
            "model_id, meeting_id, seq, start_time, end_time, text, speaker, body, meeting_date, embedding"
        )
        with self.conn.cursor() as cur:
            with cur.copy(f"COPY chunks ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types([*COPY_TYPES, self._halfvec])
                for chunk, vector in zip(chunks, vectors, strict=True):
                    copy.write_row(
                        (
                            self.model,
                            meeting_id,
                            chunk.seq,
                            chunk.start,
                            chunk.end,
                            chunk.text,
                            chunk.speaker,
                            body,
                            date,
                            vector,
                        )
                    )
            cur.execute(
                "SELECT id FROM chunks WHERE model_id = %s AND meeting_id = %s ORDER BY seq",
                (self.model, meeting_id),
            )
            for chunk, (chunk_id,) in zip(chunks, cur.fetchall(), strict=True):
                chunk.id = chunk_id

    def _forget(self, meeting_id: int) -> None:
        self._count_terms(meeting_id, -1)
        gone = self.conn.execute(
            "DELETE FROM chunks WHERE model_id = %s AND meeting_id = %s", (self.model, meeting_id)
        ).rowcount
        self.conn.execute("UPDATE vector_models SET chunks = chunks - %s WHERE id = %s", (gone, self.model))
        self.conn.execute(
            "DELETE FROM indexed_meetings WHERE meeting_id = %s AND model_id = %s", (meeting_id, self.model)
        )

    @translate_outages
    def delete_meeting(self, meeting_id: int) -> None:
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (CHUNK_LOCK, meeting_id))
            self._forget(meeting_id)
            self._bump()

    @translate_outages
    def set_meeting(self, meeting_id: int, body: str, date: str | None) -> None:
        """The meeting's body or date changed in the catalog: follow it."""
        self.conn.execute(
            "UPDATE chunks SET body = %s, meeting_date = %s WHERE meeting_id = %s", (body, date, meeting_id)
        )

    @translate_outages
    def indexed_versions(self) -> dict[int, str]:
        rows = self.conn.execute(
            "SELECT meeting_id, version FROM indexed_meetings WHERE model_id = %s", (self.model,)
        )
        return {int(r[0]): r[1] for r in rows}

    @translate_outages
    def start_rebuild(self) -> None:
        """Forget this model's chunks, so that a reindex writes them all anew."""
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (CHUNK_LOCK,))
            for table in ("chunks", "indexed_meetings", "term_stats", "term_variants"):
                self.conn.execute(f"DELETE FROM {table} WHERE model_id = %s", (self.model,))
            self.conn.execute("UPDATE vector_models SET chunks = 0 WHERE id = %s", (self.model,))
            self._bump()

    @translate_outages
    def rename_speaker(self, meeting_id: int, old: str, new: str) -> None:
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (CHUNK_LOCK, meeting_id))
            self._count_terms(meeting_id, -1)
            self.conn.execute(
                "UPDATE chunks SET speaker = %s WHERE meeting_id = %s AND speaker = %s",
                (new, meeting_id, old),
            )
            self._count_terms(meeting_id, +1)
            self._add_variants([], [new])
            self._bump()

    # -- reading --------------------------------------------------------
    @translate_outages
    def chunks(self, ids: list[int]) -> dict[int, Chunk]:
        if not ids:
            return {}
        rows = self.conn.execute(
            "SELECT id, meeting_id, seq, start_time, end_time, text, speaker FROM chunks WHERE id = ANY(%s)",
            (list(ids),),
        )
        return {
            int(r[0]): Chunk(
                meeting_id=int(r[1]), seq=r[2], start=r[3], end=r[4], text=r[5], speaker=r[6], id=int(r[0])
            )
            for r in rows
        }

    @translate_outages
    def has_speaker(self, speaker: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM chunks WHERE model_id = %s"
            " AND lower(speaker) IN (lower(%s), 'probably ' || lower(%s)) LIMIT 1",
            (self.model, speaker, speaker),
        ).fetchone()
        return row is not None

    @translate_outages
    def vector_count(self) -> int:
        row = self.conn.execute("SELECT chunks FROM vector_models WHERE id = %s", (self.model,)).fetchone()
        return int(row[0]) if row else 0

    @translate_outages
    def search(self, query: SearchQuery, query_vector: np.ndarray | None, depth: int | None = None) -> Ranked:
        """Each retriever's ranking, ``depth`` deep (CANDIDATES unless a
        section filter above the store asks for more)."""
        depth = depth or CANDIDATES
        ranked: Ranked = {"bm25": self._words(query, depth)}
        ranked["dense"] = self.dense(query, query_vector, depth) if query_vector is not None else []
        return ranked

    @translate_outages
    def generation(self) -> int:
        """Changes whenever this model's chunks change (readers cache on it)."""
        row = self.conn.execute(
            "SELECT generation FROM vector_models WHERE id = %s", (self.model,)
        ).fetchone()
        return int(row[0]) if row else 0

    def _bump(self) -> None:
        self.conn.execute("UPDATE vector_models SET generation = generation + 1 WHERE id = %s", (self.model,))
        self._spelled_checked = -math.inf  # this store's own writes show at once

    @translate_outages
    def chunks_within(self, spans: dict[int, list[tuple[float, float]]]) -> frozenset[int]:
        """The chunks that start inside any of a meeting's ``spans`` (start,
        end seconds), e.g. its public-comment periods."""
        rows = [(m, float(a), float(b)) for m, periods in spans.items() for a, b in periods]
        if not rows:
            return frozenset()
        found = self.conn.execute(
            "SELECT c.id FROM chunks c JOIN unnest(%s::bigint[], %s::float8[], %s::float8[]) AS s(m, a, b)"
            " ON c.meeting_id = s.m AND c.start_time >= s.a AND c.start_time < s.b WHERE c.model_id = %s",
            ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], self.model),
        )
        return frozenset(int(r[0]) for r in found)

    def dense(self, q: SearchQuery, vector: np.ndarray, depth: int | None = None) -> list[tuple[int, float]]:
        depth = CANDIDATES if depth is None else depth
        where, params = _filters(q)
        distance = f"embedding::halfvec({self.dim}) <=> %s::halfvec({self.dim})"
        with self.conn.transaction():
            if where and self._few(where, params):
                # Exact: the CTE keeps the planner off the HNSW index.
                rows = self.conn.execute(
                    f"WITH allowed AS MATERIALIZED (SELECT id, embedding FROM chunks"
                    f" WHERE model_id = {self.model}{where})"
                    f" SELECT id, {distance} AS d FROM allowed ORDER BY d LIMIT %s",
                    [*params, np.asarray(vector, dtype=np.float32), depth],
                ).fetchall()
            else:
                self.conn.execute(f"SET LOCAL hnsw.ef_search = {min(MAX_EF_SEARCH, max(EF_SEARCH, depth))}")
                if where or depth > EF_SEARCH:  # past ef_search, only an iterative scan goes on
                    self.conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                    self.conn.execute(f"SET LOCAL hnsw.max_scan_tuples = {MAX_SCAN_TUPLES}")
                rows = self.conn.execute(
                    f"SELECT id, {distance} AS d FROM chunks WHERE model_id = {self.model}{where}"
                    " ORDER BY d LIMIT %s",
                    [np.asarray(vector, dtype=np.float32), *params, depth],
                ).fetchall()
        # Relaxed order may return neighbours slightly out of order.
        ranked = sorted(((int(r[0]), 1.0 - float(r[1])) for r in rows), key=lambda item: -item[1])
        return ranked[:depth]

    def _few(self, where: str, params: list[object]) -> bool:
        row = self.conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM chunks WHERE model_id = {self.model}{where}"
            f" LIMIT {EXACT_ROWS + 1}) f",
            params,
        ).fetchone()
        return bool(row) and int(row[0]) <= EXACT_ROWS
