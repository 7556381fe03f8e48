"""Transcribe with a cache keyed by audio hash, engine, model, version and
options; segments are committed as they arrive so a killed run resumes from
the last one instead of starting over."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable

from catalog.db import Catalog
from catalog.types import Segment
from transcribe.base import Transcriber

FLUSH_SECONDS = 2.0


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
    load_audio: Callable[[float], object],
    progress: Callable[[float], None] | None = None,
) -> list[Segment]:
    """Return the transcript for this audio, transcribing only what is missing.

    ``load_audio(start)`` returns 16 kHz samples from ``start`` seconds on.
    """
    key = transcript_key(audio_hash, transcriber)
    complete = catalog.open_transcript(
        key, audio_hash, transcriber.engine, transcriber.model_id, transcriber.version,
        transcriber.options(),
    )
    done = catalog.transcript_segments(key)
    if complete:
        return done
    resume_at = done[-1].end if done else 0.0
    if progress:
        progress(resume_at)
    pending: list[Segment] = []
    last_flush = time.monotonic()
    for segment in transcriber.transcribe(load_audio(resume_at)):  # type: ignore[arg-type]
        pending.append(_shifted(segment, resume_at))
        if progress:
            progress(pending[-1].end)
        if time.monotonic() - last_flush > FLUSH_SECONDS:
            catalog.append_transcript_segments(key, len(done), pending)
            done += pending
            pending, last_flush = [], time.monotonic()
    catalog.append_transcript_segments(key, len(done), pending)
    catalog.finish_transcript(key)
    return done + pending
