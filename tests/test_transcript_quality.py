"""Caption import and hallucination guards, on real captions and on the
shapes Whisper's mistakes take."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog import Segment, SourceError, Word
from tests.conftest import shared
from transcribe.captions import cues_to_segments, parse_cues, read_captions
from transcribe.guards import apply_guards, collapse_loop, is_doubtful


def test_oakland_captions_become_turns_at_each_speaker_marker() -> None:
    segments = read_captions(shared("captions/oakland_captions.vtt"))
    text = " ".join(s.text for s in segments)
    assert ">>" not in text
    # "welcome to" / "to special concurrent": the repeated word is merged away.
    assert "welcome to special concurrent of the oakland" in text
    roll_call = [s for s in segments if s.text.lower() in ("present.", "councilmember gallo?")]
    assert len({s.turn for s in roll_call}) == len(roll_call), "each answer is its own turn"
    starts = [w.start for s in segments for w in s.words]
    assert starts == sorted(starts)
    assert segments[-1].end > 25 * 60  # 26 minutes of captions


def test_boston_captions_keep_all_their_words() -> None:
    segments = read_captions(shared("captions/boston_captions.vtt"))
    assert segments[0].start == pytest.approx(40.337, abs=0.01)
    assert "call the roll" in " ".join(s.text for s in segments).lower()
    assert all(len(s.words) <= 80 for s in segments)


def test_rolling_auto_captions_are_merged() -> None:
    vtt = """WEBVTT

00:00:01.000 --> 00:00:03.000
the council will now

00:00:03.000 --> 00:00:03.010
the council will now

00:00:03.010 --> 00:00:05.000
the council will now
vote on the 287(g) agreement

1
00:00:05.000 --> 00:00:07.000
<00:00:05.200><c> with</c><00:00:05.600><c> ICE</c>
"""
    [segment] = cues_to_segments(parse_cues(vtt))
    assert segment.text == "the council will now vote on the 287(g) agreement with ICE"
    assert segment.words[-1].start == pytest.approx(5.6)


def test_srt() -> None:
    srt = "1\n00:00:01,500 --> 00:00:03,000\nGood evening.\n\n2\n00:00:03,000 --> 00:00:04,000\n>> Here.\n"
    segments = cues_to_segments(parse_cues(srt))
    assert [(s.text, s.turn) for s in segments] == [("Good evening.", 0), ("Here.", 1)]
    assert segments[0].start == 1.5


@pytest.mark.parametrize("content", ["", "WEBVTT\n\n", "just some words\nno timings\n"])
def test_empty_or_timeless_captions_are_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "minutes.vtt"
    path.write_text(content)
    with pytest.raises(SourceError, match="no caption cues"):
        read_captions(path)


def test_unreadable_captions_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "minutes.srt"
    path.write_bytes(b"\xff\xfe\x00\x81 binary")
    with pytest.raises(SourceError, match="cannot read captions"):
        read_captions(path)


def _seg(text: str, **kw: float) -> Segment:
    words, t = [], 0.0
    for token in text.split():
        words.append(Word(t, t + 0.3, " " + token))
        t += 0.4
    return Segment(0.0, t, text, words, **kw)  # type: ignore[arg-type]


def test_stock_phrases_are_dropped_only_over_doubtful_silence() -> None:
    said = _seg("Thank you.", no_speech_prob=0.05, avg_logprob=-0.2)
    invented = _seg("Thanks for watching!", no_speech_prob=0.8, avg_logprob=-0.4)
    assert apply_guards([said, invented]) == [said]


def test_repetition_loops_collapse_to_one_copy() -> None:
    looped = _seg("we will go ahead and " * 4 + "vote now")
    [fixed] = apply_guards([looped])
    assert fixed.text == "we will go ahead and vote now"
    assert len(fixed.words) == 7 and fixed.end == looped.words[-1].end
    human = _seg("no, no, no, that is not our mission")
    assert collapse_loop(human) is human


def test_a_line_repeated_across_segments_is_kept_once() -> None:
    line = _seg("The meeting is adjourned at nine.")
    assert len(apply_guards([line, _seg("The meeting is adjourned at nine."), _seg("Good night.")])) == 2


def test_doubtful_passages_are_flagged() -> None:
    assert is_doubtful(_seg("mumble", avg_logprob=-1.4))
    assert not is_doubtful(_seg("clear words", avg_logprob=-0.2, no_speech_prob=0.01, compression_ratio=1.2))
