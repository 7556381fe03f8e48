"""The catalog database: bodies, meetings, speakers, segments and the
transcript cache, in SQLite with WAL so the web app can read while a job
writes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from catalog.chapters import ChapterBook
from catalog.connection import MEETING_COLUMNS, connect, meeting_from_row, transaction
from catalog.migrations import CATALOG_MIGRATIONS, apply_migrations
from catalog.persons import PersonBook
from catalog.settings import Settings
from catalog.speakers import SpeakerBook
from catalog.types import APPLY_AT, Body, Meeting, Segment
from catalog.votes import VoteBook

B = TypeVar("B")


@dataclass
class StoredDiarization:
    """A cached diarization as plain data: turns as (start, end, label) and
    each label's voice print as a list of floats."""

    turns: list[tuple[float, float, str]]
    prints: dict[str, list[float]]


def open_catalog(settings: Settings, read_only: bool = False, upgrade: bool = False) -> Catalog:
    """The catalog the settings name: PostgreSQL at ``database_url`` when
    set, else SQLite in the data directory. Every command, worker and web
    request opens it here. ``upgrade`` (``onrecord db upgrade``) may create
    and migrate PostgreSQL's tables; otherwise an old schema is refused."""
    if settings.database_url:
        from catalog.dialect import PgCatalogConnection

        conn = PgCatalogConnection(settings.database_url, upgrade=upgrade, read_only=read_only)
        try:
            return Catalog(settings.db_path, read_only, conn=conn)
        except BaseException:
            conn.close()
            raise
    return Catalog(settings.db_path, read_only)


class Catalog:
    """Reads and writes the pipeline's records. All catalog SQL lives here."""

    def __init__(self, db_path: Path, read_only: bool = False, conn: Any = None):
        """``read_only`` opens a connection that refuses writes and skips
        the migrations, which a writer must have applied first. ``conn``
        is a PostgreSQL one (``open_catalog``), whose schema is checked
        rather than migrated."""
        self.db_path = db_path
        self.conn = conn if conn is not None else connect(db_path, read_only)
        if not read_only or conn is not None:
            apply_migrations(self.conn, "catalog", CATALOG_MIGRATIONS)

    def close(self) -> None:
        self.conn.close()

    # -- the books: each owns its tables' SQL, on this catalog's connection --
    @cached_property
    def speakers(self) -> SpeakerBook:
        return SpeakerBook(self.conn)

    @cached_property
    def persons(self) -> PersonBook:
        return PersonBook(self.conn)

    @cached_property
    def votes(self) -> VoteBook:
        return VoteBook(self.conn)

    @cached_property
    def chapters(self) -> ChapterBook:
        return ChapterBook(self.conn)

    def book(self, name: str, make: Callable[[Any], B]) -> B:
        """Another component's book on this connection (search's saved
        searches), made once per catalog, so that nobody else needs it."""
        books = self.__dict__.setdefault("_books", {})
        if name not in books:
            books[name] = make(self.conn)
        return books[name]

    def transaction(self) -> AbstractContextManager[Any]:
        """One transaction over several books' writes."""
        return transaction(self.conn)

    # -- bodies ---------------------------------------------------------
    def body(self, name: str, create: bool = False) -> Body | None:
        row = self.conn.execute("SELECT id, name FROM bodies WHERE name = ?", (name,)).fetchone()
        if row is None and create:
            cur = self.conn.execute("INSERT INTO bodies (name) VALUES (?)", (name,))
            return Body(name=name, id=cur.lastrowid)
        return Body(name=row["name"], id=row["id"]) if row else None

    def bodies(self) -> list[Body]:
        rows = self.conn.execute("SELECT id, name FROM bodies ORDER BY name")
        return [Body(name=r["name"], id=r["id"]) for r in rows]

    # -- meetings -------------------------------------------------------
    def add_meeting(
        self, meeting: Meeting, source_key: str | None, segments: list[Segment] | None = None
    ) -> Meeting:
        """Record a meeting, and its transcript when it arrives with one
        (imported captions), in one transaction."""
        with transaction(self.conn):
            body = self.body(meeting.body, create=True)
            assert body is not None
            cur = self.conn.execute(
                "INSERT INTO meetings (body_id, title, meeting_date, duration, source_url,"
                " source_id, source_key, status, audio_path, audio_hash, transcript_source)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    body.id,
                    meeting.title,
                    meeting.date,
                    meeting.duration,
                    meeting.source_url,
                    meeting.source_id,
                    source_key,
                    meeting.status,
                    meeting.audio_path,
                    meeting.audio_hash,
                    meeting.transcript_source,
                ),
            )
            meeting.id = cur.lastrowid
            if segments is not None:
                self._write_segments(meeting.id, segments)
        return meeting

    def set_status(self, meeting_id: int, status: str, error: str | None = None) -> None:
        self.conn.execute(
            "UPDATE meetings SET status = ?, error = ?, updated_at = datetime('now') WHERE id = ?",
            (status, error, meeting_id),
        )

    def delete_meeting(self, meeting_id: int) -> None:
        self.conn.execute("DELETE FROM meetings WHERE id = ?", (meeting_id,))

    def meeting(self, meeting_id: int) -> Meeting | None:
        row = self.conn.execute(
            f"SELECT {MEETING_COLUMNS} FROM meetings m JOIN bodies b ON b.id = m.body_id WHERE m.id = ?",
            (meeting_id,),
        ).fetchone()
        return meeting_from_row(row) if row else None

    def meeting_by_source(self, source_key: str) -> Meeting | None:
        row = self.conn.execute(
            f"SELECT {MEETING_COLUMNS} FROM meetings m JOIN bodies b ON b.id = m.body_id"
            " WHERE m.source_key = ?",
            (source_key,),
        ).fetchone()
        return meeting_from_row(row) if row else None

    def meeting_by_hash(self, audio_hash: str) -> Meeting | None:
        row = self.conn.execute(
            f"SELECT {MEETING_COLUMNS} FROM meetings m JOIN bodies b ON b.id = m.body_id"
            " WHERE m.audio_hash = ?",
            (audio_hash,),
        ).fetchone()
        return meeting_from_row(row) if row else None

    def meetings(self, body: str | None = None) -> list[Meeting]:
        rows = self.conn.execute(
            f"SELECT {MEETING_COLUMNS} FROM meetings m JOIN bodies b ON b.id = m.body_id"
            " WHERE (? IS NULL OR b.name = ?)"
            " ORDER BY m.meeting_date DESC, m.id DESC",
            (body, body),
        )
        return [meeting_from_row(r) for r in rows]

    def meeting_dates(
        self,
        ids: list[int],
        body: str | None = None,
        since: str | None = None,
        until: str | None = None,
        meeting_id: int | None = None,
    ) -> list[tuple[int, str | None, str]]:
        """(id, date, body) of those of ``ids`` that pass the filters."""
        if not ids:
            return []
        rows = self.conn.execute(
            "SELECT m.id, m.meeting_date, b.name FROM meetings m JOIN bodies b ON b.id = m.body_id"
            f" WHERE m.id IN ({','.join('?' * len(ids))})"
            " AND (? IS NULL OR b.name = ? COLLATE NOCASE) AND (? IS NULL OR m.meeting_date >= ?)"
            " AND (? IS NULL OR m.meeting_date <= ?) AND (? IS NULL OR m.id = ?)",
            [*ids, body, body, since, since, until, until, meeting_id, meeting_id],
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    # -- segments -------------------------------------------------------
    def replace_segments(self, meeting_id: int, segments: list[Segment]) -> None:
        """Swap in a meeting's transcript in one transaction, so a rerun never
        leaves duplicates or a half-written transcript."""
        with transaction(self.conn):
            self._write_segments(meeting_id, segments)

    def _write_segments(self, meeting_id: int, segments: list[Segment]) -> None:
        self.conn.execute("DELETE FROM segments WHERE meeting_id = ?", (meeting_id,))
        # Keep speakers that are still there, with the names people gave them.
        labels = sorted({s.speaker for s in segments if s.speaker})
        existing = {
            r["label"]: r["id"]
            for r in self.conn.execute("SELECT id, label FROM speakers WHERE meeting_id = ?", (meeting_id,))
        }
        for label, speaker_id in existing.items():
            if label not in labels:
                self.conn.execute("DELETE FROM speakers WHERE id = ?", (speaker_id,))
        speaker_ids: dict[str, int | None] = {}
        for label in labels:
            if label in existing:
                speaker_ids[label] = existing[label]
                continue
            cur = self.conn.execute(
                "INSERT INTO speakers (meeting_id, label) VALUES (?, ?)", (meeting_id, label)
            )
            speaker_ids[label] = cur.lastrowid
        self.conn.executemany(
            "INSERT INTO segments (meeting_id, seq, start_time, end_time, text, words,"
            " speaker_id, avg_logprob, no_speech_prob, compression_ratio, turn)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    meeting_id,
                    seq,
                    s.start,
                    s.end,
                    s.text,
                    json.dumps([w.to_dict() for w in s.words]),
                    speaker_ids.get(s.speaker) if s.speaker else None,
                    s.avg_logprob,
                    s.no_speech_prob,
                    s.compression_ratio,
                    s.turn,
                )
                for seq, s in enumerate(segments)
            ],
        )

    def segments(
        self, meeting_id: int, start: float | None = None, end: float | None = None
    ) -> list[Segment]:
        """The transcript, each segment with its speaker's display name;
        with ``start`` and ``end``, only the segments overlapping that span
        (a search hit's quote reads a few, not the whole meeting)."""
        rows = self.conn.execute(
            "SELECT s.start_time, s.end_time, s.text, s.words, s.avg_logprob,"
            " s.no_speech_prob, s.compression_ratio, s.turn,"
            " COALESCE(sp.name, CASE WHEN sp.proposed_score >= ? THEN 'probably ' || sp.proposed_name END,"
            " sp.label) AS speaker"
            " FROM segments s LEFT JOIN speakers sp ON sp.id = s.speaker_id"
            " WHERE s.meeting_id = ? AND (? IS NULL OR s.end_time >= ?) AND (? IS NULL OR s.start_time <= ?)"
            " ORDER BY s.seq",
            (APPLY_AT, meeting_id, start, start, end, end),
        )
        return [
            Segment.from_dict(
                {
                    "start": r["start_time"],
                    "end": r["end_time"],
                    "text": r["text"],
                    "words": json.loads(r["words"]),
                    "speaker": r["speaker"],
                    "avg_logprob": r["avg_logprob"],
                    "no_speech_prob": r["no_speech_prob"],
                    "compression_ratio": r["compression_ratio"],
                    "turn": r["turn"],
                }
            )
            for r in rows
        ]

    # -- transcript cache -----------------------------------------------
    def open_transcript(
        self, key: str, audio_hash: str, engine: str, model: str, version: str, options: dict[str, Any]
    ) -> bool:
        """Register a transcript; returns True when it is already complete."""
        self.conn.execute(
            "INSERT OR IGNORE INTO transcripts (key, audio_hash, engine, model, version, options)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (key, audio_hash, engine, model, version, json.dumps(options, sort_keys=True)),
        )
        row = self.conn.execute("SELECT complete FROM transcripts WHERE key = ?", (key,)).fetchone()
        return bool(row["complete"])

    def transcript_segments(self, key: str) -> list[Segment]:
        rows = self.conn.execute(
            "SELECT data FROM transcript_segments WHERE transcript_key = ? ORDER BY seq", (key,)
        )
        return [Segment.from_dict(json.loads(r["data"])) for r in rows]

    def append_transcript_segments(self, key: str, first_seq: int, segments: Iterable[Segment]) -> None:
        with transaction(self.conn):
            self.conn.executemany(
                "INSERT OR REPLACE INTO transcript_segments (transcript_key, seq, data) VALUES (?, ?, ?)",
                [(key, first_seq + i, json.dumps(s.to_dict())) for i, s in enumerate(segments)],
            )

    def finish_transcript(self, key: str) -> None:
        self.conn.execute("UPDATE transcripts SET complete = 1 WHERE key = ?", (key,))

    # -- diarization cache ------------------------------------------------
    def diarization(self, key: str) -> StoredDiarization | None:
        row = self.conn.execute("SELECT turns, prints FROM diarizations WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        turns = [(float(s), float(e), str(label)) for s, e, label in json.loads(row["turns"])]
        return StoredDiarization(turns, json.loads(row["prints"]))

    def save_diarization(
        self,
        key: str,
        audio_hash: str,
        diarizer: str,
        version: str,
        options: dict[str, Any],
        turns: list[tuple[float, float, str]],
        prints: dict[str, list[float]],
    ) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO diarizations (key, audio_hash, diarizer, version, options, turns, prints)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                audio_hash,
                diarizer,
                version,
                json.dumps(options, sort_keys=True),
                json.dumps(turns),
                json.dumps(prints),
            ),
        )

    # -- nightly runs -----------------------------------------------------
    def start_run(self) -> tuple[int, str]:
        cur = self.conn.execute("INSERT INTO runs DEFAULT VALUES")
        row = self.conn.execute("SELECT started_at FROM runs WHERE id = ?", (cur.lastrowid,)).fetchone()
        return int(cur.lastrowid or 0), row[0]

    def finish_run(self, run_id: int, exit_code: int, report: str) -> str:
        self.conn.execute(
            "UPDATE runs SET finished_at = datetime('now'), exit_code = ?, report = ? WHERE id = ?",
            (exit_code, report, run_id),
        )
        return self.conn.execute("SELECT finished_at FROM runs WHERE id = ?", (run_id,)).fetchone()[0]

    def last_run(self) -> dict[str, Any] | None:
        """The latest nightly run, with its JSON report read back."""
        row = self.conn.execute(
            "SELECT id, started_at, finished_at, exit_code, report FROM runs ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        try:
            report = json.loads(row["report"]) if row["report"] else {}
        except ValueError:
            report = {}
        return {**dict(row), "report": report if isinstance(report, dict) else {}}

    def transcribed_seconds(self, audio_hash: str) -> float:
        """How far an unfinished transcription of this audio has come: the
        end of the last segment its cache has saved."""
        row = self.conn.execute(
            "SELECT ts.data FROM transcripts t JOIN transcript_segments ts ON ts.transcript_key = t.key"
            " WHERE t.audio_hash = ? AND t.complete = 0 ORDER BY ts.seq DESC LIMIT 1",
            (audio_hash,),
        ).fetchone()
        if row is None:
            return 0.0
        return float(json.loads(row[0]).get("end") or 0.0)

    def runs(self, limit: int = 20) -> list[dict[str, object]]:
        rows = self.conn.execute(
            "SELECT id, started_at, finished_at, exit_code FROM runs ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [dict(r) for r in rows]
