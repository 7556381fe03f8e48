"""Saved searches and their alerts.

An alert fires once per new matching passage: never repeated, never missed.
Evaluating a saved search against a meeting and recording what it found
happen in one transaction, into an outbox (``alerts``); delivery then works
through the outbox and marks each alert delivered. A crash before the
transaction leaves the meeting unchecked, so the next run checks it again; a
crash after it leaves undelivered alerts, which the next run sends.

Whoever delivers first claims the alert (one conditional UPDATE), so two
deliverers at once never send the same alert. A deliverer killed after
sending but before marking leaves its claim behind; the next one takes the
claim over once its holder is dead and sends again. Each delivery carries
the alert's ``uid`` (random, so never repeated across deletes or databases)
for the receiver to drop that rare repeat.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.headerregistry import Address
from urllib.parse import urlsplit

from catalog.connection import transaction
from catalog.db import Catalog
from catalog.errors import OnRecordError
from catalog.migrations import apply_migrations
from catalog.text import clean_text, xml_safe
from catalog.types import Hit
from search.query import MAX_QUERY_CHARS, SearchQuery

# MiniLM cosine similarity a passage needs for a semantic match. Chosen on
# QMSum (benchmarks/alert_threshold.py): the lowest value at which 90% of the
# passages above it are relevant to their query.
DEFAULT_MIN_SCORE = 0.55
# A meeting that dwells on a subject still sends a handful of alerts, not fifty.
MAX_ALERTS_PER_MEETING = 5
# An alert that failed this often is given up (and reported), so a dead
# target does not retry for ever.
MAX_ATTEMPTS = 5
# A claim older than this is taken over even when its holder cannot be asked
# whether it is alive (another machine): one delivery is bounded by its
# timeouts to well under a minute.
CLAIM_LEASE_SECONDS = 600
MAX_NOTIFY_CHARS = 2000
MAX_FILTER_CHARS = 200

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
        2,
        """
        -- Rebuilt with AUTOINCREMENT so that ids are never reused after a
        -- delete. Each saved search gets an unguessable feed token (rows
        -- saved before it: 144 random bits as hex) and the reason its last
        -- evaluation failed; each alert a random uid for Idempotency-Key and
        -- Message-ID, and a claim (who is delivering it, since when).
        -- The new tables point at each other before the old ones go, so
        -- dropping the old ones cascades into nothing.
        CREATE TABLE saved_searches_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            query TEXT NOT NULL,
            body TEXT,
            speaker TEXT,
            notify TEXT NOT NULL,
            min_score REAL NOT NULL,
            created_at TEXT NOT NULL DEFAULT (datetime('now')),
            feed_token TEXT NOT NULL UNIQUE,
            last_error TEXT
        );
        INSERT INTO saved_searches_new (id, query, body, speaker, notify, min_score, created_at, feed_token)
            SELECT id, query, body, speaker, notify, min_score, created_at, lower(hex(randomblob(18)))
            FROM saved_searches;
        CREATE TABLE alert_checked_new (
            saved_search_id INTEGER NOT NULL REFERENCES saved_searches_new(id) ON DELETE CASCADE,
            meeting_id INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
            PRIMARY KEY (saved_search_id, meeting_id)
        );
        INSERT INTO alert_checked_new SELECT saved_search_id, meeting_id FROM alert_checked;
        CREATE TABLE alerts_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            uid TEXT NOT NULL UNIQUE,
            saved_search_id INTEGER NOT NULL REFERENCES saved_searches_new(id) ON DELETE CASCADE,
            meeting_id INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
            start_time REAL NOT NULL,
            hit TEXT NOT NULL,
            created_at TEXT NOT NULL DEFAULT (datetime('now')),
            delivered_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            claimed_by TEXT,
            claimed_at REAL,
            UNIQUE (saved_search_id, meeting_id, start_time)
        );
        INSERT INTO alerts_new (id, uid, saved_search_id, meeting_id, start_time, hit, created_at,
                                delivered_at, attempts, last_error)
            SELECT id, lower(hex(randomblob(16))), saved_search_id, meeting_id, start_time, hit,
                   created_at, delivered_at, attempts, last_error
            FROM alerts;
        DROP TABLE alert_checked;
        DROP TABLE alerts;
        DROP TABLE saved_searches;
        ALTER TABLE saved_searches_new RENAME TO saved_searches;
        ALTER TABLE alert_checked_new RENAME TO alert_checked;
        ALTER TABLE alerts_new RENAME TO alerts;
        CREATE INDEX alerts_pending ON alerts(delivered_at) WHERE delivered_at IS NULL;
        """,
    ),
]

# On PostgreSQL, ids come from identity columns, never reused already, so
# migration 2 only adds its columns (random tokens for any rows saved before).
ALERT_POSTGRES = {
    2: """
        ALTER TABLE saved_searches ADD COLUMN feed_token TEXT UNIQUE, ADD COLUMN last_error TEXT;
        UPDATE saved_searches SET feed_token = replace(gen_random_uuid()::text, '-', '');
        ALTER TABLE saved_searches ALTER COLUMN feed_token SET NOT NULL;
        ALTER TABLE alerts ADD COLUMN uid TEXT UNIQUE, ADD COLUMN claimed_by TEXT,
            ADD COLUMN claimed_at DOUBLE PRECISION;
        UPDATE alerts SET uid = replace(gen_random_uuid()::text, '-', '');
        ALTER TABLE alerts ALTER COLUMN uid SET NOT NULL;
        """
}


@dataclass
class SavedSearch:
    id: int
    query: str
    body: str | None
    speaker: str | None
    notify: str
    min_score: float
    created_at: str = ""
    # The feed lives at /alerts/<feed_token>/feed.atom: unguessable, unlike the id.
    feed_token: str = ""
    # Why evaluating it last failed (None once it works again).
    last_error: str | None = None


@dataclass
class Alert:
    id: int
    saved_search: SavedSearch
    hit: Hit
    created_at: str
    delivered_at: str | None
    # Random and never reused: what Idempotency-Key and Message-ID carry.
    uid: str = ""
    attempts: int = 0
    last_error: str | None = None


def check_notify(notify: str) -> str:
    """``notify`` if it is a delivery target we can use; else an error that
    says what to give. Addresses are checked again when sending."""
    notify = clean_text(notify, "--notify", MAX_NOTIFY_CHARS)
    kind, _, target = notify.partition(":")
    if kind == "atom" and not target:
        return notify
    if kind == "webhook" and _good_url(target):
        return notify
    if kind == "email" and _good_address(target):
        return notify
    raise OnRecordError(
        f"--notify {notify!r} is not understood; use atom, webhook:https://… or email:name@example.org"
    )


def _good_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  raises on a port that is not a number from 0 to 65535
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in url


def _good_address(address: str) -> bool:
    try:
        parsed = Address(addr_spec=address)
    except (ValueError, IndexError):
        return False
    return bool(parsed.username and parsed.domain) and address.count("@") == 1


def _stored_hit(hit: Hit) -> Hit:
    """What reaches feeds, webhooks and email carries only what XML can."""
    text_fields = ("meeting_title", "body", "speaker", "text", "context")
    return replace(hit, **{f: xml_safe(v) for f in text_fields if isinstance(v := getattr(hit, f), str)})


def alerts_book(catalog: Catalog) -> AlertBook:
    """The saved searches and alerts kept beside ``catalog``: search owns
    them, the catalog's connection holds them (migrated on first use)."""
    return catalog.book("alerts", AlertBook)


class AlertBook:
    """Saved searches and the alert outbox. All alert SQL lives here."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        apply_migrations(conn, "alerts", ALERT_MIGRATIONS, ALERT_POSTGRES)

    def add(
        self,
        query: str,
        notify: str,
        body: str | None = None,
        speaker: str | None = None,
        min_score: float = DEFAULT_MIN_SCORE,
        backfill: bool = False,
    ) -> SavedSearch:
        """Save a search. It alerts on meetings indexed from now on (those
        still being transcribed included), unless ``backfill`` asks for the
        meetings already indexed too."""
        query = clean_text(query, "The saved search", MAX_QUERY_CHARS)
        SearchQuery(query)  # what a search would refuse, saving refuses now, not every night
        body = clean_text(body, "--body", MAX_FILTER_CHARS) if body is not None else None
        speaker = clean_text(speaker, "--speaker", MAX_FILTER_CHARS) if speaker is not None else None
        with transaction(self.conn):
            cur = self.conn.execute(
                "INSERT INTO saved_searches (query, body, speaker, notify, min_score, feed_token)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (query, body, speaker, check_notify(notify), min_score, secrets.token_urlsafe(18)),
            )
            if not backfill:
                self.conn.execute(
                    "INSERT INTO alert_checked (saved_search_id, meeting_id)"
                    " SELECT ?, id FROM meetings WHERE status = 'indexed'",
                    (cur.lastrowid,),
                )
        found = self.get(int(cur.lastrowid or 0))
        assert found is not None
        return found

    def get(self, saved_id: int) -> SavedSearch | None:
        row = self.conn.execute("SELECT * FROM saved_searches WHERE id = ?", (saved_id,)).fetchone()
        return SavedSearch(**dict(row)) if row else None

    def by_feed_token(self, token: str) -> SavedSearch | None:
        if not isinstance(token, str) or not token:
            return None
        row = self.conn.execute("SELECT * FROM saved_searches WHERE feed_token = ?", (token,)).fetchone()
        return SavedSearch(**dict(row)) if row else None

    def all(self) -> list[SavedSearch]:
        return [SavedSearch(**dict(r)) for r in self.conn.execute("SELECT * FROM saved_searches ORDER BY id")]

    def remove(self, saved_id: int) -> bool:
        return self.conn.execute("DELETE FROM saved_searches WHERE id = ?", (saved_id,)).rowcount > 0

    # -- evaluating -------------------------------------------------------
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
            self.conn.execute("UPDATE saved_searches SET last_error = NULL WHERE id = ?", (saved.id,))
            added = 0
            for hit in hits[:MAX_ALERTS_PER_MEETING]:
                cur = self.conn.execute(
                    "INSERT OR IGNORE INTO alerts (uid, saved_search_id, meeting_id, start_time, hit)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        uuid.uuid4().hex,
                        saved.id,
                        meeting_id,
                        hit.start,
                        json.dumps(_stored_hit(hit).to_dict()),
                    ),
                )
                added += cur.rowcount
        return added

    def evaluation_failed(self, saved_id: int, error: str) -> None:
        """The search could not be evaluated; its meetings stay unchecked."""
        self.conn.execute("UPDATE saved_searches SET last_error = ? WHERE id = ?", (error, saved_id))

    # -- the outbox -------------------------------------------------------
    def _alerts(self, where: str, params: tuple[object, ...], tail: str = " ORDER BY a.id") -> list[Alert]:
        rows = self.conn.execute(
            "SELECT a.id, a.uid, a.hit, a.created_at, a.delivered_at, a.saved_search_id, a.attempts,"
            f" a.last_error FROM alerts a WHERE {where}{tail}",
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
                r["uid"],
                r["attempts"],
                r["last_error"],
            )
            for r in rows
        ]

    def pending(self) -> list[Alert]:
        """Alerts still to send, claimed or not; ``claim`` decides who sends."""
        return self._alerts("a.delivered_at IS NULL AND a.attempts < ?", (MAX_ATTEMPTS,))

    def given_up(self) -> list[Alert]:
        """Alerts that failed MAX_ATTEMPTS times and are no longer tried."""
        return self._alerts("a.delivered_at IS NULL AND a.attempts >= ?", (MAX_ATTEMPTS,))

    def for_search(self, saved_id: int, limit: int = 50) -> list[Alert]:
        """The newest alerts of a saved search, newest first."""
        return self._alerts("a.saved_search_id = ?", (saved_id, limit), " ORDER BY a.id DESC LIMIT ?")

    def release_claims(self, holder_alive: Callable[[str], bool]) -> int:
        """Free the claims of deliverers that died (``holder_alive`` says,
        given a claimer's name) or that are older than the lease."""
        now = time.time()
        held = self.conn.execute(
            "SELECT DISTINCT claimed_by FROM alerts WHERE delivered_at IS NULL AND claimed_by IS NOT NULL"
        ).fetchall()
        freed = 0
        for (holder,) in held:
            freed += self.conn.execute(
                "UPDATE alerts SET claimed_by = NULL, claimed_at = NULL"
                " WHERE delivered_at IS NULL AND claimed_by = ? AND (? OR claimed_at < ?)",
                (holder, not holder_alive(holder), now - CLAIM_LEASE_SECONDS),
            ).rowcount
        return freed

    def claim(self, alert_id: int, claimer: str) -> bool:
        """Take an alert for sending; False when someone else has it or it is
        already sent. One statement, so two deliverers cannot both win."""
        return (
            self.conn.execute(
                "UPDATE alerts SET claimed_by = ?, claimed_at = ?"
                " WHERE id = ? AND delivered_at IS NULL AND attempts < ? AND claimed_by IS NULL",
                (claimer, time.time(), alert_id, MAX_ATTEMPTS),
            ).rowcount
            == 1
        )

    def delivered(self, alert_id: int) -> None:
        self.conn.execute("UPDATE alerts SET delivered_at = datetime('now') WHERE id = ?", (alert_id,))

    def failed(self, alert_id: int, error: str) -> int:
        """Record a failed try and release the claim; returns the tries so far."""
        self.conn.execute(
            "UPDATE alerts SET attempts = attempts + 1, last_error = ?, claimed_by = NULL, claimed_at = NULL"
            " WHERE id = ?",
            (error, alert_id),
        )
        row = self.conn.execute("SELECT attempts FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return int(row[0]) if row else 0
