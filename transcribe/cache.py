"""Transcribe with a cache keyed by audio hash, engine, model, version and
options. Each segment is committed as it arrives (a small WAL transaction,
far cheaper than decoding it) so a killed run resumes from the last one
instead of starting over."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from catalog.db import Catalog
from catalog.types import Segment
from transcribe.base import Transcriber


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
    resume_at = done[-1].end if done else 0.0
    if progress:
        progress(resume_at)
    for segment in transcriber.transcribe(load_audio(resume_at)):  # type: ignore[arg-type]
        segment = _shifted(segment, resume_at)
        catalog.append_transcript_segments(key, len(done), [segment])
        done.append(segment)
        if progress:
            progress(segment.end)
    catalog.finish_transcript(key)
    return done
