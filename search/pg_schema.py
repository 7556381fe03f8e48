"""PostgreSQL's search schema: numbered migrations of the tables ``PgStore``
owns (the chunks with their words and vectors, the term statistics, the
term variants), as search/schema.py holds SQLite's."""

from __future__ import annotations

from search.pg_words import TEXT_SEARCH

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
