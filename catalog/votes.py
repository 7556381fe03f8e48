"""Persons, memberships, agenda items and votes. All their SQL lives here.

Each source of votes writes only its own rows: detection from the
transcript replaces the meeting's 'transcript' rows, a Legistar import its
'legistar' rows. Reconciliation links a Legistar vote to the detected vote
of the same item (``matched_id``); listings then show the pair as one event
whose source is 'both', with Legistar's official record and the
transcript's second, and every point where the two differ kept as a
disagreement rather than silently resolved.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from catalog.connection import MEETING_COLUMNS, meeting_from_row, transaction
from catalog.errors import OnRecordError
from catalog.persons import PersonBook, _key_id
from catalog.types import AgendaItem, Meeting, MemberVote, VoteEvent, parse_date
from catalog.vote_export import merge

if TYPE_CHECKING:
    from catalog.db import Catalog

VOTE_COLUMNS = (
    "v.id, v.meeting_id, v.agenda_item_id, v.source, v.motion, v.kind, v.result, v.yes, v.no,"
    " v.abstain, v.absent, v.start_time, v.end_time, v.confidence, v.counted, v.disagreements,"
    " v.legistar_key, v.matched_id"
)


@dataclass
class VoteFilter:
    meeting_id: int | None = None
    body: str | None = None
    person_ids: tuple[int, ...] | None = None
    since: str | None = None
    until: str | None = None
    result: str | None = None


class VoteBook:
    """Reads and writes who sits where and how they voted."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    # -- Legistar events and agenda items ------------------------------------
    def meeting_for_event(self, key: str) -> int | None:
        row = self.conn.execute(
            "SELECT meeting_id FROM legistar_events WHERE legistar_key = ?", (key,)
        ).fetchone()
        return int(row[0]) if row else None

    def link_event(self, key: str, meeting_id: int, in_site_url: str | None) -> None:
        self.conn.execute(
            "INSERT INTO legistar_events (legistar_key, meeting_id, in_site_url) VALUES (?, ?, ?)"
            " ON CONFLICT (legistar_key) DO UPDATE SET meeting_id = excluded.meeting_id,"
            " in_site_url = excluded.in_site_url",
            (key, meeting_id, in_site_url),
        )

    def linked_meetings(self) -> set[int]:
        return {r[0] for r in self.conn.execute("SELECT meeting_id FROM legistar_events")}

    def placeholder_for(self, meeting_id: int, body: str, date: str) -> int | None:
        """A meeting made from a Legistar event of the same body and date
        that has no recording (and is not this one)."""
        row = self.conn.execute(
            "SELECT m.id FROM meetings m JOIN bodies b ON b.id = m.body_id"
            " JOIN legistar_events le ON le.meeting_id = m.id"
            " WHERE b.name = ? AND m.meeting_date = ? AND m.id != ? AND m.transcript_source = 'legistar'"
            " ORDER BY m.id LIMIT 1",
            (body, date, meeting_id),
        ).fetchone()
        return int(row[0]) if row else None

    def move_meeting_records(self, source: int, target: int) -> None:
        """Hand a placeholder's agenda, Legistar votes and event links to
        the meeting its recording became."""
        with transaction(self.conn):
            for table in ("agenda_items", "legistar_events"):
                self.conn.execute(f"UPDATE {table} SET meeting_id = ? WHERE meeting_id = ?", (target, source))
            self.conn.execute(
                "UPDATE vote_events SET meeting_id = ? WHERE meeting_id = ? AND source = 'legistar'",
                (target, source),
            )

    def put_agenda_item(self, item: AgendaItem, legistar_key: str | None) -> int:
        if legistar_key:
            row = self.conn.execute(
                "SELECT id FROM agenda_items WHERE legistar_key = ?", (legistar_key,)
            ).fetchone()
            if row:
                self.conn.execute(
                    "UPDATE agenda_items SET meeting_id = ?, seq = ?, number = ?, title = ?, matter_file = ?,"
                    " matter_name = ? WHERE id = ?",
                    (
                        item.meeting_id,
                        item.seq,
                        item.number,
                        item.title,
                        item.matter_file,
                        item.matter_name,
                        row[0],
                    ),
                )
                return int(row[0])
        cur = self.conn.execute(
            "INSERT INTO agenda_items (meeting_id, seq, number, title, matter_file, matter_name,"
            " legistar_key, start_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item.meeting_id,
                item.seq,
                item.number,
                item.title,
                item.matter_file,
                item.matter_name,
                legistar_key,
                item.start,
            ),
        )
        return int(cur.lastrowid or 0)

    def agenda(self, meeting_id: int) -> list[AgendaItem]:
        rows = self.conn.execute(
            "SELECT id, meeting_id, seq, number, title, matter_file, matter_name, legistar_key, start_time"
            " FROM agenda_items WHERE meeting_id = ? ORDER BY seq, id",
            (meeting_id,),
        )
        return [
            AgendaItem(
                r["meeting_id"],
                r["seq"],
                r["title"],
                r["number"],
                r["matter_file"],
                r["matter_name"],
                _key_id(r["legistar_key"]),
                r["start_time"],
                r["id"],
            )
            for r in rows
        ]

    def set_item_starts(self, starts: dict[int, float]) -> None:
        self.conn.executemany(
            "UPDATE agenda_items SET start_time = ? WHERE id = ?", [(s, i) for i, s in starts.items()]
        )

    # -- vote events -----------------------------------------------------------
    def _insert_event(
        self, event: VoteEvent, source: str, legistar_key: str | None, detector: str | None
    ) -> int:
        assert event.meeting_id is not None
        cur = self.conn.execute(
            "INSERT INTO vote_events (meeting_id, agenda_item_id, source, motion, kind, result, yes, no,"
            " abstain, absent, start_time, end_time, confidence, counted, disagreements, legistar_key,"
            " detector)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.meeting_id,
                event.agenda_item_id,
                source,
                *_outcome(event),
                event.start,
                event.end,
                event.confidence,
                json.dumps(event.counted) if event.counted is not None else None,
                json.dumps(event.disagreements),
                legistar_key,
                detector,
            ),
        )
        vote_id = int(cur.lastrowid or 0)
        self._write_members(vote_id, event.members)
        return vote_id

    def _write_members(self, vote_id: int, members: list[MemberVote]) -> None:
        self.conn.execute("DELETE FROM member_votes WHERE vote_event_id = ?", (vote_id,))
        self.conn.executemany(
            "INSERT INTO member_votes (vote_event_id, person_id, name, vote) VALUES (?, ?, ?, ?)",
            [(vote_id, m.person_id, m.name, m.vote) for m in members],
        )

    def replace_detected(self, meeting_id: int, events: list[VoteEvent], detector: str) -> list[int]:
        """Swap in the votes detected in a meeting's transcript, in one
        transaction; Legistar's rows stay (their links are redone by
        ``set_matches``)."""
        with transaction(self.conn):
            self.conn.execute(
                "DELETE FROM vote_events WHERE meeting_id = ? AND source = 'transcript'", (meeting_id,)
            )
            self.conn.execute(
                "INSERT OR REPLACE INTO vote_detections (meeting_id, detector) VALUES (?, ?)",
                (meeting_id, detector),
            )
            return [
                self._insert_event(replace(e, meeting_id=meeting_id), "transcript", None, detector)
                for e in events
            ]

    def put_legistar_vote(self, event: VoteEvent, legistar_key: str) -> int:
        """Write (or rewrite in place, keeping its id and its link) one
        Legistar vote; call inside a transaction."""
        row = self.conn.execute(
            "SELECT id FROM vote_events WHERE legistar_key = ?", (legistar_key,)
        ).fetchone()
        if row is None:
            return self._insert_event(event, "legistar", legistar_key, None)
        self.conn.execute(
            "UPDATE vote_events SET meeting_id = ?, agenda_item_id = ?, motion = ?, kind = ?, result = ?,"
            " yes = ?, no = ?, abstain = ?, absent = ?, disagreements = ? WHERE id = ?",
            (
                event.meeting_id,
                event.agenda_item_id,
                *_outcome(event),
                json.dumps(event.disagreements),
                row[0],
            ),
        )
        self._write_members(int(row[0]), event.members)
        return int(row[0])

    def undetected(self, detector: str) -> list[int]:
        """Transcribed meetings no detector of this version has read."""
        rows = self.conn.execute(
            "SELECT m.id FROM meetings m LEFT JOIN vote_detections d ON d.meeting_id = m.id"
            " WHERE m.status IN ('indexing', 'indexed') AND (d.detector IS NULL OR d.detector != ?)"
            " ORDER BY m.id",
            (detector,),
        )
        return [r[0] for r in rows]

    def set_matches(self, meeting_id: int, pairs: dict[int, int | None]) -> None:
        """Link Legistar votes (keys) to detected ones (values, or None)."""
        with transaction(self.conn):
            for legistar_id, transcript_id in pairs.items():
                self.conn.execute(
                    "UPDATE vote_events SET matched_id = ?"
                    " WHERE id = ? AND meeting_id = ? AND source = 'legistar'",
                    (transcript_id, legistar_id, meeting_id),
                )

    def raw_events(self, meeting_id: int, source: str | None = None) -> list[VoteEvent]:
        """One source's rows for a meeting, unmerged, in time order."""
        rows = self.conn.execute(
            f"SELECT {VOTE_COLUMNS} FROM vote_events v WHERE v.meeting_id = ? AND (? IS NULL OR v.source = ?)"
            " ORDER BY v.start_time IS NULL, v.start_time, v.id",
            (meeting_id, source, source),
        ).fetchall()
        return self._events(rows)

    def _events(self, rows: list[sqlite3.Row]) -> list[VoteEvent]:
        ids = [r["id"] for r in rows]
        members: dict[int, list[MemberVote]] = {i: [] for i in ids}
        items: dict[int, str] = {}
        if ids:
            marks = ",".join("?" * len(ids))
            for m in self.conn.execute(
                "SELECT mv.vote_event_id, mv.name, mv.vote, mv.person_id, p.name AS person"
                " FROM member_votes mv LEFT JOIN persons p ON p.id = mv.person_id"
                f" WHERE mv.vote_event_id IN ({marks}) ORDER BY mv.id",
                ids,
            ):
                members[m["vote_event_id"]].append(
                    MemberVote(m["name"], m["vote"], m["person_id"], m["person"])
                )
            item_ids = [r["agenda_item_id"] for r in rows if r["agenda_item_id"]]
            if item_ids:
                for item in self.conn.execute(
                    "SELECT id, number, title, matter_file FROM agenda_items"
                    f" WHERE id IN ({','.join('?' * len(item_ids))})",
                    item_ids,
                ):
                    items[item["id"]] = AgendaItem(
                        None, 0, item["title"], item["number"], item["matter_file"]
                    ).label
        events = []
        for r in rows:
            event = VoteEvent(
                meeting_id=r["meeting_id"],
                motion=r["motion"],
                kind=r["kind"],
                result=r["result"],
                yes=r["yes"],
                no=r["no"],
                abstain=r["abstain"],
                absent=r["absent"],
                start=r["start_time"],
                end=r["end_time"],
                source=r["source"],
                confidence=r["confidence"],
                members=members[r["id"]],
                agenda_item=items.get(r["agenda_item_id"]),
                agenda_item_id=r["agenda_item_id"],
                counted=json.loads(r["counted"]) if r["counted"] else None,
                disagreements=json.loads(r["disagreements"] or "[]"),
                legistar_id=_key_id(r["legistar_key"]),
                twin_id=r["matched_id"],
                id=r["id"],
            )
            events.append(event)
        return events

    def listing(self, where: VoteFilter) -> list[tuple[VoteEvent, Meeting]]:
        """Votes as users see them, oldest meeting first and in the order
        taken: each reconciled pair merged into one event."""
        if where.since and where.until and where.since > where.until:
            raise OnRecordError(f"--since {where.since} is after --until {where.until}; swap them")
        rows = self.conn.execute(
            f"SELECT {VOTE_COLUMNS} FROM vote_events v JOIN meetings m ON m.id = v.meeting_id"
            " JOIN bodies b ON b.id = m.body_id"
            " WHERE (? IS NULL OR v.meeting_id = ?) AND (? IS NULL OR b.name = ?)"
            " AND (? IS NULL OR m.meeting_date >= ?) AND (? IS NULL OR m.meeting_date <= ?)"
            " ORDER BY m.meeting_date, m.id, v.start_time IS NULL, v.start_time, v.id",
            (
                where.meeting_id,
                where.meeting_id,
                where.body,
                where.body,
                where.since,
                where.since,
                where.until,
                where.until,
            ),
        ).fetchall()
        events = self._events(rows)
        by_id = {e.id: e for e in events}
        matched = {e.twin_id for e in events if e.source == "legistar"} - {None}
        merged = [merge(e, by_id.get(e.twin_id or -1)) for e in events if e.id not in matched]
        merged.sort(key=lambda e: (e.start is None, e.start or 0.0))
        meetings: dict[int, Meeting] = {}
        out = []
        for event in merged:
            if where.result and event.result != where.result:
                continue
            if where.person_ids is not None and not any(
                m.person_id in where.person_ids for m in event.members
            ):
                continue
            assert event.meeting_id is not None
            if event.meeting_id not in meetings:
                row = self.conn.execute(
                    f"SELECT {MEETING_COLUMNS} FROM meetings m JOIN bodies b ON b.id = m.body_id"
                    " WHERE m.id = ?",
                    (event.meeting_id,),
                ).fetchone()
                meetings[event.meeting_id] = meeting_from_row(row)
            out.append((event, meetings[event.meeting_id]))
        out.sort(
            key=lambda pair: (pair[1].date or "", pair[1].id or 0, pair[0].start is None, pair[0].start or 0)
        )
        return out

    def created(self, vote_ids: list[int]) -> dict[int, str]:
        if not vote_ids:
            return {}
        marks = ",".join("?" * len(vote_ids))
        rows = self.conn.execute(f"SELECT id, created_at FROM vote_events WHERE id IN ({marks})", vote_ids)
        return {r[0]: r[1] for r in rows}

    def fired(self, saved_search_id: int) -> set[int]:
        rows = self.conn.execute(
            "SELECT vote_event_id FROM vote_watch_fired WHERE saved_search_id = ?", (saved_search_id,)
        )
        return {r[0] for r in rows}

    def mark_fired(self, saved_search_id: int, vote_ids: list[int]) -> None:
        self.conn.executemany(
            "INSERT OR IGNORE INTO vote_watch_fired (saved_search_id, vote_event_id) VALUES (?, ?)",
            [(saved_search_id, v) for v in vote_ids],
        )

    def get(self, vote_id: int) -> tuple[VoteEvent, Meeting] | None:
        row = self.conn.execute("SELECT meeting_id FROM vote_events WHERE id = ?", (vote_id,)).fetchone()
        if row is None:
            return None
        for event, meeting in self.listing(VoteFilter(meeting_id=row[0])):
            if vote_id in (event.id, event.twin_id):
                return event, meeting
        return None


def _outcome(event: VoteEvent) -> tuple[object, ...]:
    """The columns motion, kind, result, yes, no, abstain, absent, in order."""
    return (event.motion, event.kind, event.result, event.yes, event.no, event.abstain, event.absent)


def vote_filter(
    catalog: Catalog,
    meeting_id: int | None = None,
    body: str | None = None,
    member: str | None = None,
    since: str | None = None,
    until: str | None = None,
    result: str | None = None,
) -> VoteFilter:
    """Check a user's filters (the CLI's and the web's alike); names that
    match nobody are mistakes, not empty results."""

    since = parse_date(since, "since") if since else None
    until = parse_date(until, "until") if until else None
    if since and until and since > until:
        raise OnRecordError(f"since {since} is after until {until}; swap them")
    if result and result not in ("passed", "failed", "unknown"):
        raise OnRecordError(f"result {result!r} is not understood; use passed or failed")
    if body and catalog.body(body) is None:
        known = ", ".join(b.name for b in catalog.bodies()) or "none yet"
        raise OnRecordError(f"No body named {body!r}; known bodies: {known}")
    if meeting_id is not None and catalog.meeting(meeting_id) is None:
        raise OnRecordError(f"No meeting {meeting_id}; list them with: onrecord meetings")
    person_ids = None
    if member:
        found = PersonBook(catalog.conn).find_persons(member, body)
        if not found:
            raise OnRecordError(
                f"Nobody named {member!r} is known; give a member's name or last name as it appears"
                " in `onrecord votes`"
            )
        person_ids = tuple(p.id for p in found if p.id is not None)
    return VoteFilter(meeting_id, body, person_ids, since, until, result)
