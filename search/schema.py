"""The embedded search store's schema: numbered migrations of the tables
``SQLiteStore`` owns (the chunks, their FTS5 index, the vector maps, the
term variants)."""

from __future__ import annotations

SQLITE_MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        -- Databases made before the index owned this table have it from
        -- the catalog's first migration already.
        CREATE TABLE IF NOT EXISTS chunks (
            id INTEGER PRIMARY KEY,
            meeting_id INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            start_time REAL NOT NULL,
            end_time REAL NOT NULL,
            text TEXT NOT NULL,
            speaker TEXT,
            UNIQUE (meeting_id, seq)
        );
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
    (
        3,
        """
        -- The spellings codes and names take in transcripts (search/variants.py):
        -- key "#287g" holds "287 g", "287g" and "28 7g"; a Metaphone key holds
        -- the words that sound like it. roster marks names of people who spoke.
        CREATE TABLE term_variants (
            key TEXT NOT NULL,
            variant TEXT NOT NULL,
            roster INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (key, variant)
        ) WITHOUT ROWID;
        -- Meetings indexed before the table existed: the store reads their
        -- variants in when it next opens for writing, one meeting at a time.
        CREATE TABLE term_variants_todo (meeting_id INTEGER PRIMARY KEY);
        INSERT INTO term_variants_todo SELECT DISTINCT meeting_id FROM chunks;
        """,
    ),
]
