"""The transcription seam: one abstract method, and a registry by name."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from catalog.errors import ModelError
from catalog.types import Segment

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "onrecord" / "models"


class Transcriber(ABC):
    """Turns 16 kHz mono audio into segments with word timings.

    Every engine takes the same constructor arguments, so the pipeline can
    build any of them from settings:
    ``(model, *, device, beam_size, batch_size, language, vocabulary, cache_dir)``.
    ``vocabulary`` is local words Whisper should spell right (members' names,
    places, acronyms such as ICE or 287(g)); ``cache_dir`` holds weights that
    are assembled or converted on first use.

    ``model_id`` and ``version`` name exactly what produced a transcript, so
    the cache can tell a finished transcript from one made by other weights.
    """

    engine: ClassVar[str]
    model_id: str
    version: str

    def __init__(
        self,
        model: str = "tiny.en",
        *,
        device: str = "auto",
        beam_size: int = 5,
        batch_size: int = 8,
        language: str = "en",
        vocabulary: list[str] | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.model_name = model
        self.requested_device = device
        self.beam_size = beam_size
        self.batch_size = batch_size
        # English-only models know one language whatever the setting says.
        self.language = "en" if model.endswith(".en") else language
        # Order is kept (it is the prompt's order); blanks and repeats are not.
        self.vocabulary = list(dict.fromkeys(w.strip() for w in vocabulary or [] if w.strip()))
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else DEFAULT_CACHE_DIR
        # Wall seconds per step inside the engine (VAD, decoding, the
        # coverage pass), summed over this engine's calls; benchmarks read it.
        self.timings: dict[str, float] = {}
        self.load()

    @abstractmethod
    def load(self) -> None:
        """Load the weights ``model_name`` names and set ``model_id`` (and
        ``version``); raise ModelError with a way out when they cannot load."""

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[step] = self.timings.get(step, 0.0) + time.perf_counter() - started

    @property
    def prompt(self) -> str | None:
        """The vocabulary as Whisper reads it: a comma-separated glossary, the
        way words are spelled in the text it is primed to continue."""
        return ", ".join(self.vocabulary) + "." if self.vocabulary else None

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
