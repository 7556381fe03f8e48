"""Hallucination guards: what Whisper invents over silence and noise.

Voice-activity filtering (in the engines) keeps most silence away from the
model. What still gets through takes two shapes: repetition loops ("I'm
going to go ahead and I'm going to go ahead and …") and stock phrases from
its training captions ("Thanks for watching!") written over near-silence.
A stock phrase is dropped only when the model itself doubted there was
speech: "Thank you." is said in every council meeting.
"""

from __future__ import annotations

import re

from catalog.types import Segment, Word

STOCK_PHRASES = {
    "thank you",
    "thanks for watching",
    "thank you for watching",
    "thank you so much for watching",
    "please subscribe",
    "like and subscribe",
    "subscribe to my channel",
    "see you in the next video",
    "see you next time",
    "bye",
    "you",
    "the end",
    "subtitles by the amaraorg community",
    "transcription by castingwords",
    "captions by",
    "music",
    "applause",
}
NO_SPEECH = 0.5
LOW_LOGPROB = -1.0
LOOP_COMPRESSION = 2.4
MIN_LOOP_REPEATS = 3
# People do say "no, no, no" and "thank you, thank you"; loops run longer.
MIN_LOOP_WORDS = 8


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def is_stock_phrase_over_silence(seg: Segment) -> bool:
    if " ".join(_words(seg.text)) not in STOCK_PHRASES:
        return False
    return (seg.no_speech_prob or 0) > NO_SPEECH or (seg.avg_logprob or 0) < LOW_LOGPROB


def collapse_loop(seg: Segment) -> Segment:
    """Keep one copy of an n-gram repeated back to back three times or more."""
    tokens = _words(seg.text)
    for size in range(1, len(tokens) // MIN_LOOP_REPEATS + 1):
        for start in range(len(tokens) - size * MIN_LOOP_REPEATS + 1):
            gram = tokens[start : start + size]
            repeats = 1
            while tokens[start + repeats * size : start + (repeats + 1) * size] == gram:
                repeats += 1
            if repeats >= MIN_LOOP_REPEATS and repeats * size >= MIN_LOOP_WORDS:
                return _keep_words(seg, start + size, start + repeats * size)
    return seg


def _keep_words(seg: Segment, cut_from: int, cut_to: int) -> Segment:
    """Drop tokens [cut_from, cut_to) from the segment, text and timings."""
    if len(seg.words) == len(_words(seg.text)) and seg.words:
        return with_words(seg, seg.words[:cut_from] + seg.words[cut_to:])
    tokens = seg.text.split()
    text = " ".join(tokens[:cut_from] + tokens[cut_to:])
    return Segment(
        seg.start,
        seg.end,
        text,
        seg.words,
        seg.speaker,
        seg.avg_logprob,
        seg.no_speech_prob,
        seg.compression_ratio,
        seg.turn,
    )


def with_words(seg: Segment, words: list[Word]) -> Segment:
    """The segment cut down to some of its words, text and times following them."""
    return Segment(
        words[0].start,
        words[-1].end,
        "".join(w.word for w in words).strip(),
        words,
        seg.speaker,
        seg.avg_logprob,
        seg.no_speech_prob,
        seg.compression_ratio,
        seg.turn,
    )


def apply_guards(segments: list[Segment]) -> list[Segment]:
    """Drop invented text and collapse loops; repeated identical segments
    (the model stuck on one line across windows) keep their first copy."""
    kept: list[Segment] = []
    for seg in segments:
        if not seg.text.strip() or is_stock_phrase_over_silence(seg):
            continue
        seg = collapse_loop(seg)
        if kept and len(_words(seg.text)) > 2 and _words(kept[-1].text) == _words(seg.text):
            continue
        kept.append(seg)
    return kept


def is_doubtful(seg: Segment) -> bool:
    """A passage the app should mark as possibly misheard."""
    return seg.doubtful()
