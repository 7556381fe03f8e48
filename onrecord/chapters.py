"""Chapters across the stages: read after a meeting's votes are known
(they are chapters too), again when Legistar brings its agenda, and by
``reindex`` for meetings an older detector read."""

from __future__ import annotations

from catalog import Catalog, Meeting, Segment
from catalog.votes import VoteFilter


def detect_meeting_chapters(catalog: Catalog, meeting: Meeting, segments: list[Segment] | None = None) -> int:
    """Read the meeting's chapters again from its transcript, its votes
    and its agenda; returns how many there are."""
    from minutes import CHAPTER_VERSION, detect_chapters

    assert meeting.id is not None
    if segments is None:
        segments = catalog.segments(meeting.id)
    book = catalog.votes
    votes = [event for event, _ in book.listing(VoteFilter(meeting_id=meeting.id))]
    chapters = detect_chapters(segments, votes, book.agenda(meeting.id))
    catalog.chapters.replace(meeting.id, chapters, CHAPTER_VERSION)
    return len(chapters)


def redetect_stale_chapters(catalog: Catalog) -> int:
    """Chapters for every meeting an older detector read (``reindex``)."""
    from minutes import CHAPTER_VERSION

    todo = catalog.chapters.undetected(CHAPTER_VERSION)
    for meeting_id in todo:
        meeting = catalog.meeting(meeting_id)
        if meeting is not None:
            detect_meeting_chapters(catalog, meeting)
    return len(todo)
