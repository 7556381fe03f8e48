"""A meeting's chapters: its table of contents. All their SQL lives here.

Detection (minutes/chapters.py) rewrites a meeting's chapters whole, in one
transaction, and records which detector read it, so ``reindex`` reads again
only the meetings an older detector read.
"""

from __future__ import annotations

import sqlite3

from catalog.connection import transaction
from catalog.types import Chapter


class ChapterBook:
    """Reads and writes chapters."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def replace(self, meeting_id: int, chapters: list[Chapter], detector: str) -> None:
        with transaction(self.conn):
            self.conn.execute("DELETE FROM chapters WHERE meeting_id = ?", (meeting_id,))
            self.conn.executemany(
                "INSERT INTO chapters (meeting_id, seq, start_time, end_time, title, kind, agenda_item_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (meeting_id, seq, c.start, c.end, c.title, c.kind, c.agenda_item_id)
                    for seq, c in enumerate(chapters)
                ],
            )
            self.conn.execute(
                "INSERT OR REPLACE INTO chapter_detections (meeting_id, detector) VALUES (?, ?)",
                (meeting_id, detector),
            )

    def chapters(self, meeting_id: int) -> list[Chapter]:
        rows = self.conn.execute(
            "SELECT start_time, end_time, title, kind, agenda_item_id FROM chapters"
            " WHERE meeting_id = ? ORDER BY seq",
            (meeting_id,),
        )
        return [Chapter(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def undetected(self, detector: str) -> list[int]:
        """Meetings with a transcript (or an agenda) no detector of this
        version has read."""
        rows = self.conn.execute(
            "SELECT m.id FROM meetings m LEFT JOIN chapter_detections d ON d.meeting_id = m.id"
            " WHERE m.status IN ('indexing', 'indexed') AND (d.detector IS NULL OR d.detector != ?)"
            " ORDER BY m.id",
            (detector,),
        )
        return [r[0] for r in rows]

    def public_comment(self, meeting_ids: list[int] | None = None) -> dict[int, list[tuple[float, float]]]:
        """Each meeting's public-comment periods as (start, end) seconds."""
        rows = self.conn.execute(
            "SELECT meeting_id, start_time, end_time FROM chapters"
            " WHERE kind = 'public_comment' AND start_time IS NOT NULL ORDER BY meeting_id, seq"
        )
        wanted = set(meeting_ids) if meeting_ids is not None else None
        out: dict[int, list[tuple[float, float]]] = {}
        for meeting_id, start, end in rows:
            if wanted is None or meeting_id in wanted:
                out.setdefault(meeting_id, []).append(
                    (float(start), float(end if end is not None else start))
                )
        return out
