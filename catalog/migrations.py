"""Numbered schema migrations, applied in order and recorded per component.

Each component (the catalog here, each search store in its own module) keeps
its own numbered list; ``schema_migrations`` records what has been applied so
that opening a database is always safe and cheap.
"""

from __future__ import annotations

from typing import Any

CATALOG_MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE bodies (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE
        );
        CREATE TABLE meetings (
            id INTEGER PRIMARY KEY,
            body_id INTEGER NOT NULL REFERENCES bodies(id),
            title TEXT NOT NULL,
            meeting_date TEXT,
            duration REAL,
            source_url TEXT NOT NULL,
            source_id TEXT,
            source_key TEXT UNIQUE,
            status TEXT NOT NULL DEFAULT 'queued',
            error TEXT,
            audio_path TEXT,
            audio_hash TEXT UNIQUE,
            created_at TEXT NOT NULL DEFAULT (datetime('now')),
            updated_at TEXT NOT NULL DEFAULT (datetime('now'))
        );
        CREATE INDEX meetings_body_date ON meetings(body_id, meeting_date);
        CREATE TABLE speakers (
            id INTEGER PRIMARY KEY,
            meeting_id INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
            label TEXT NOT NULL,
            name TEXT,
            UNIQUE (meeting_id, label)
        );
        CREATE TABLE segments (
            id INTEGER PRIMARY KEY,
            meeting_id INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            start_time REAL NOT NULL,
            end_time REAL NOT NULL,
            text TEXT NOT NULL,
            words TEXT NOT NULL DEFAULT '[]',
            speaker_id INTEGER REFERENCES speakers(id) ON DELETE SET NULL,
            avg_logprob REAL,
            no_speech_prob REAL,
            compression_ratio REAL,
            UNIQUE (meeting_id, seq)
        );
        -- Raw engine output, keyed by audio hash + engine + model + version +
        -- options, written a few segments at a time so a killed run resumes.
        CREATE TABLE transcripts (
            key TEXT PRIMARY KEY,
            audio_hash TEXT NOT NULL,
            engine TEXT NOT NULL,
            model TEXT NOT NULL,
            version TEXT NOT NULL,
            options TEXT NOT NULL,
            complete INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL DEFAULT (datetime('now'))
        );
        CREATE TABLE transcript_segments (
            transcript_key TEXT NOT NULL REFERENCES transcripts(key) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (transcript_key, seq)
        );
        """,
    ),
    (
        2,
        """
        -- Turns marked in captions (">>") without saying who speaks.
        ALTER TABLE segments ADD COLUMN turn INTEGER;
        -- Where a meeting's transcript came from: 'whisper' or 'captions'.
        ALTER TABLE meetings ADD COLUMN transcript_source TEXT NOT NULL DEFAULT 'whisper';
        """,
    ),
    (
        3,
        """
        -- One row per nightly run, with its JSON report.
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL DEFAULT (datetime('now')),
            finished_at TEXT,
            exit_code INTEGER,
            report TEXT
        );
        """,
    ),
    (
        4,
        """
        -- A meeting's speaker: its voice print (float32), talk time, and the
        -- name a known voice of the body suggests until a person confirms.
        ALTER TABLE speakers ADD COLUMN voice BLOB;
        ALTER TABLE speakers ADD COLUMN seconds REAL;
        ALTER TABLE speakers ADD COLUMN proposed_name TEXT;
        ALTER TABLE speakers ADD COLUMN proposed_score REAL;
        -- Named voices, remembered per body for later meetings.
        CREATE TABLE voices (
            id INTEGER PRIMARY KEY,
            body_id INTEGER NOT NULL REFERENCES bodies(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            print BLOB NOT NULL,
            seconds REAL NOT NULL,
            updated_at TEXT NOT NULL DEFAULT (datetime('now')),
            UNIQUE (body_id, name)
        );
        """,
    ),
    (
        5,
        """
        -- Finished diarizations, keyed by audio hash + diarizer + version +
        -- options, so a rerun or a resumed meeting does not diarize again.
        -- turns: JSON [[start, end, label], ...]; prints: JSON {label: [256 floats]}.
        CREATE TABLE diarizations (
            key TEXT PRIMARY KEY,
            audio_hash TEXT NOT NULL,
            diarizer TEXT NOT NULL,
            version TEXT NOT NULL,
            options TEXT NOT NULL,
            turns TEXT NOT NULL,
            prints TEXT NOT NULL,
            created_at TEXT NOT NULL DEFAULT (datetime('now'))
        );
        CREATE INDEX diarizations_audio ON diarizations(audio_hash);
        """,
    ),
    (
        6,
        """
        -- A meeting page reads each speaker's talk time and longest passage;
        -- without this, every speaker meant a scan of the whole archive.
        CREATE INDEX segments_speaker ON segments(speaker_id);
        """,
    ),
    (
        7,
        """
        -- People who sit on bodies. aliases: how their names are spoken or
        -- transcribed (lower case, as matched), so a garbled name resolves.
        CREATE TABLE persons (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            legistar_key TEXT UNIQUE,  -- 'client:PersonId'
            created_at TEXT NOT NULL DEFAULT (datetime('now'))
        );
        CREATE TABLE person_aliases (
            person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
            alias TEXT NOT NULL,
            PRIMARY KEY (person_id, alias)
        );
        -- A seat on a body; open dates are unknown, not forever.
        CREATE TABLE memberships (
            id INTEGER PRIMARY KEY,
            person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
            body_id INTEGER NOT NULL REFERENCES bodies(id) ON DELETE CASCADE,
            title TEXT NOT NULL DEFAULT 'Member',
            start_date TEXT,
            end_date TEXT,
            UNIQUE (person_id, body_id, title)
        );
        """,
    ),
    (
        8,
        """
        -- A meeting's agenda, from Legistar or read from the transcript.
        CREATE TABLE agenda_items (
            id INTEGER PRIMARY KEY,
            meeting_id INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            number TEXT,
            title TEXT NOT NULL,
            matter_file TEXT,
            matter_name TEXT,
            legistar_key TEXT UNIQUE,  -- 'client:EventItemId'
            start_time REAL
        );
        CREATE INDEX agenda_items_meeting ON agenda_items(meeting_id, seq);
        -- A Legistar event and the meeting it became (or was linked to).
        CREATE TABLE legistar_events (
            legistar_key TEXT PRIMARY KEY,  -- 'client:EventId'
            meeting_id INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
            in_site_url TEXT
        );
        """,
    ),
    (
        9,
        """
        -- Vote events from each source in rows of their own: detection
        -- rewrites only 'transcript' rows and an import only 'legistar' rows.
        -- A Legistar row's matched_id names the detected vote it was
        -- reconciled with (its second in the recording); listings show the
        -- pair as one event whose source is 'both'.
        CREATE TABLE vote_events (
            id INTEGER PRIMARY KEY,
            meeting_id INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
            agenda_item_id INTEGER REFERENCES agenda_items(id) ON DELETE SET NULL,
            source TEXT NOT NULL CHECK (source IN ('transcript', 'legistar')),
            motion TEXT NOT NULL,
            kind TEXT NOT NULL,
            result TEXT NOT NULL,
            yes INTEGER, no INTEGER, abstain INTEGER, absent INTEGER,
            start_time REAL,
            end_time REAL,
            confidence REAL NOT NULL DEFAULT 0.5,
            counted TEXT,                 -- JSON tally of the members' answers
            disagreements TEXT NOT NULL DEFAULT '[]',
            legistar_key TEXT UNIQUE,     -- 'client:EventItemId'
            matched_id INTEGER REFERENCES vote_events(id) ON DELETE SET NULL,
            detector TEXT,                -- detector version, for re-detection
            created_at TEXT NOT NULL DEFAULT (datetime('now'))
        );
        CREATE INDEX vote_events_meeting ON vote_events(meeting_id, start_time);
        CREATE TABLE member_votes (
            id INTEGER PRIMARY KEY,
            vote_event_id INTEGER NOT NULL REFERENCES vote_events(id) ON DELETE CASCADE,
            person_id INTEGER REFERENCES persons(id) ON DELETE SET NULL,
            name TEXT NOT NULL,           -- as spoken, or as the record gives it
            vote TEXT NOT NULL CHECK (vote IN ('yes', 'no', 'abstain', 'absent', 'unclear'))
        );
        CREATE INDEX member_votes_event ON member_votes(vote_event_id);
        CREATE INDEX member_votes_person ON member_votes(person_id);
        -- Which detector last read each meeting (even one with no votes),
        -- so reindex detects again only what an older detector read.
        -- Saved searches that fired on a vote (each fires once per vote).
        CREATE TABLE vote_watch_fired (
            saved_search_id INTEGER NOT NULL,
            vote_event_id INTEGER NOT NULL,
            PRIMARY KEY (saved_search_id, vote_event_id)
        );
        CREATE TABLE vote_detections (
            meeting_id INTEGER PRIMARY KEY REFERENCES meetings(id) ON DELETE CASCADE,
            detector TEXT NOT NULL,
            detected_at TEXT NOT NULL DEFAULT (datetime('now'))
        );
        """,
    ),
    (
        10,
        """
        -- A meeting's table of contents, in order: agenda items, public
        -- comment, votes and the rest, read from the transcript or taken from
        -- Legistar's agenda. Rewritten whole by each detection.
        CREATE TABLE chapters (
            id INTEGER PRIMARY KEY,
            meeting_id INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            start_time REAL,
            end_time REAL,
            title TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('agenda_item', 'public_comment', 'vote', 'other')),
            agenda_item_id INTEGER REFERENCES agenda_items(id) ON DELETE SET NULL,
            UNIQUE (meeting_id, seq)
        );
        -- Which detector last read each meeting, so reindex reads again only
        -- what an older one read.
        CREATE TABLE chapter_detections (
            meeting_id INTEGER PRIMARY KEY REFERENCES meetings(id) ON DELETE CASCADE,
            detector TEXT NOT NULL,
            detected_at TEXT NOT NULL DEFAULT (datetime('now'))
        );
        -- The person a named speaker is: names given in one meeting, roll-call
        -- names and Legistar's persons meet here, one person per body.
        ALTER TABLE speakers ADD COLUMN person_id INTEGER REFERENCES persons(id) ON DELETE SET NULL;
        CREATE INDEX speakers_person ON speakers(person_id);
        """,
    ),
]


def apply_migrations(
    conn: Any, component: str, migrations: list[tuple[int, str]], postgres: dict[int, str] | None = None
) -> None:
    """Apply what a component's schema lacks. On PostgreSQL (a connection
    from catalog.dialect) the same numbers are translated, ``postgres``
    giving a migration's own text where SQLite's would not run."""
    if getattr(conn, "dialect", "sqlite") == "postgresql":
        conn.migrate(component, migrations, postgres)
        return
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " component TEXT NOT NULL, version INTEGER NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT (datetime('now')),"
        " PRIMARY KEY (component, version))"
    )
    done = {
        row[0]
        for row in conn.execute("SELECT version FROM schema_migrations WHERE component = ?", (component,))
    }
    for version, sql in migrations:
        if version in done:
            continue
        # The script opens a transaction that stays open, so the migration and
        # its record land together or not at all.
        try:
            conn.executescript("BEGIN;\n" + sql)
            conn.execute(
                "INSERT INTO schema_migrations (component, version) VALUES (?, ?)",
                (component, version),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
