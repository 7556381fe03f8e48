"""Saved searches and their alerts.

An alert fires once per new matching passage: never repeated, never missed.
Evaluating a saved search against a meeting and recording what it found
happen in one transaction, into an outbox (``alerts``); delivery then works
through the outbox and marks each alert delivered. A crash before the
transaction leaves the meeting unchecked, so the next run checks it again; a
crash after it leaves undelivered alerts, which the next run sends. Each
delivery carries the alert's id so a receiver can drop the rare repeat of a
crash between sending and marking.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass

from catalog.db import transaction
from catalog.errors import OnRecordError
from catalog.migrations import apply_migrations
from catalog.types import Hit

# MiniLM cosine similarity a passage needs for a semantic match. Chosen on
# QMSum (benchmarks/alert_threshold.py): the lowest value at which 90% of the
# passages above it are relevant to their query.
DEFAULT_MIN_SCORE = 0.55
# A meeting that dwells on a subject still sends a handful of alerts, not fifty.
MAX_ALERTS_PER_MEETING = 5
MAX_ATTEMPTS = 5

ALERT_MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE saved_searches (
            id INTEGER PRIMARY KEY,
            query TEXT NOT NULL,
            body TEXT,
            speaker TEXT,
            notify TEXT NOT NULL,
            min_score REAL NOT NULL,
            created_at TEXT NOT NULL DEFAULT (datetime('now'))
        );
        CREATE TABLE alert_checked (
            saved_search_id INTEGER NOT NULL REFERENCES saved_searches(id) ON DELETE CASCADE,
            meeting_id INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
            PRIMARY KEY (saved_search_id, meeting_id)
        );
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            saved_search_id INTEGER NOT NULL REFERENCES saved_searches(id) ON DELETE CASCADE,
            meeting_id INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
            start_time REAL NOT NULL,
            hit TEXT NOT NULL,
            created_at TEXT NOT NULL DEFAULT (datetime('now')),
            delivered_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            UNIQUE (saved_search_id, meeting_id, start_time)
        );
        CREATE INDEX alerts_pending ON alerts(delivered_at) WHERE delivered_at IS NULL;
        """,
    ),
    (
        # Stand-in by i11-web for i11-jobs' feed tokens (NOTES.md); theirs wins on merge.
        2,
        """
        ALTER TABLE saved_searches ADD COLUMN feed_token TEXT;
        UPDATE saved_searches SET feed_token = lower(hex(randomblob(18)));
        CREATE UNIQUE INDEX saved_searches_feed_token ON saved_searches(feed_token);
        """,
    ),
]


@dataclass
class SavedSearch:
    id: int
    query: str
    body: str | None
    speaker: str | None
    notify: str
    min_score: float
    created_at: str = ""
    feed_token: str = ""


@dataclass
class Alert:
    id: int
    saved_search: SavedSearch
    hit: Hit
    created_at: str
    delivered_at: str | None


def check_notify(notify: str) -> str:
    kind, _, target = notify.partition(":")
    if kind == "atom" and not target:
        return notify
    if kind == "webhook" and target.startswith(("http://", "https://")):
        return notify
    if kind == "email" and "@" in target:
        return notify
    raise OnRecordError(
        f"--notify {notify!r} is not understood; use atom, webhook:https://… or email:name@example.org"
    )


class AlertBook:
    """Saved searches and the alert outbox. All alert SQL lives here."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        apply_migrations(conn, "alerts", ALERT_MIGRATIONS)

    def add(
        self,
        query: str,
        notify: str,
        body: str | None = None,
        speaker: str | None = None,
        min_score: float = DEFAULT_MIN_SCORE,
        backfill: bool = False,
    ) -> SavedSearch:
        """Save a search. It alerts on meetings indexed from now on, unless
        ``backfill`` asks for the meetings already in the catalog too."""
        if not query.strip():
            raise OnRecordError("The saved search is empty; give the words to watch for")
        with transaction(self.conn):
            cur = self.conn.execute(
                "INSERT INTO saved_searches (query, body, speaker, notify, min_score, feed_token)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (query.strip(), body, speaker, check_notify(notify), min_score, secrets.token_urlsafe(18)),
            )
            if not backfill:
                self.conn.execute(
                    "INSERT INTO alert_checked (saved_search_id, meeting_id) SELECT ?, id FROM meetings",
                    (cur.lastrowid,),
                )
        found = self.get(int(cur.lastrowid or 0))
        assert found is not None
        return found

    def get(self, saved_id: int) -> SavedSearch | None:
        row = self.conn.execute("SELECT * FROM saved_searches WHERE id = ?", (saved_id,)).fetchone()
        return SavedSearch(**dict(row)) if row else None

    def by_feed_token(self, token: str) -> SavedSearch | None:
        row = self.conn.execute("SELECT * FROM saved_searches WHERE feed_token = ?", (token,)).fetchone()
        return SavedSearch(**dict(row)) if row else None

    def all(self) -> list[SavedSearch]:
        return [SavedSearch(**dict(r)) for r in self.conn.execute("SELECT * FROM saved_searches ORDER BY id")]

    def remove(self, saved_id: int) -> bool:
        return self.conn.execute("DELETE FROM saved_searches WHERE id = ?", (saved_id,)).rowcount > 0

    def unchecked_meetings(self, saved: SavedSearch) -> list[int]:
        rows = self.conn.execute(
            "SELECT m.id FROM meetings m WHERE m.status = 'indexed' AND NOT EXISTS ("
            " SELECT 1 FROM alert_checked c WHERE c.saved_search_id = ? AND c.meeting_id = m.id)"
            " ORDER BY m.id",
            (saved.id,),
        )
        return [r[0] for r in rows]

    def record(self, saved: SavedSearch, meeting_id: int, hits: list[Hit]) -> int:
        """Mark the meeting checked and queue its alerts, all or nothing."""
        with transaction(self.conn):
            self.conn.execute(
                "INSERT OR IGNORE INTO alert_checked (saved_search_id, meeting_id) VALUES (?, ?)",
                (saved.id, meeting_id),
            )
            added = 0
            for hit in hits[:MAX_ALERTS_PER_MEETING]:
                cur = self.conn.execute(
                    "INSERT OR IGNORE INTO alerts (saved_search_id, meeting_id, start_time, hit)"
                    " VALUES (?, ?, ?, ?)",
                    (saved.id, meeting_id, hit.start, json.dumps(hit.to_dict())),
                )
                added += cur.rowcount
        return added

    def _alerts(self, where: str, params: tuple[object, ...]) -> list[Alert]:
        rows = self.conn.execute(
            "SELECT a.id, a.hit, a.created_at, a.delivered_at, a.saved_search_id FROM alerts a"
            f" WHERE {where} ORDER BY a.id",
            params,
        ).fetchall()
        searches = {s.id: s for s in self.all()}
        return [
            Alert(
                r["id"],
                searches[r["saved_search_id"]],
                Hit.from_dict(json.loads(r["hit"])),
                r["created_at"],
                r["delivered_at"],
            )
            for r in rows
        ]

    def pending(self) -> list[Alert]:
        return self._alerts("a.delivered_at IS NULL AND a.attempts < ?", (MAX_ATTEMPTS,))

    def for_search(self, saved_id: int, limit: int = 50) -> list[Alert]:
        return self._alerts("a.saved_search_id = ?", (saved_id,))[-limit:][::-1]

    def delivered(self, alert_id: int) -> None:
        self.conn.execute("UPDATE alerts SET delivered_at = datetime('now') WHERE id = ?", (alert_id,))

    def failed(self, alert_id: int, error: str) -> None:
        self.conn.execute(
            "UPDATE alerts SET attempts = attempts + 1, last_error = ? WHERE id = ?", (error, alert_id)
        )
