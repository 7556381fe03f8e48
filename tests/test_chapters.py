"""Chapters read from real transcripts (no index needed): the order of
business a chair announces, public comment from its call to its last
speaker, votes as chapters, and a published agenda placed where each item
is heard."""

from __future__ import annotations

from catalog.types import AgendaItem
from minutes import detect_chapters, detect_votes
from minutes.chapters import spoken_digits
from tests.conftest import shared
from transcribe.captions import read_captions


def oakland() -> list:
    return read_captions(shared("captions/oakland_captions.vtt"))


def test_oakland_reads_as_its_agenda() -> None:
    segments = oakland()
    chapters = detect_chapters(segments, detect_votes(segments))
    kinds = [c.kind for c in chapters]
    assert kinds.count("public_comment") == 2  # comment on the items, then open forum
    comment, forum = [c for c in chapters if c.kind == "public_comment"]
    assert 200 < (comment.start or 0) < 260 and 640 < (comment.end or 0) < 716
    assert forum.title == "Open forum" and 1110 < (forum.start or 0) < 1125
    consent = next(c for c in chapters if "consent calendar" in c.title.lower())
    assert consent.kind == "agenda_item" and 700 < (consent.start or 0) < 730
    vote = next(c for c in chapters if c.kind == "vote")
    assert vote.title.startswith("Vote (passed 6-0)") and (consent.start or 0) < (vote.start or 0)
    # The public's mention of "item 2.2" while commenting opens no chapter.
    assert not any(
        c.kind == "agenda_item" and (comment.start or 0) < (c.start or 0) < (comment.end or 0)
        for c in chapters
    )
    starts = [c.start for c in chapters]
    assert starts == sorted(starts) and all(c.end is not None and c.end >= (c.start or 0) for c in chapters)


def test_boston_dockets_are_read_by_number() -> None:
    segments = read_captions(shared("captions/boston_captions.vtt"))
    titles = [c.title for c in detect_chapters(segments, detect_votes(segments))]
    assert any(t.startswith("Docket 0653") for t in titles)
    assert any(t.startswith("Personnel orders") for t in titles)
    assert "Adjournment" in titles[-2:]  # then the vote to adjourn


def test_spoken_digits() -> None:
    assert spoken_digits("docket zero six five three".split()) == ["docket", "0653"]
    # "to" heard as "two" between two dockets read together
    assert spoken_digits("zero six five five two zero six eight one".split()) == ["0655", "to", "0681"]


def test_a_published_agenda_is_placed_where_each_item_is_heard() -> None:
    segments = oakland()
    agenda = [
        AgendaItem(1, 1, "Consent calendar", number="2", id=10),
        AgendaItem(
            1,
            2,
            "Resolution designating Noel Gallo alternate voting delegate League of California Cities",
            number="2.3",
            id=11,
        ),
        AgendaItem(1, 3, "Item nobody mentions: parking meters on Mars", number="9", id=12),
    ]
    chapters = detect_chapters(segments, [], agenda)
    by_id = {c.agenda_item_id: c for c in chapters if c.agenda_item_id}
    assert 700 < (by_id[10].start or 0) < 730
    assert 770 < (by_id[11].start or 0) < 800
    assert by_id[12].start is None and chapters[-1] is by_id[12]  # listed, without a time
    # The transcript's own item cues give way to the agenda; public comment stays.
    assert not any(c.kind == "agenda_item" and c.agenda_item_id is None for c in chapters)
    assert any(c.kind == "public_comment" for c in chapters)
