"""Alerts waiting in a real outbox, for delivery tests that need no model:
a catalogued meeting, saved searches, and one queued alert for each."""

from __future__ import annotations

from pathlib import Path

from catalog import Catalog, Hit, Meeting, load_settings
from search.alerts import AlertBook, SavedSearch

BODY = "Springfield City Council"
QUOTE = "The police chief said officers will not help immigration enforcement agents."


def hit(meeting_id: int, start: float = 12.0, text: str = QUOTE) -> Hit:
    return Hit(
        meeting_id=meeting_id,
        meeting_title="Regular Meeting 2024-01-22",
        meeting_date="2024-01-22",
        body=BODY,
        start=start,
        end=start + 4.5,
        speaker="SPEAKER_2",
        text=text,
        score=1.0,
        url=f"http://127.0.0.1:8000/meetings/{meeting_id}#t={int(start)}",
    )


def queue_alerts(
    home: Path, notifies: list[str], query: str = "immigration enforcement"
) -> list[SavedSearch]:
    """One saved search per target, each with one alert queued for a meeting
    marked indexed (and checked), so nothing transcribes or evaluates it."""
    catalog = Catalog(load_settings(home).db_path)
    try:
        meeting = catalog.add_meeting(
            Meeting(
                title="Regular Meeting 2024-01-22",
                body=BODY,
                source_url="http://127.0.0.1/m.mp4",
                status="indexed",
            ),
            None,
        )
        assert meeting.id is not None
        book = AlertBook(catalog.conn)
        saved = [book.add(query, notify) for notify in notifies]
        for search in saved:
            book.record(search, meeting.id, [hit(meeting.id)])
        return saved
    finally:
        catalog.close()


def legacy(home: Path, saved_id: int, **columns: str) -> None:
    """Change a stored saved search as an older version could have saved it
    (before its input was checked): written straight into the table."""
    catalog = Catalog(load_settings(home).db_path)
    try:
        for column, value in columns.items():
            assert column in ("query", "notify")
            catalog.conn.execute(f"UPDATE saved_searches SET {column} = ? WHERE id = ?", (value, saved_id))
    finally:
        catalog.close()


def alert_rows(home: Path) -> list[dict[str, object]]:
    catalog = Catalog(load_settings(home).db_path)
    try:
        rows = catalog.conn.execute(
            "SELECT id, uid, saved_search_id, attempts, last_error, delivered_at FROM alerts ORDER BY id"
        )
        return [dict(r) for r in rows]
    finally:
        catalog.close()
