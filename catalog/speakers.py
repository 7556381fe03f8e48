"""Speakers of a meeting and the named voices each body remembers.

A speaker is first a label (SPEAKER_1…). A person names it; the name and
the voice print are kept for the body, so a later meeting's matching voice
is proposed ("probably Jason Lando") or, when the match is strong, shown as
such until someone confirms. A wrong name is worse than none, so proposals
below the threshold stay suggestions only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from catalog.connection import transaction
from catalog.errors import OnRecordError
from catalog.text import clean_text
from catalog.types import APPLY_AT, PROPOSE_AT  # noqa: F401  (callers read both here)

MAX_NAME_CHARS = 120


@dataclass
class SpeakerInfo:
    label: str
    name: str | None
    proposed_name: str | None
    proposed_score: float | None
    seconds: float
    sample: str

    @property
    def display(self) -> str:
        if self.name:
            return self.name
        if self.proposed_name and (self.proposed_score or 0) >= APPLY_AT:
            return f"probably {self.proposed_name}"
        return self.label

    def summary(self) -> dict[str, Any]:
        """The shape ``onrecord speakers --json`` and the API print."""
        return {
            "label": self.label,
            "name": self.name,
            "display": self.display,
            "proposed_name": self.proposed_name,
            "proposed_score": self.proposed_score,
            "seconds": round(self.seconds, 1),
            "sample": self.sample,
        }


def _vector(blob: bytes | None) -> np.ndarray | None:
    return np.frombuffer(blob, dtype=np.float32).copy() if blob else None


class SpeakerBook:
    """Reads and writes speakers and voices. All speaker SQL lives here."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def set_voices(self, meeting_id: int, prints: dict[str, tuple[np.ndarray, float]]) -> None:
        """Store each label's voice print and talk time."""
        with transaction(self.conn):
            for label, (vector, seconds) in prints.items():
                self.conn.execute(
                    "UPDATE speakers SET voice = ?, seconds = ? WHERE meeting_id = ? AND label = ?",
                    (np.asarray(vector, dtype=np.float32).tobytes(), seconds, meeting_id, label),
                )

    def speakers(self, meeting_id: int) -> list[SpeakerInfo]:
        rows = self.conn.execute(
            "SELECT sp.label, sp.name, sp.proposed_name, sp.proposed_score,"
            " COALESCE(sp.seconds, (SELECT sum(s.end_time - s.start_time) FROM segments s"
            "   WHERE s.speaker_id = sp.id), 0) AS seconds,"
            " (SELECT s.text FROM segments s WHERE s.speaker_id = sp.id"
            "   ORDER BY length(s.text) DESC LIMIT 1) AS sample"
            " FROM speakers sp WHERE sp.meeting_id = ? ORDER BY sp.label",
            (meeting_id,),
        )
        return [SpeakerInfo(r[0], r[1], r[2], r[3], float(r[4] or 0), r[5] or "") for r in rows]

    def voice(self, meeting_id: int, label: str) -> tuple[np.ndarray | None, float]:
        row = self.conn.execute(
            "SELECT voice, seconds FROM speakers WHERE meeting_id = ? AND label = ?", (meeting_id, label)
        ).fetchone()
        if row is None:
            raise OnRecordError(
                f"Meeting {meeting_id} has no speaker {label}; list them with: onrecord speakers"
            )
        return _vector(row[0]), float(row[1] or 0)

    def name(
        self,
        meeting_id: int,
        label: str,
        name: str,
        relabel: Callable[[int, str, str], None] | None = None,
    ) -> str:
        """Confirm a name; its voice joins (or refines) the body's voices.
        Returns the label's previous display name. ``relabel(meeting_id,
        before, name)`` (the index's ``rename_speaker``) runs inside the same
        transaction, so the name and the relabelled passages land together."""
        if not isinstance(name, str) or not name.strip():
            raise OnRecordError("The name is empty; give the speaker's name, e.g. 'Jason Lando'")
        name = clean_text(name, "The name", MAX_NAME_CHARS)
        before = {s.label: s.display for s in self.speakers(meeting_id)}
        if label not in before:
            raise OnRecordError(
                f"Meeting {meeting_id} has no speaker {label}; list them with: onrecord speakers"
            )
        vector, seconds = self.voice(meeting_id, label)
        with transaction(self.conn):
            self.conn.execute(
                "UPDATE speakers SET name = ? WHERE meeting_id = ? AND label = ?", (name, meeting_id, label)
            )
            if vector is not None:
                body_id = self.conn.execute(
                    "SELECT body_id FROM meetings WHERE id = ?", (meeting_id,)
                ).fetchone()[0]
                known = self.conn.execute(
                    "SELECT print, seconds FROM voices WHERE body_id = ? AND name = ?", (body_id, name)
                ).fetchone()
                if known:
                    # Weighted by talk time: a long stretch of speech says more.
                    old, old_seconds = _vector(known[0]), float(known[1])
                    assert old is not None
                    merged = old * old_seconds + vector * max(seconds, 1.0)
                    vector = merged / np.linalg.norm(merged)
                    seconds = old_seconds + max(seconds, 1.0)
                self.conn.execute(
                    "INSERT INTO voices (body_id, name, print, seconds) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (body_id, name) DO UPDATE SET print = excluded.print,"
                    " seconds = excluded.seconds, updated_at = datetime('now')",
                    (body_id, name, vector.astype(np.float32).tobytes(), seconds),
                )
            # The name is a person of the body's (catalog/persons.py).
            from catalog.persons import PersonBook

            PersonBook(self.conn).link_speaker(meeting_id, label, name)
            if relabel is not None:
                relabel(meeting_id, before[label], name)
        return before[label]

    def known_voices(self, body: str) -> dict[str, np.ndarray]:
        rows = self.conn.execute(
            "SELECT v.name, v.print FROM voices v JOIN bodies b ON b.id = v.body_id WHERE b.name = ?", (body,)
        )
        return {r[0]: np.frombuffer(r[1], dtype=np.float32).copy() for r in rows}

    def propose(self, meeting_id: int, proposals: dict[str, tuple[str, float]]) -> None:
        with transaction(self.conn):
            for label, (name, score) in proposals.items():
                self.conn.execute(
                    "UPDATE speakers SET proposed_name = ?, proposed_score = ?"
                    " WHERE meeting_id = ? AND label = ? AND name IS NULL",
                    (name, score, meeting_id, label),
                )
