"""faster-whisper (CTranslate2): the default engine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import numpy as np

from catalog.errors import ModelError
from catalog.types import Segment, Word
from transcribe.base import Transcriber, register
from transcribe.models import resolve_whisper_model


def _device(requested: str) -> tuple[str, str]:
    """int8 on CPU, float16 on CUDA, picked automatically."""
    if requested == "auto":
        import ctranslate2

        requested = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    return requested, ("float16" if requested == "cuda" else "int8")


@register
class FasterWhisperTranscriber(Transcriber):
    engine = "faster-whisper"

    def __init__(
        self,
        model: str = "tiny.en",
        *,
        device: str = "auto",
        beam_size: int = 5,
        batch_size: int = 8,
        language: str = "en",
    ) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        resolved = resolve_whisper_model(model)
        self.model_id = resolved.model_id
        self.version = f"faster-whisper-{metadata.version('faster-whisper')}"
        self.device, self.compute_type = _device(device)
        self.beam_size = beam_size
        self.batch_size = batch_size
        self.language = language if not model.endswith(".en") else "en"
        try:
            self.model = WhisperModel(
                resolved.location,
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=os.cpu_count() or 0,
                local_files_only=resolved.local,
            )
        except Exception as exc:
            hint = "use tiny.en (bundled) or a local model folder"
            raise ModelError(
                f"Could not load Whisper model {model!r} ({type(exc).__name__}); {hint}"
            ) from None
        self.pipeline = BatchedInferencePipeline(self.model) if batch_size > 1 else None

    def options(self) -> dict[str, Any]:
        return {"beam_size": self.beam_size, "batch_size": self.batch_size, "language": self.language}

    def transcribe(self, audio: np.ndarray) -> Iterator[Segment]:
        common: dict[str, Any] = dict(
            language=self.language,
            beam_size=self.beam_size,
            vad_filter=True,
            word_timestamps=True,
            # Conditioning on earlier text is what lets one hallucination
            # spread through the rest of a long meeting.
            condition_on_previous_text=False,
        )
        if self.pipeline is not None:
            segments, _ = self.pipeline.transcribe(audio, batch_size=self.batch_size, **common)
        else:
            segments, _ = self.model.transcribe(audio, **common)
        for seg in segments:
            yield Segment(
                start=round(seg.start, 3),
                end=round(seg.end, 3),
                text=seg.text.strip(),
                words=[
                    Word(
                        start=round(w.start, 3),
                        end=round(w.end, 3),
                        word=w.word,
                        probability=round(w.probability, 4),
                    )
                    for w in seg.words or []
                ],
                avg_logprob=seg.avg_logprob,
                no_speech_prob=seg.no_speech_prob,
                compression_ratio=seg.compression_ratio,
            )
