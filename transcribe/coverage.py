"""Speech the batched decoder skipped, found and decoded again.

The batched pipeline packs VAD speech into ~30 s windows and decodes each as
one text without timestamps. On a crowded window (a roll call, a run of short
turns, an odd voice) Whisper can end that text early, and whole sentences
vanish without a trace: on a scripted hearing, 17 s of a 64 s recording
came back empty, including a question and the vote. A dropped sentence is
worse than a misheard word, because nobody can search for it.

So after the batched pass every speech region is checked against the word
timings: a region of real length that almost no word lands in was skipped.
(Repetition loops are collapsed first, so a region the model filled with
"Tukwila, Tukwila, …" counts as skipped too.)
Those regions are decoded again, each as its own clip (joined into longer
clips, a run of them was skipped again), and their words replace whatever
stray words the first pass put there.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

import numpy as np

from catalog.types import Segment, Word
from transcribe.guards import with_words

SAMPLE_RATE = 16000
# A region shorter than this may be a cough or "mm"; the words the model
# wrote near it can reasonably have been timed a little to one side.
MIN_REGION = 0.8
# Share of a region's time that words cover. Spoken regions measured
# 0.2-1.0 (a lone "Present." in a 1.3 s region: 0.2); skipped ones 0-0.12.
MIN_COVERAGE = 0.15


@dataclass(frozen=True)
class Region:
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def holds(self, word: Word) -> bool:
        return self.start <= (word.start + word.end) / 2 < self.end


def speech_regions(audio: np.ndarray, max_speech: float = 30.0) -> list[Region]:
    """Where the VAD hears speech, with the options the batched pipeline uses."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(max_speech_duration_s=max_speech, min_silence_duration_ms=160)
    return [
        Region(r["start"] / SAMPLE_RATE, r["end"] / SAMPLE_RATE)
        for r in get_speech_timestamps(audio, options)
    ]


def coverage(region: Region, words: list[Word]) -> float:
    covered = sum(max(0.0, min(region.end, w.end) - max(region.start, w.start)) for w in words)
    return covered / region.duration if region.duration > 0 else 1.0


def skipped(regions: list[Region], segments: list[Segment]) -> list[Region]:
    """Regions long enough to hold words that the first pass left (nearly) empty."""
    words = sorted((w for s in segments for w in s.words), key=lambda w: w.start)
    starts = [w.start for w in words]

    def near(r: Region) -> list[Word]:
        # No word outlasts its 30 s window, so only those starting from
        # 30 s before the region can reach into it.
        lo, hi = bisect_left(starts, r.start - 30.0), bisect_left(starts, r.end)
        return [w for w in words[lo:hi] if w.end > r.start]

    return [r for r in regions if r.duration >= MIN_REGION and coverage(r, near(r)) < MIN_COVERAGE]


def splice(first: list[Segment], redone: list[Segment], regions: list[Region]) -> list[Segment]:
    """The first pass with each re-decoded region's words put in place.

    A first-pass segment that ran across a filled region is cut in two around
    it, and a redone segment keeps only the words inside its region, so no
    two segments overlap. A region the second pass also found empty (noise
    the VAD took for speech) keeps what the first pass had there.
    """
    filled = [r for r in regions if any(r.holds(w) for s in redone for w in s.words)]
    if not filled:
        return first

    def inside(word: Word) -> bool:
        return any(r.holds(word) for r in filled)

    out: list[Segment] = []
    for seg in first:
        if not any(inside(w) for w in seg.words):
            out.append(seg)
            continue
        run: list[Word] = []
        for word in [*seg.words, None]:
            if word is not None and not inside(word):
                run.append(word)
            elif run:
                out.append(with_words(seg, run))
                run = []
    for seg in redone:
        words = [w for w in seg.words if inside(w)]
        if words:
            out.append(with_words(seg, words))
    return sorted(out, key=lambda s: s.start)
