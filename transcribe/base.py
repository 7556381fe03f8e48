"""The transcription seam: one abstract method, and a registry by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from catalog.errors import ModelError
from catalog.types import Segment


class Transcriber(ABC):
    """Turns 16 kHz mono audio into segments with word timings.

    ``model_id`` and ``version`` name exactly what produced a transcript, so
    the cache can tell a finished transcript from one made by other weights.
    """

    engine: ClassVar[str]
    model_id: str
    version: str

    def options(self) -> dict[str, Any]:
        """Settings that change the output, part of the transcript cache key."""
        return {}

    @abstractmethod
    def transcribe(self, audio: np.ndarray) -> Iterator[Segment]:
        """Yield segments in order, timed from the start of ``audio``."""


TRANSCRIBERS: dict[str, type[Transcriber]] = {}


def register(cls: type[Transcriber]) -> type[Transcriber]:
    TRANSCRIBERS[cls.engine] = cls
    return cls


def get_transcriber(engine: str, model: str, **options: Any) -> Transcriber:
    if engine not in TRANSCRIBERS:
        known = ", ".join(sorted(TRANSCRIBERS))
        raise ModelError(f"Unknown engine {engine!r}; choose one of: {known}")
    return TRANSCRIBERS[engine](model, **options)
