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
"""

from __future__ import annotations

import math
import re
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from catalog.errors import QueryError
from catalog.pg import PgConnection, apply_migrations, check_schema, require_extension, translate_outages
from catalog.types import Chunk
from search import pg_words as words
from search import variants
from search.fusion import Ranked
from search.pg_words import TEXT_SEARCH, TsQuery
from search.query import SearchQuery, fts_expression, or_terms
from search.storage import CANDIDATES, POSTING_BUDGET, Store, affordable

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
SPELLINGS_RECHECK_S = 1.0
CHUNK_LOCK = 7_141_002  # advisory lock namespace: one writer per meeting
PG_MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        f"""
        CREATE TABLE vector_models (
            id serial PRIMARY KEY,
            model text NOT NULL UNIQUE,
            dim integer NOT NULL,
            chunks bigint NOT NULL DEFAULT 0
        );
        -- One row per chunk and embedding model; a model change re-indexes
        -- into new rows while the old ones keep serving.
        CREATE TABLE chunks (
            id bigserial PRIMARY KEY,
            model_id integer NOT NULL REFERENCES vector_models(id) ON DELETE CASCADE,
            meeting_id bigint NOT NULL,
            seq integer NOT NULL,
            start_time double precision NOT NULL,
            end_time double precision NOT NULL,
            text text NOT NULL,
            speaker text,
            body text NOT NULL,
            meeting_date text,
            words tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('{TEXT_SEARCH}', text), 'A')
                || setweight(to_tsvector('{TEXT_SEARCH}', coalesce(speaker, '')), 'C')
            ) STORED,
            embedding halfvec NOT NULL,
            UNIQUE (model_id, meeting_id, seq)
        );
        CREATE INDEX chunks_words ON chunks USING gin (words);
        CREATE INDEX chunks_facets ON chunks (model_id, lower(body), meeting_date);
        CREATE INDEX chunks_meeting_date ON chunks (model_id, meeting_date);
        CREATE INDEX chunks_speaker ON chunks (model_id, lower(speaker));
        CREATE TABLE indexed_meetings (
            meeting_id bigint NOT NULL,
            model_id integer NOT NULL REFERENCES vector_models(id) ON DELETE CASCADE,
            version text NOT NULL,
            PRIMARY KEY (meeting_id, model_id)
        );
        -- How many chunks hold each lexeme: the IDF that ts_rank lacks.
        -- "C" collation, so that a prefix query reads a range of the key.
        CREATE TABLE term_stats (
            model_id integer NOT NULL REFERENCES vector_models(id) ON DELETE CASCADE,
            lexeme text COLLATE "C" NOT NULL,
            chunks integer NOT NULL,
            PRIMARY KEY (model_id, lexeme)
        );
        """,
    ),
    (
        2,
        """
        -- Bumped by every change of a model's chunks: readers cache on it.
        ALTER TABLE vector_models ADD COLUMN generation bigint NOT NULL DEFAULT 0;
        """,
    ),
    (
        3,
        """
        -- The spellings codes and names take in transcripts, as on SQLite
        -- (search/variants.py); roster marks names of people who spoke.
        CREATE TABLE term_variants (
            model_id integer NOT NULL REFERENCES vector_models(id) ON DELETE CASCADE,
            key text COLLATE "C" NOT NULL,
            variant text NOT NULL,
            roster boolean NOT NULL DEFAULT false,
            PRIMARY KEY (model_id, key, variant)
        );
        -- Meetings indexed before the table existed: a store that migrates
        -- reads their variants in, one meeting per transaction.
        CREATE TABLE term_variants_todo (
            model_id integer NOT NULL,
            meeting_id bigint NOT NULL,
            PRIMARY KEY (model_id, meeting_id)
        );
        INSERT INTO term_variants_todo SELECT DISTINCT model_id, meeting_id FROM chunks;
        """,
    ),
]

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


def _filters(q: SearchQuery) -> tuple[str, list[object]]:
    """The query's filters as SQL on the chunk row, only those it has."""
    sql, params = [], []
    if q.body:
        sql.append("lower(body) = lower(%s)")
        params.append(q.body)
    if q.since:
        sql.append("meeting_date >= %s")
        params.append(q.since)
    if q.until:
        sql.append("meeting_date <= %s")
        params.append(q.until)
    if q.speaker:
        sql.append("lower(speaker) IN (lower(%s), 'probably ' || lower(%s))")
        params += [q.speaker, q.speaker]
    if q.meeting_id is not None:
        sql.append("meeting_id = %s")
        params.append(q.meeting_id)
    return "".join(f" AND {s}" for s in sql), params


class PgStore(Store, variants.VariantTable):
    """Chunks and vectors in PostgreSQL, through one connection of its own
    (reopened after a server restart) to the database at ``url``. The
    meeting's body and date ride on each chunk, so filters need no join."""

    def __init__(
        self, url: str, model_id: str, dim: int | Callable[[], int] = 384, migrate: bool = True
    ) -> None:
        """``dim`` may be a function (loading the embedding model), called
        only when the model has no vectors here yet. Without ``migrate``
        an old schema is refused with a word about ``onrecord db upgrade``."""
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
            self._fill_variants()

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

    def _count_terms(self, meeting_id: int, sign: int) -> None:
        """Add (or take away) a meeting's lexemes to the document counts,
        in lexeme order so that concurrent writers never deadlock."""
        inner = (
            f"SELECT words FROM chunks WHERE model_id = {int(self.model)} AND meeting_id = {int(meeting_id)}"
        )
        self.conn.execute(
            "INSERT INTO term_stats (model_id, lexeme, chunks)"
            " SELECT %s, word, %s * ndoc FROM ts_stat(%s) ORDER BY word"
            " ON CONFLICT (model_id, lexeme) DO UPDATE SET chunks = term_stats.chunks + excluded.chunks",
            (self.model, sign, inner),
        )
        if sign < 0:
            self.conn.execute("DELETE FROM term_stats WHERE model_id = %s AND chunks <= 0", (self.model,))

    def _add_variants(self, texts: list[str], roster: list[str]) -> None:
        """File the texts' codes (as written: PostgreSQL's parser splits them
        its own way) and names under their keys; in key order, so that
        concurrent writers never deadlock."""
        rows = variants.table_rows(texts, roster, as_written=True)
        self.conn.execute(
            "INSERT INTO term_variants (model_id, key, variant, roster)"
            " SELECT %s, k, v, r FROM unnest(%s::text[], %s::text[], %s::bool[]) AS t(k, v, r) ORDER BY k, v"
            " ON CONFLICT (model_id, key, variant)"
            " DO UPDATE SET roster = term_variants.roster OR excluded.roster",
            (self.model, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]),
        )

    def _fill_variants(self) -> None:
        """Read in the variants of meetings indexed before the table existed,
        one meeting per transaction (so an interrupted upgrade resumes);
        stores migrating at once share the work."""
        while True:
            with self.conn.transaction():
                todo = self.conn.execute(
                    "SELECT meeting_id FROM term_variants_todo WHERE model_id = %s"
                    " LIMIT 1 FOR UPDATE SKIP LOCKED",
                    (self.model,),
                ).fetchone()
                if todo is None:
                    return
                rows = self.conn.execute(
                    "SELECT text, speaker FROM chunks WHERE model_id = %s AND meeting_id = %s",
                    (self.model, todo[0]),
                ).fetchall()
                self._add_variants([r[0] for r in rows], [r[1] or "" for r in rows])
                self.conn.execute(
                    "DELETE FROM term_variants_todo WHERE model_id = %s AND meeting_id = %s",
                    (self.model, todo[0]),
                )
                self._bump()

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

    @translate_outages
    def spellings(self, item: str) -> list[str]:
        """As on SQLite (search/variants.py), remembered until the index
        changes; whether it has is asked at most once a second (a search
        asks for each of its words twice, and a round trip each time cost a
        tenth of a search at a million chunks)."""
        now = time.monotonic()
        if now - self._spelled_checked > SPELLINGS_RECHECK_S:
            generation = self.generation()
            self._spelled_checked = now
            if generation != self._spelled_at:
                self._spelled.clear()
                self._spelled_at = generation
        return self._spelled.spellings(item, self)

    # -- the variants table, as variants.spellings asks it -----------------
    def variants_of(self, key: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT variant FROM term_variants WHERE model_id = %s AND key = %s", (self.model, key)
        )
        return [r[0] for r in rows]

    def codes_of_length(self, length: int) -> list[tuple[str, str]]:
        rows = self.conn.execute(
            "SELECT key, variant FROM term_variants WHERE model_id = %s"
            " AND key > '#' AND key < '$' AND length(key) = %s",
            (self.model, length),
        )
        return [(r[0], r[1]) for r in rows]

    def in_roster(self, key: str, word: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM term_variants WHERE model_id = %s AND key = %s AND variant = %s AND roster",
            (self.model, key, word),
        ).fetchone()
        return row is not None

    def keyed_under(self, prefix: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT variant FROM term_variants WHERE model_id = %s AND key >= %s AND key < %s",
            (self.model, prefix, prefix + "\uffff"),
        )
        return [r[0] for r in rows]

    def passages(self, term: str) -> int:
        return min(sum(self._frequencies(TsQuery(term))), POSTING_BUDGET + 1)

    def size(self) -> int:
        return self.vector_count()

    @translate_outages
    def term_counts(self, terms: list[str]) -> tuple[int, dict[str, int]]:
        """The number of passages, and about how many match each FTS5
        expression (``"word"``, ``"word" OR "words"``), no further than the
        posting budget, as on SQLite. Read from the term statistics, not by
        matching: counting the matches of a common word at a million chunks
        took 100-300 ms a word. An OR counts its terms' passages together
        and a phrase its rarest word's, so a count may overstate, never
        understate, how many passages match."""
        counts = {}
        for term in terms:
            found = self._frequencies(TsQuery(term))
            counts[term] = min(sum(found), POSTING_BUDGET + 1)
        return self.vector_count(), counts

    def _words(self, q: SearchQuery, depth: int = CANDIDATES) -> list[tuple[int, float]]:
        expression = fts_expression(q.text, self.spellings)
        if expression is None:
            return []
        total = max(1, self.vector_count())
        tsq = TsQuery(expression)
        counts = self._frequencies(tsq)
        newest_only = False
        if total > POSTING_BUDGET and sum(counts) > POSTING_BUDGET:
            # As on SQLite: a natural-language query keeps its rarest words
            # while their passages fit the budget; past that, the newest
            # passages are the ones scored.
            terms = or_terms(q.text, self.spellings)
            if terms and len(terms) == len(counts) > 1:
                kept = affordable(counts, POSTING_BUDGET)
                tsq = TsQuery(" OR ".join(terms[i] for i in kept))
                counts = [counts[i] for i in kept]
            newest_only = sum(counts) > POSTING_BUDGET
        if not tsq.terms:
            return []
        score, score_params = words.score(tsq, counts, total)
        where, params = _filters(q)
        matches = f"SELECT id, words FROM chunks WHERE model_id = %s AND words @@ {tsq.sql}{where}"
        if newest_only:
            matches += f" ORDER BY id DESC LIMIT {POSTING_BUDGET}"
        rows = self.conn.execute(
            f"SELECT id, {score} AS score FROM ({matches}) m ORDER BY score DESC, id DESC LIMIT %s",
            [*score_params, self.model, *tsq.params, *params, depth],
        )
        return [(int(r[0]), float(r[1])) for r in rows]

    @translate_outages
    def matching_chunks(self, q: SearchQuery) -> dict[int, set[int]]:
        """Every chunk holding all the query's words, by meeting, unranked
        (the timeline counts them; GIN answers without scoring)."""
        from search.query import all_words_expression

        expression = all_words_expression(q.text)
        if expression is None:
            return {}
        tsq = TsQuery(expression)
        if not tsq.terms:
            return {}
        where, params = _filters(q)
        rows = self.conn.execute(
            f"SELECT meeting_id, id FROM chunks WHERE model_id = %s AND words @@ {tsq.sql}{where}",
            [self.model, *tsq.params, *params],
        )
        found: dict[int, set[int]] = {}
        for meeting_id, chunk_id in rows:
            found.setdefault(int(meeting_id), set()).add(int(chunk_id))
        return found

    def _frequencies(self, tsq: TsQuery) -> list[int]:
        """How many of this model's chunks hold each positive term: a
        phrase as many as its rarest word, a prefix all its words together,
        a word's spellings all of theirs."""
        return [sum(self._frequency(sql, params) for sql, params in term) for term in tsq.spellings]

    def _frequency(self, sql: str, params: list[object]) -> int:
        row = None
        if sql.startswith("to_tsquery"):
            tree = self.conn.execute(f"SELECT querytree({sql})", params).fetchone()
            stem = re.findall(r"'([^']*)'", tree[0] if tree else "")
            if stem:
                row = self.conn.execute(
                    "SELECT coalesce(sum(chunks), 0) FROM term_stats"
                    " WHERE model_id = %s AND lexeme >= %s AND lexeme < %s",
                    (self.model, stem[0], stem[0] + "\uffff"),
                ).fetchone()
        else:
            row = self.conn.execute(
                "SELECT coalesce(min(chunks), 0) FROM term_stats WHERE model_id = %s"
                f" AND lexeme = ANY(tsvector_to_array(to_tsvector('{TEXT_SEARCH}', %s)))",
                [self.model, *params],
            ).fetchone()
        return int(row[0]) if row else 0

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
