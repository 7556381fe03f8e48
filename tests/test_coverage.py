"""Speech the batched decoder skips is found and decoded again.

Batched Whisper can end a crowded 30 s window early and drop whole
sentences; transcribe/coverage.py checks every speech region against the
word timings and re-decodes the empty ones. The rules first, then the real
engine on the benchmark's scripted hearing, where the batched pass alone
loses a question, two motions and the vote.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from catalog.types import Segment, Word
from transcribe import coverage, get_transcriber
from transcribe.coverage import Region


def said(start: float, end: float, *words: str) -> Segment:
    """A segment whose words share its time evenly."""
    step = (end - start) / len(words)
    timed = [Word(start + i * step, start + (i + 1) * step, f" {w}") for i, w in enumerate(words)]
    return Segment(start, end, " ".join(words), timed)


def test_an_empty_region_is_skipped_and_a_short_answer_is_not() -> None:
    regions = [Region(0.0, 2.0), Region(2.5, 3.8), Region(4.0, 9.0), Region(9.2, 9.6)]
    first = [said(0.0, 2.0, "The", "clerk", "will", "call", "the", "roll."), said(2.9, 3.2, "Present.")]
    # "Present." covers a quarter of its 1.3 s region: spoken, not skipped.
    # 9.2-9.6 is too short to hold a sentence: a cough, or a word timed aside.
    assert coverage.skipped(regions, first) == [Region(4.0, 9.0)]


def test_redone_words_replace_stray_ones_and_an_empty_redo_keeps_the_first_pass() -> None:
    first = [
        said(0.0, 4.0, "Chief", "Lando,", "the", "floor", "is", "yours."),
        said(4.5, 5.0, "No."),  # all the first pass heard of a 5 s region
    ]
    redone = [said(4.2, 9.0, "Does", "the", "jail", "share", "data?", "No.")]
    spliced = coverage.splice(first, redone, [Region(4.2, 9.2), Region(12.0, 14.0)])
    assert [s.text for s in spliced] == ["Chief Lando, the floor is yours.", "Does the jail share data? No."]
    # Noise the VAD took for speech decodes to nothing the second time too.
    assert coverage.splice(first, [], [Region(4.2, 9.2)]) == first


@pytest.fixture(scope="module")
def hearing(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, str]:
    if not (shutil.which("espeak-ng") and shutil.which("sox")):
        if os.environ.get("CI"):
            pytest.fail("espeak-ng and sox are missing: .ci/run installs them with apt-get")
        pytest.skip("needs espeak-ng and sox (apt-get install espeak-ng sox)")
    from benchmarks.transcription import make_hearing
    from ingest.audio import load_audio

    path, script = make_hearing(Path(tmp_path_factory.mktemp("hearing")))
    return load_audio(path), script


def test_every_line_of_a_crowded_hearing_is_transcribed(hearing: tuple[object, str]) -> None:
    audio, script = hearing
    engine = get_transcriber("faster-whisper", "tiny.en", beam_size=5, batch_size=8)
    segments = list(engine.transcribe(audio))

    assert coverage.skipped(coverage.speech_regions(audio), segments) == []
    # tiny.en mishears these synthetic voices differently from run to run,
    # so count words rather than look for particular ones: the batched pass
    # alone leaves out about a quarter of the script.
    heard = len(" ".join(s.text for s in segments).split())
    print(f"{heard} words heard of {len(script.split())}")
    assert heard >= 0.9 * len(script.split())
    assert [s.start for s in segments] == sorted(s.start for s in segments)


def test_a_segment_running_across_a_redone_region_is_cut_around_it() -> None:
    first = [said(0.0, 9.0, "We", "have", "an", "agenda", "of", "one", "item", "today.", "Thank", "you.")]
    redone = [said(3.2, 5.8, "Hearing", "no", "objection,", "adopted.")]
    spliced = coverage.splice(first, redone, [Region(3.0, 6.0)])
    assert [s.text for s in spliced] == ["We have an", "Hearing no objection, adopted.", "today. Thank you."]
    assert all(a.end <= b.start for a, b in zip(spliced, spliced[1:], strict=False))
