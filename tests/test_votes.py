"""Votes read from real transcripts: imported captions, Council Data
Project's Whisper transcript, our own Whisper run over the real Seattle
recording; the `votes` command's JSON contract; its bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.votes import cdp_segments
from catalog.types import Person, Segment
from minutes import detect_votes
from tests.conftest import run, shared

CONTRACT = {
    "id",
    "meeting_id",
    "meeting_title",
    "meeting_date",
    "body",
    "agenda_item",
    "motion",
    "kind",
    "result",
    "yes",
    "no",
    "abstain",
    "absent",
    "start",
    "end",
    "members",
    "source",
    "url",
}


@pytest.fixture(scope="module")
def oakland(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Oakland captions imported once for this module's read-only tests."""
    home = tmp_path_factory.mktemp("oakland-home")
    vtt = shared("captions/oakland_captions.vtt")
    result = run(home, "ingest", str(vtt), "--body", "Oakland City Council", "--date", "2022-08-09")
    assert result.exit_code == 0, result.output
    return home


def test_a_roll_call_vote_from_imported_captions(oakland: Path) -> None:
    """Oakland's consent calendar: moved, seconded, the clerk calls the roll,
    six ayes and two excused. The attendance roll call at the start
    ("present", "here") is not a vote."""
    votes = json.loads(run(oakland, "votes", "--json").output)["votes"]
    assert len(votes) == 1
    [vote] = votes
    assert set(vote) == CONTRACT
    assert vote["kind"] == "roll_call" and vote["result"] == "passed" and vote["source"] == "transcript"
    assert (vote["yes"], vote["no"], vote["abstain"], vote["absent"]) == (6, 0, 0, 2)
    assert "consent calendar" in vote["motion"]
    assert 1070 < vote["start"] < 1085 and 1100 < vote["end"] < 1120
    heard = {m["name"].lower(): m["vote"] for m in vote["members"]}
    assert heard == {
        "fife": "yes",
        "gallo": "yes",
        "kalb": "yes",
        "kaplan": "yes",
        "reid": "absent",
        "taylor": "absent",
        "thao": "yes",
        "bas": "yes",
    }
    assert vote["url"].endswith(f"/meetings/{vote['meeting_id']}#t={int(vote['start'])}")
    # The members heard became the body's roster: filtering by one works.
    mine = json.loads(run(oakland, "votes", "--member", "Kalb", "--json").output)["votes"]
    assert [v["id"] for v in mine] == [vote["id"]]
    text = run(oakland, "votes", "--body", "Oakland City Council").output
    assert "PASSED 6-0" in text and "Kalb: yes" in text


def test_exports_in_the_shape_of_open_civic_data(oakland: Path) -> None:
    [event] = json.loads(run(oakland, "votes", "--export", "ocd").output)
    assert event["result"] == "pass" and event["organization"] == "Oakland City Council"
    assert {"option": "yes", "value": 6} in event["counts"]
    assert {"option": "absent", "voter_name": "Reid"} in event["votes"]
    lines = run(oakland, "votes", "--export", "csv").output.strip().splitlines()
    assert lines[0].startswith("vote_id,meeting_id") and len(lines) == 1 + 8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--member", "Nobody Atall"), "Nobody named"),
        (("--since", "2023-01-01", "--until", "2022-01-01"), "swap them"),
        (("--since", "last week"), "not a date"),
        (("--body", "Atlantis Council"), "No body named"),
        (("--meeting", "999"), "No meeting 999"),
    ],
)
def test_bad_filters_are_one_line_errors(oakland: Path, args: tuple[str, ...], message: str) -> None:
    result = run(oakland, "votes", *args)
    assert result.exit_code != 0 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_attendance_is_not_a_vote_but_consent_is() -> None:
    """The Seattle special meeting (CDP's Whisper transcript): the roll is
    called and answered "Here" (names garbled), then the agenda is adopted
    by unanimous consent. Only the second is a vote."""
    segments = cdp_segments(shared("meetings/seattle-council-special-2017-10-05.cdp-whisper-transcript.json"))
    [vote] = detect_votes(segments)
    assert vote.kind == "unanimous_consent" and vote.result == "passed"
    assert 55 < (vote.start or 0) < 58 and "agenda" in vote.motion
    assert vote.members == []


@pytest.mark.slow
def test_whisper_transcript_of_the_real_recording(seattle_home: tuple[Path, str]) -> None:
    """Our own pipeline over the real Seattle video: ingest produced the
    agenda's adoption and no vote from the attendance roll call."""
    home, _ = seattle_home
    votes = json.loads(run(home, "votes", "--json").output)["votes"]
    assert [v["kind"] for v in votes] == ["unanimous_consent"]
    assert votes[0]["result"] == "passed" and 50 < votes[0]["start"] < 65


def clerk(*lines: tuple[float, str]) -> list[Segment]:
    """A readable transcript for rules no real recording here shows; each
    line is one speaker turn."""
    return [Segment(t, t + 2.0, text, turn=i) for i, (t, text) in enumerate(lines)]


def test_roll_call_with_a_correction_and_names_heard_by_sound() -> None:
    """Written for this test (no real recording here has a correction): a
    member says no, then corrects to yes; Whisper-style spellings of the
    roster's names ("Bike Shop" for Bagshaw, "Harold" for Harrell) resolve."""
    roster = [
        Person(n, id=i)
        for i, n in enumerate(["Sally Bagshaw", "Bruce Harrell", "Lisa Herbold", "Kshama Sawant"], 1)
    ]
    segments = clerk(
        (0.0, "I move to adopt Resolution 31900."),
        (3.0, "Second."),
        (6.0, "Will the clerk please call the roll on the adoption of the resolution?"),
        (9.0, "Bike Shop?"),
        (10.0, "Aye."),
        (11.0, "Harold?"),
        (12.0, "No. Sorry, yes."),
        (14.0, "Herbal?"),
        (15.0, "No."),
        (16.0, "Sawant?"),
        (17.0, "Aye."),
        (19.0, "Three in favor, one opposed. The motion carries."),
    )
    [vote] = detect_votes(segments, roster)
    assert vote.kind == "roll_call" and vote.result == "passed"
    assert {m.person: m.vote for m in vote.members} == {
        "Sally Bagshaw": "yes",
        "Bruce Harrell": "yes",
        "Lisa Herbold": "no",
        "Kshama Sawant": "yes",
    }
    assert (vote.yes, vote.no) == (3, 1) and vote.disagreements == []
    assert "Resolution 31900" in vote.motion


def test_announced_counts_beat_counted_and_the_difference_is_kept() -> None:
    """Written for this test: the chair announces 3-1 but four ayes and one
    no were heard. The announced count stands; the tally is kept beside it."""
    segments = clerk(
        (0.0, "The clerk will call the roll."),
        (2.0, "Councilmember Ortiz?"),
        (3.0, "Aye."),
        (4.0, "Councilmember Park?"),
        (5.0, "Aye."),
        (6.0, "Councilmember Lee?"),
        (7.0, "Aye."),
        (8.0, "Councilmember Diaz?"),
        (9.0, "Aye."),
        (10.0, "Councilmember Moss?"),
        (11.0, "No."),
        (13.0, "The motion passes 3-1."),
    )
    [vote] = detect_votes(segments)
    assert (vote.yes, vote.no) == (3, 1)
    assert vote.counted == {"yes": 4, "no": 1, "abstain": 0, "absent": 0}
    assert any("yes: 3 announced, 4 counted" in note for note in vote.disagreements)


def test_a_voice_vote_that_fails() -> None:
    segments = clerk(
        (0.0, "All those in favor of the amendment say aye. Opposed? The noes have it."),
        (6.0, "The amendment fails."),
    )
    [vote] = detect_votes(segments)
    assert vote.kind == "voice" and vote.result == "failed" and "amendment" in vote.motion
