"""The catalog's connection rules, shared by the catalog and its books:
how a SQLite connection is opened, how a transaction is taken, and how a
meeting row reads. It imports no book, so every book can import it and
``catalog.db`` can import every book."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from catalog.types import Meeting

MEETING_COLUMNS = (
    "m.id, m.title, b.name AS body, m.source_url, m.source_id, m.meeting_date,"
    " m.duration, m.status, m.error, m.audio_path, m.audio_hash, m.transcript_source"
)


def connect(db_path: Path, read_only: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are opened explicitly
    with ``transaction``). A read-only one refuses every write, so a web
    request that only reads can never take the write lock; WAL lets it read
    while a job writes."""
    if not read_only:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=30, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    if read_only:
        # Not a ``mode=ro`` URI: that needs the WAL's -shm file to exist
        # already, which it does not once the last writer has closed.
        conn.execute("PRAGMA query_only = ON")
    else:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def meeting_from_row(row: sqlite3.Row) -> Meeting:
    """A meeting from a row selected with ``MEETING_COLUMNS``."""
    return Meeting(
        id=row["id"],
        title=row["title"],
        body=row["body"],
        source_url=row["source_url"],
        source_id=row["source_id"],
        date=row["meeting_date"],
        duration=row["duration"],
        status=row["status"],
        error=row["error"],
        audio_path=row["audio_path"],
        audio_hash=row["audio_hash"],
        transcript_source=row["transcript_source"],
    )
