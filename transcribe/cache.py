"""Transcribe with a cache keyed by audio hash, engine, model, version and
options. Each segment is committed as it arrives (a small WAL transaction,
far cheaper than decoding it) so a killed run resumes from the last one
instead of starting over."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import numpy as np

from catalog.db import Catalog
from catalog.types import Segment
from transcribe.base import Transcriber

SAMPLE_RATE = 16000
# Twenty minutes of 16 kHz float32 is 77 MB: long meetings stay bounded.
WINDOW_SECONDS = 20 * 60.0
WINDOW_EDGE = 2.0


def transcript_key(audio_hash: str, transcriber: Transcriber) -> str:
    ident = {
        "audio": audio_hash,
        "engine": transcriber.engine,
        "model": transcriber.model_id,
        "version": transcriber.version,
        "options": transcriber.options(),
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def _shifted(segment: Segment, offset: float) -> Segment:
    if not offset:
        return segment
    segment.start = round(segment.start + offset, 3)
    segment.end = round(segment.end + offset, 3)
    for word in segment.words:
        word.start = round(word.start + offset, 3)
        word.end = round(word.end + offset, 3)
    return segment


def transcribe_cached(
    catalog: Catalog,
    transcriber: Transcriber,
    audio_hash: str,
    load_audio: Callable[[float, float], np.ndarray],
    progress: Callable[[float], None] | None = None,
    window: float = WINDOW_SECONDS,
) -> list[Segment]:
    """Return the transcript for this audio, transcribing only what is missing.

    ``load_audio(start, seconds)`` returns 16 kHz samples. The audio is taken
    a window at a time, so memory stays bounded however long the meeting.
    """
    key = transcript_key(audio_hash, transcriber)
    complete = catalog.open_transcript(
        key,
        audio_hash,
        transcriber.engine,
        transcriber.model_id,
        transcriber.version,
        transcriber.options(),
    )
    done = catalog.transcript_segments(key)
    if complete:
        return done
    position = done[-1].end if done else 0.0
    while True:
        if progress:
            progress(position)
        audio = load_audio(position, window)
        seconds = len(audio) / SAMPLE_RATE
        last_window = seconds < window - 1.0
        next_position = position + seconds
        for segment in transcriber.transcribe(audio):
            segment = _shifted(segment, position)
            if not last_window and segment.end > position + seconds - WINDOW_EDGE:
                # Speech running into the cut may be clipped mid-word: hand it
                # to the next window, which starts where this segment starts.
                next_position = segment.start
                break
            catalog.append_transcript_segments(key, len(done), [segment])
            done.append(segment)
            if progress:
                progress(segment.end)
        if last_window:
            break
        position = next_position if next_position > position + WINDOW_EDGE else position + seconds
    catalog.finish_transcript(key)
    return done
