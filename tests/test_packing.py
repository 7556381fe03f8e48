"""Speech packed into full 30 s windows, and every word timed back where it
was said in the recording (transcribe/packing.py)."""

from __future__ import annotations

import numpy as np
import pytest

from catalog.types import Segment, Word
from tests.conftest import shared
from transcribe import get_transcriber
from transcribe.coverage import SAMPLE_RATE, Region
from transcribe.packing import pack, quietest


def test_whole_regions_fill_windows_in_order() -> None:
    regions = [Region(0.0, 12.0), Region(20.0, 35.0), Region(40.0, 50.0)]
    packing = pack(regions)  # no audio: regions are never cut
    assert [(w.start, w.end) for w in packing.windows] == [(0.0, 27.0), (30.0, 40.0)]
    # 12 s at 0, 15 s from 20 s laid right after, 10 s from 40 s in window two's slot.
    assert [(p.at, p.source) for p in packing.pieces] == [
        (0.0, Region(0.0, 12.0)),
        (12.0, Region(20.0, 35.0)),
        (30.0, Region(40.0, 50.0)),
    ]
    assert packing.to_source(13.0) == 21.0
    assert packing.to_source(33.5) == 43.5


def test_a_region_that_does_not_fit_is_cut_at_its_quietest_moment() -> None:
    audio = np.full(60 * SAMPLE_RATE, 0.1, dtype=np.float32)
    audio[int(37.3 * SAMPLE_RATE) : int(37.4 * SAMPLE_RATE)] = 0.0  # a breath between words
    packing = pack([Region(0.0, 12.0), Region(20.0, 45.0)], audio)
    first, second = packing.windows
    # The window fills toward 30 s: 12 s, then 20.0-37.35 s, cut in the
    # breath found in the last second before it would be full.
    assert first.end == pytest.approx(29.35, abs=0.05)
    assert packing.pieces[1].source.end == pytest.approx(37.35, abs=0.05)
    assert packing.pieces[2].source == Region(packing.pieces[1].source.end, 45.0)
    assert second.start == 30.0
    assert quietest(audio, 35.0, 38.0) == pytest.approx(37.35, abs=0.05)


def test_packed_audio_lays_pieces_end_to_end_in_window_slots() -> None:
    audio = np.arange(10 * SAMPLE_RATE, dtype=np.float32)
    packing = pack([Region(1.0, 2.0), Region(5.0, 6.5), Region(7.0, 36.0)])
    laid = packing.packed(audio)
    assert len(laid) == 59 * SAMPLE_RATE  # 2.5 s, then 29 s in the second slot
    assert laid[0] == audio[SAMPLE_RATE] and laid[SAMPLE_RATE] == audio[5 * SAMPLE_RATE]
    assert laid[30 * SAMPLE_RATE] == audio[7 * SAMPLE_RATE] and not laid[3 * SAMPLE_RATE :][:100].any()


def test_restored_words_keep_to_the_piece_they_were_said_in() -> None:
    packing = pack([Region(10.0, 12.0), Region(30.0, 33.0)])
    said = Segment(
        0.2,
        4.5,
        "Call the roll. Here.",
        [Word(0.2, 0.6, " Call"), Word(0.7, 1.9, " the roll."), Word(1.95, 2.2, " Here.")],
    )
    restored = packing.restore(said)
    assert [(w.start, w.end) for w in restored.words] == [(10.2, 10.6), (10.7, 11.9), (30.0, 30.2)]
    # "Here." straddles the cut (1.95-2.2 s packed) but its middle is past it:
    # it is timed inside the second region, never across the silence.
    assert (restored.start, restored.end) == (10.2, 30.2)


def test_packing_keeps_real_word_timings(tmp_path: object) -> None:
    """JFK said twice, a minute apart: both copies share one packed window,
    and each copy's words are timed inside its own span of the recording."""
    from ingest.audio import load_audio

    jfk = load_audio(shared("speech/jfk.flac"))
    gap = np.zeros(60 * SAMPLE_RATE, dtype=np.float32)
    audio = np.concatenate([jfk, gap, jfk])
    second = (len(jfk) + len(gap)) / SAMPLE_RATE
    engine = get_transcriber("faster-whisper", "tiny.en")
    segments = list(engine.transcribe(audio))
    words = [w for s in segments for w in s.words]
    copies = [[w for w in words if w.end <= 11.1], [w for w in words if w.start >= second]]
    assert len(copies[0]) + len(copies[1]) == len(words), "no word lands in the silence"
    for offset, copy in zip((0.0, second), copies, strict=True):
        text = "".join(w.word for w in copy).lower()
        assert "ask not what your country can do for you" in text
        country = [w for w in copy if "country" in w.word]
        # JFK ends "...for your country." about 10.4 s into the clip.
        assert country[-1].end - offset == pytest.approx(10.4, abs=0.8)
    assert [w.start for w in words] == sorted(w.start for w in words)
