"""Votes across the stages: detection after indexing, the Legistar import,
and reconciliation of the two. The CLI, the pipeline and the nightly run
call these; the stages themselves never meet."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from catalog import Catalog, Meeting, OnRecordError, Segment, Settings
from catalog.persons import PersonBook
from catalog.types import Person
from catalog.vote_export import vote_summary
from catalog.votes import VoteBook, VoteFilter


def detect_meeting_votes(catalog: Catalog, meeting: Meeting, segments: list[Segment]) -> int:
    """Detect the meeting's votes again and link them to Legistar's record.
    Names heard in its roll calls that nobody on the roster matches join
    the body's roster, so the next meeting recognises them."""
    from minutes import DETECTOR_VERSION, detect_votes

    assert meeting.id is not None
    adopt_placeholder(catalog, meeting)
    book = catalog.votes
    people = catalog.persons
    roster = people.roster(meeting.body)
    events = detect_votes(segments, roster)
    _learn_names(people, meeting, events, roster)
    book.replace_detected(meeting.id, events, DETECTOR_VERSION)
    reconcile(catalog, meeting.id)
    return len(events)


def redetect_stale(catalog: Catalog) -> int:
    """Detect votes in every meeting an older detector read (``reindex``)."""
    from minutes import DETECTOR_VERSION

    todo = catalog.votes.undetected(DETECTOR_VERSION)
    for meeting_id in todo:
        meeting = catalog.meeting(meeting_id)
        assert meeting is not None
        detect_meeting_votes(catalog, meeting, catalog.segments(meeting_id))
    return len(todo)


def _learn_names(book: PersonBook, meeting: Meeting, events: list[Any], roster: list[Person]) -> None:
    known = {p.id: p for p in roster}
    for event in events:
        for member in event.members:
            if member.person_id in known:
                person = known[member.person_id]
                assert person.id is not None
                book.add_aliases(person.id, [member.name])
                book.seat(person.id, meeting.body, meeting.date)
            elif member.vote != "unclear" and member.name[:1].isalpha():
                name = member.name.title()
                found = book.find_persons(name, meeting.body)
                person_id = found[0].id if found else book.add_person(name, None, [member.name])
                assert person_id is not None
                book.seat(person_id, meeting.body, meeting.date)
                member.person_id, member.person = person_id, found[0].name if found else name


def reconcile(catalog: Catalog, meeting_id: int) -> None:
    """Link each Legistar vote of the meeting to the detected vote on the
    same item, which gives it its second in the recording."""
    from minutes import match_legistar

    book = catalog.votes
    official = book.raw_events(meeting_id, "legistar")
    if not official:
        return
    detected = book.raw_events(meeting_id, "transcript")
    items = {item.id: item for item in book.agenda(meeting_id) if item.id is not None}
    heard = {}
    for event in detected:
        assert event.id is not None
        start, end = (event.start or 0.0) - 240.0, (event.end or 0.0) + 5.0
        heard[event.id] = " ".join(s.text for s in catalog.segments(meeting_id, start, end))
    pairs = match_legistar(official, detected, items, heard)
    book.set_matches(meeting_id, pairs)
    starts = {}
    by_id = {e.id: e for e in detected}
    for vote in official:
        found = by_id.get(pairs.get(vote.id or -1) or -1)
        if found is not None and vote.agenda_item_id is not None and found.start is not None:
            starts[vote.agenda_item_id] = found.start
    book.set_item_starts(starts)


def list_votes(
    catalog: Catalog, where: VoteFilter, link: Callable[[Meeting, float], str]
) -> list[tuple[dict[str, Any], list[str]]]:
    """Each vote as ``votes --json`` prints it, with its disagreements (the
    sources, or the count announced and the count heard)."""
    return [(vote_summary(e, m, link), e.disagreements) for e, m in catalog.votes.listing(where)]


def linker(settings: Settings) -> Callable[[Meeting, float], str]:
    """Deep links for votes: the recording at the question, or the app's
    meeting page for a meeting with no recording yet."""
    from search.links import deep_link, player_link

    def link(meeting: Meeting, start: float) -> str:
        if not meeting.audio_path:
            return player_link(meeting.id, start, settings.base_url)
        return deep_link(meeting.source_url, start, meeting.id, settings.base_url)

    return link


@dataclass
class LegistarReport:
    client: str
    body: str
    events: int = 0
    meetings_added: int = 0
    items: int = 0
    votes: int = 0
    linked: int = 0
    missing_votes: int = 0

    def summary(self) -> str:
        text = (
            f"Legistar {self.client}: {self.events} event(s) of {self.body} ({self.meetings_added} new"
            f" meeting(s) without a recording yet), {self.items} agenda item(s), {self.votes} vote(s),"
            f" {self.linked} linked to the recording"
        )
        if self.missing_votes:
            text += f"; {self.missing_votes} item(s) whose vote list Legistar could not send"
        return text


def _same_body(ours: str, theirs: str) -> bool:
    a, b = ours.strip().lower(), theirs.strip().lower()
    return a == b or a.endswith(" " + b)


def import_legistar(
    catalog: Catalog,
    client: Any,
    body: str,
    legistar_body: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> LegistarReport:
    """Fetch a body's events from Legistar, then write them in one
    transaction: meetings (found by body and date, or new ones without a
    recording), agenda items, persons, seats and votes; then link each vote
    to the recording's detected vote on the same item."""
    from catalog import parse_date

    since = parse_date(since, "--since") if since else None
    until = parse_date(until, "--until") if until else None
    if since and until and since > until:
        raise OnRecordError(f"--since {since} is after --until {until}; swap them")
    if not body.strip():
        raise OnRecordError("--body is empty; give the council's name, e.g. --body 'Seattle City Council'")
    events = client.events(since, until)
    wanted = [e for e in events if _same_body(legistar_body or body, str(e.get("EventBodyName") or ""))]
    if not wanted:
        names = sorted({str(e.get("EventBodyName")) for e in events})
        raise OnRecordError(
            f"Legistar {client.client} has no events of {legistar_body or body!r} in that period"
            + (f"; its bodies there: {', '.join(names)} (pick one with --legistar-body)" if names else "")
        )
    fetched = [client.fetch(e) for e in wanted]
    people: dict[int, dict[str, Any] | None] = {}
    book = catalog.votes
    for event in fetched:
        for votes in event.votes.values():
            for v in votes:
                pid = v.get("VotePersonId")
                if isinstance(pid, int) and pid not in people:
                    known = catalog.persons.find_legistar(f"{client.client}:{pid}")
                    people[pid] = None if known else client.person(pid)
    report = LegistarReport(client.client, body)
    # Meetings first (their store keeps its own transactions); should the
    # writes below fail, the meetings made here are removed again.
    meetings = [_meeting_for(catalog, book, client, body, event) for event in fetched]
    touched = [meeting_id for meeting_id, _ in meetings]
    try:
        with catalog.transaction():
            for event, (meeting_id, added) in zip(fetched, meetings, strict=True):
                book.link_event(f"{client.client}:{event.id}", meeting_id, event.raw.get("EventInSiteURL"))
                report.events += 1
                report.meetings_added += added
                items, votes = _write_event(
                    book, catalog.persons, client.client, body, meeting_id, event, people
                )
                report.items += items
                report.votes += votes
                report.missing_votes += len(event.missing_votes)
    except BaseException:
        for meeting_id, added in meetings:
            if added:
                catalog.delete_meeting(meeting_id)
        raise
    from onrecord.chapters import detect_meeting_chapters

    for meeting_id in touched:
        reconcile(catalog, meeting_id)
        report.linked += sum(1 for e in book.raw_events(meeting_id, "legistar") if e.twin_id)
        # The agenda's items are the meeting's chapters now.
        found = catalog.meeting(meeting_id)
        if found is not None:
            detect_meeting_chapters(catalog, found)
    return report


def _meeting_for(catalog: Catalog, book: VoteBook, client: Any, body: str, event: Any) -> tuple[int, int]:
    """The meeting this event is: linked before, or of the same body and
    date, or a new meeting without a recording (added: 1)."""
    key = f"{client.client}:{event.id}"
    linked = book.meeting_for_event(key)
    if linked is not None and catalog.meeting(linked) is not None:
        return linked, 0
    same_day = [m for m in catalog.meetings(body=body) if m.date == event.date and m.id is not None]
    taken = book.linked_meetings()
    free = [m for m in same_day if m.id not in taken] or same_day
    if free:
        assert free[0].id is not None
        return free[0].id, 0
    title = f"{event.body} {event.date}" + (
        f" ({event.raw['EventComment']})" if event.raw.get("EventComment") else ""
    )
    url = event.raw.get("EventInSiteURL") or f"{client.api}/{client.client}/events/{event.id}"
    placeholder = Meeting(
        title=title,
        body=body,
        source_url=url,
        date=event.date,
        status="indexed",
        transcript_source="legistar",
    )
    added = catalog.add_meeting(placeholder, f"legistar:{key}")
    assert added.id is not None
    return added.id, 1


def _write_event(
    book: VoteBook,
    persons: PersonBook,
    client: str,
    body: str,
    meeting_id: int,
    event: Any,
    people: dict[int, dict[str, Any] | None],
) -> tuple[int, int]:
    from catalog.types import AgendaItem, MemberVote, VoteEvent
    from ingest.legistar import member_vote, passed_flag

    items = written = 0
    for n, raw in enumerate(event.items):
        title = str(raw.get("EventItemTitle") or raw.get("EventItemMatterName") or "").strip()
        if not title:
            continue
        seq = raw.get("EventItemAgendaSequence") or raw.get("EventItemMinutesSequence") or n
        item = AgendaItem(
            meeting_id,
            int(seq),
            title,
            raw.get("EventItemAgendaNumber"),
            raw.get("EventItemMatterFile"),
            raw.get("EventItemMatterName"),
        )
        item_id = book.put_agenda_item(item, f"{client}:{raw['EventItemId']}")
        items += 1
        votes = event.votes.get(int(raw["EventItemId"]), [])
        result = passed_flag(raw)
        if not votes and result == "unknown":
            continue
        members = []
        for v in sorted(votes, key=lambda v: v.get("VoteSort") or 0):
            pid = v.get("VotePersonId")
            name = str(v.get("VotePersonName") or "").strip()
            person_id = None
            if isinstance(pid, int):
                record = people.get(pid) or {}
                full = str(record.get("PersonFullName") or name).strip()
                aliases = [a for a in (record.get("PersonLastName"), name) if a]
                person_id = persons.add_person(full or name, f"{client}:{pid}", aliases or [full])
                persons.seat(person_id, body, event.date)
            members.append(MemberVote(name, member_vote(v.get("VoteValueName")), person_id))
        tally = {k: sum(m.vote == k for m in members) for k in ("yes", "no", "abstain", "absent")}
        vote = VoteEvent(
            meeting_id=meeting_id,
            motion=" ".join(filter(None, [raw.get("EventItemMatterFile"), title]))[:300],
            kind="consent_agenda" if raw.get("EventItemConsent") else ("roll_call" if members else "voice"),
            result=result,
            source="legistar",
            confidence=1.0,
            members=members,
            agenda_item_id=item_id,
            **({k: tally[k] for k in tally} if members else {}),
        )
        vote.disagreements = _tally_note(raw.get("EventItemTally"), tally if members else None)
        book.put_legistar_vote(vote, f"{client}:{raw['EventItemId']}")
        written += 1
    return items, written


def _tally_note(stated: Any, tally: dict[str, int] | None) -> list[str]:
    """Legistar's own tally string against the votes it lists."""
    import re

    m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", str(stated or ""))
    if not m or tally is None:
        return []
    yes, no = int(m.group(1)), int(m.group(2))
    if (yes, no) != (tally["yes"], tally["no"]):
        return [f"Legistar's tally says {yes}-{no}; its listed votes are {tally['yes']}-{tally['no']}"]
    return []


def adopt_placeholder(catalog: Catalog, meeting: Meeting) -> None:
    """A recording that arrives for a Legistar event already in the
    catalog takes over its agenda and votes."""
    if meeting.id is None or not meeting.date or meeting.transcript_source == "legistar":
        return
    book = catalog.votes
    placeholder = book.placeholder_for(meeting.id, meeting.body, meeting.date)
    if placeholder is not None:
        book.move_meeting_records(placeholder, meeting.id)
        catalog.delete_meeting(placeholder)


def sync_legistar(
    catalog: Catalog, bodies: list[Any], since: str | None, fail: Callable[[str, str, BaseException], None]
) -> None:
    """The nightly run's Legistar step: each configured body's recent events
    (the last 60 days, or from the run's ``since``); a failing body is reported and
    the others go on."""
    import datetime

    from ingest.legistar import DEFAULT_API, LegistarClient

    recent = (datetime.date.today() - datetime.timedelta(days=60)).isoformat()
    for entry in bodies:
        # A run's own --since reaches back as far as asked; otherwise recent weeks.
        start = since or max(filter(None, [entry.since, recent]))
        try:
            client = LegistarClient(entry.client, entry.api or DEFAULT_API)
            import_legistar(catalog, client, entry.body, entry.legistar_body, start, entry.until)
        except OnRecordError as exc:
            if "has no events" not in str(exc):  # a quiet month is not a failure
                fail(entry.body, f"legistar:{entry.client}", exc)
        except Exception as exc:  # one body's fault never stops the others
            fail(entry.body, f"legistar:{entry.client}", exc)


def watch_votes(catalog: Catalog, settings: Settings) -> int:
    """Saved searches watch votes too: each fires once, into the alert
    outbox, when a vote on a motion holding all its words is found after the
    search was saved. Returns the number of alerts queued."""
    import re

    from catalog.types import Hit
    from search.alerts import alerts_book

    alerts = alerts_book(catalog)
    book = catalog.votes
    link = linker(settings)
    listed = book.listing(VoteFilter())
    created = book.created([e.id for e, _ in listed if e.id is not None])
    queued = 0
    for saved in alerts.all():
        words = [w.lower() for w in re.findall(r"\w+", saved.query) if w.upper() not in ("AND", "OR", "NOT")]
        done = book.fired(saved.id)
        for event, meeting in listed:
            ids = [i for i in (event.id, event.twin_id) if i is not None]
            if not words or done & set(ids) or created.get(event.id or -1, "") < saved.created_at:
                continue
            if saved.body and saved.body.lower() != meeting.body.lower():
                continue
            said = [w.lower() for w in re.findall(r"\w+", f"{event.motion} {event.agenda_item or ''}")]
            if not all(any(w.startswith(token) for w in said) for token in words):
                continue
            counts = "-".join(str(c) for c in (event.yes, event.no) if c is not None)
            who = ", ".join(f"{m.person or m.name}: {m.vote}" for m in event.members)
            text = f"Vote on {event.motion}: {event.result} {counts}".strip() + (f". {who}" if who else "")
            hit = Hit(
                meeting_id=meeting.id or 0,
                meeting_title=meeting.title,
                meeting_date=meeting.date,
                body=meeting.body,
                start=event.start or 0.0,
                end=event.end or 0.0,
                speaker=None,
                text=text,
                score=1.0,
                url=link(meeting, event.start or 0.0),
            )
            queued += alerts.record(saved, meeting.id or 0, [hit])
            book.mark_fired(saved.id, ids)
    return queued
