"""People who sit on bodies: their names as spoken or transcribed, their
Legistar ids, and their seats. All their SQL lives here."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from catalog.connection import MEETING_COLUMNS, meeting_from_row
from catalog.types import Meeting, Membership, Person


def normal_alias(text: str) -> str:
    return " ".join(text.lower().replace(".", " ").split())


def _key_id(key: str | None) -> int | None:
    tail = (key or "").rpartition(":")[2]
    return int(tail) if tail.isdigit() else None


# A speaker is this person when linked to them, or (named before links
# existed) when named with their name.
_SPEAKS_AS = "(sp.person_id = ? OR (sp.person_id IS NULL AND lower(sp.name) = lower(?)))"


class PersonBook:
    """Reads and writes persons, their aliases and memberships."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def _body_id(self, body: str) -> int:
        row = self.conn.execute("SELECT id FROM bodies WHERE name = ?", (body,)).fetchone()
        if row:
            return int(row[0])
        return int(self.conn.execute("INSERT INTO bodies (name) VALUES (?)", (body,)).lastrowid or 0)

    def person(self, person_id: int) -> Person | None:
        row = self.conn.execute(
            "SELECT id, name, legistar_key FROM persons WHERE id = ?", (person_id,)
        ).fetchone()
        return self._person(row) if row else None

    def _person(self, row: sqlite3.Row) -> Person:
        aliases = [
            r[0]
            for r in self.conn.execute(
                "SELECT alias FROM person_aliases WHERE person_id = ? ORDER BY alias", (row["id"],)
            )
        ]
        return Person(row["name"], aliases, _key_id(row["legistar_key"]), row["id"])

    def add_person(self, name: str, legistar_key: str | None = None, aliases: Iterable[str] = ()) -> int:
        """The person with this Legistar key (renamed if Legistar renamed
        them), or else a new one."""
        if legistar_key:
            row = self.conn.execute(
                "SELECT id FROM persons WHERE legistar_key = ?", (legistar_key,)
            ).fetchone()
            if row:
                self.conn.execute("UPDATE persons SET name = ? WHERE id = ?", (name, row[0]))
                self.add_aliases(int(row[0]), aliases)
                return int(row[0])
        cur = self.conn.execute(
            "INSERT INTO persons (name, legistar_key) VALUES (?, ?)", (name, legistar_key)
        )
        person_id = int(cur.lastrowid or 0)
        self.add_aliases(person_id, aliases)
        return person_id

    def add_aliases(self, person_id: int, aliases: Iterable[str]) -> None:
        self.conn.executemany(
            "INSERT OR IGNORE INTO person_aliases (person_id, alias) VALUES (?, ?)",
            [(person_id, normal_alias(a)) for a in aliases if normal_alias(a)],
        )

    def seat(self, person_id: int, body: str, date: str | None, title: str = "Member") -> None:
        """Record that the person sat on the body on ``date``: the seat's
        known span widens to cover it."""
        self.conn.execute(
            "INSERT INTO memberships (person_id, body_id, title, start_date, end_date) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (person_id, body_id, title) DO UPDATE SET"
            # Qualified: PostgreSQL calls a bare column here ambiguous.
            " start_date = CASE WHEN excluded.start_date IS NULL THEN memberships.start_date"
            "   WHEN memberships.start_date IS NULL OR excluded.start_date < memberships.start_date"
            "   THEN excluded.start_date ELSE memberships.start_date END,"
            " end_date = CASE WHEN excluded.end_date IS NULL THEN memberships.end_date"
            "   WHEN memberships.end_date IS NULL OR excluded.end_date > memberships.end_date"
            "   THEN excluded.end_date ELSE memberships.end_date END",
            (person_id, self._body_id(body), title, date, date),
        )

    def roster(self, body: str) -> list[Person]:
        """Everyone known to have sat on the body, with their aliases."""
        rows = self.conn.execute(
            "SELECT DISTINCT p.id, p.name, p.legistar_key FROM persons p"
            " JOIN memberships ms ON ms.person_id = p.id JOIN bodies b ON b.id = ms.body_id"
            " WHERE b.name = ? ORDER BY p.name",
            (body,),
        ).fetchall()
        return [self._person(r) for r in rows]

    def find_persons(self, name: str, body: str | None = None) -> list[Person]:
        """People whose name, last name or alias is ``name`` (any case)."""
        wanted = normal_alias(name)
        rows = self.conn.execute(
            "SELECT DISTINCT p.id, p.name, p.legistar_key FROM persons p"
            " LEFT JOIN person_aliases a ON a.person_id = p.id"
            " WHERE (lower(p.name) = ? OR a.alias = ? OR lower(p.name) LIKE ?)"
            " AND (? IS NULL OR EXISTS (SELECT 1 FROM memberships ms JOIN bodies b ON b.id = ms.body_id"
            "   WHERE ms.person_id = p.id AND b.name = ?))"
            " ORDER BY p.name",
            (wanted, wanted, f"% {wanted}", body, body),
        ).fetchall()
        return [self._person(r) for r in rows]

    def persons(self) -> list[Person]:
        rows = self.conn.execute("SELECT id, name, legistar_key FROM persons ORDER BY name").fetchall()
        return [self._person(r) for r in rows]

    def memberships(self, person_id: int) -> list[Membership]:
        rows = self.conn.execute(
            "SELECT ms.id, ms.person_id, b.name, ms.title, ms.start_date, ms.end_date FROM memberships ms"
            " JOIN bodies b ON b.id = ms.body_id WHERE ms.person_id = ? ORDER BY ms.start_date, b.name",
            (person_id,),
        )
        return [Membership(r[1], r[2], r[3], r[4], r[5], r[0]) for r in rows]

    def link_speaker(self, meeting_id: int, label: str, name: str) -> int:
        """The person a meeting's speaker was named as, one per body: the
        body's person of that name or alias, else the only one whose last
        name it ends with (a roll call heard "Kalb"; the speaker is named
        "Dan Kalb", which becomes the person's name), else a new person
        seated on the body. Call inside the naming's transaction."""
        row = self.conn.execute(
            "SELECT b.name, m.meeting_date FROM meetings m JOIN bodies b ON b.id = m.body_id WHERE m.id = ?",
            (meeting_id,),
        ).fetchone()
        body, date = row[0], row[1]
        found = self.find_persons(name, body)
        if not found and len(name.split()) > 1:
            last = [p for p in self.find_persons(name.split()[-1], body) if len(p.name.split()) == 1]
            if len(last) == 1 and last[0].legistar_id is None and last[0].id is not None:
                self.conn.execute("UPDATE persons SET name = ? WHERE id = ?", (name, last[0].id))
                found = last
        person_id = found[0].id if len(found) == 1 else None
        if person_id is None:
            person_id = self.add_person(name)
        self.add_aliases(person_id, [name])
        self.seat(person_id, body, date)
        self.conn.execute(
            "UPDATE speakers SET person_id = ? WHERE meeting_id = ? AND label = ?",
            (person_id, meeting_id, label),
        )
        return person_id

    def find_legistar(self, key: str) -> int | None:
        row = self.conn.execute("SELECT id FROM persons WHERE legistar_key = ?", (key,)).fetchone()
        return int(row[0]) if row else None

    def passages(self, person: Person, limit: int = 30) -> list[tuple[Meeting, float, str]]:
        """What a person said: segments of the speakers who are them, newest
        meetings first, longest passages first within a meeting (read-only;
        speakers and segments belong to the catalog)."""
        rows = self.conn.execute(
            f"SELECT {MEETING_COLUMNS}, s.start_time, s.text FROM segments s"
            " JOIN speakers sp ON sp.id = s.speaker_id JOIN meetings m ON m.id = s.meeting_id"
            f" JOIN bodies b ON b.id = m.body_id WHERE {_SPEAKS_AS}"
            " ORDER BY m.meeting_date DESC, m.id DESC, length(s.text) DESC LIMIT ?",
            (person.id, person.name, limit),
        ).fetchall()
        return [(meeting_from_row(r), float(r["start_time"]), r["text"]) for r in rows]

    def spoken_in(self, person: Person) -> list[tuple[Meeting, str, float]]:
        """The meetings a person spoke in, newest first: each with the name
        their passages carry there and their talk time in seconds."""
        rows = self.conn.execute(
            f"SELECT {MEETING_COLUMNS}, sp.name AS spoken, sum(s.end_time - s.start_time) AS talk"
            " FROM speakers sp JOIN segments s ON s.speaker_id = sp.id"
            " JOIN meetings m ON m.id = sp.meeting_id"
            f" JOIN bodies b ON b.id = m.body_id WHERE {_SPEAKS_AS}"
            " GROUP BY sp.id ORDER BY m.meeting_date DESC, m.id DESC",
            (person.id, person.name),
        ).fetchall()
        return [(meeting_from_row(r), r["spoken"], float(r["talk"] or 0.0)) for r in rows]
