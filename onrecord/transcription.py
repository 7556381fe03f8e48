"""The transcription stage: a meeting's audio to its transcript with
speaker labels, and the voice heard behind each label.

Whisper and the diarizer both read the audio and neither needs the other,
so they run side by side; each caches its result by the audio's hash
(transcribe.cache, transcribe.diarize), so a resumed meeting skips them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from catalog import Catalog, Meeting, Segment, Settings
from catalog.db import open_catalog
from onrecord.progress import Progress, Timings

if TYPE_CHECKING:
    from transcribe import Transcriber
    from transcribe.diarize import Diarization

Loader = Callable[[float, float], Any]  # (start, seconds) -> that window of the meeting's sound


@dataclass(frozen=True)
class Profile:
    """How a source's meetings are transcribed; a body or source in
    sources.toml can set its own."""

    engine: str
    model: str
    vocabulary: tuple[str, ...] = ()
    captions: str = "never"

    @classmethod
    def from_settings(cls, settings: Settings) -> Profile:
        return cls(settings.engine, settings.whisper_model, (), settings.captions)


@dataclass
class Heard:
    """What the stage hands on: the segments, labelled where the diarizer
    found speakers, and each label's voice print and talk time."""

    segments: list[Segment]
    voices: dict[str, tuple[Any, float]] = field(default_factory=dict)


class Transcription:
    """Runs the stage for one meeting at a time, keeping its engines loaded."""

    def __init__(
        self, settings: Settings, catalog: Catalog, progress: Progress, timings: Timings, diarizer: Any = None
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.progress = progress
        self.timings = timings
        self._engines: dict[Profile, Transcriber] = {}
        # Loaded on first use; a caller may hand one in (tests count its runs).
        self.diarizer: Any = diarizer

    def engine(self, profile: Profile) -> Transcriber:
        """The engine for ``profile``, loaded once per profile."""
        if profile not in self._engines:
            from transcribe import get_transcriber

            s = self.settings
            self._engines[profile] = get_transcriber(
                profile.engine,
                profile.model,
                device=s.device,
                beam_size=s.beam_size,
                batch_size=s.batch_size,
                language=s.language,
                vocabulary=list(profile.vocabulary),
                cache_dir=s.data_dir / "models",
            )
        return self._engines[profile]

    def run(self, meeting: Meeting, load: Loader, profile: Profile, then: Callable[[], None]) -> Heard:
        """The transcript with speaker labels, and each label's voice.

        The diarizer runs in a thread beside the transcriber: CTranslate2
        leaves part of the second core idle (beam search, word alignment,
        Python), which resemblyzer fills. ``then`` runs in that thread once
        the diarizer is done (the pipeline loads its embedding model there,
        so indexing does not wait for it).
        """
        from transcribe.turns import assign_speakers

        beside = Beside(self._speakers, meeting, load, then) if self.settings.diarize else None
        try:
            segments = self._transcribe(meeting, load, profile)
        finally:
            if beside:
                _torch_threads(None)  # the transcriber is done: the diarizer may take both cores
            found = beside.result() if beside else None
        if found is None or not found.turns:
            return Heard(segments)
        talk = found.talk_time()
        voices = {label: (vector, talk.get(label, 0.0)) for label, vector in found.prints.items()}
        return Heard(assign_speakers(segments, found.turns), voices)

    def remember_voices(self, meeting: Meeting, voices: dict[str, tuple[Any, float]]) -> None:
        """Keep the voice prints, and propose names the body's known voices match."""
        from catalog.speakers import PROPOSE_AT
        from transcribe.voices import match_voices

        assert meeting.id is not None
        book = self.catalog.speakers
        book.set_voices(meeting.id, voices)
        known = book.known_voices(meeting.body)
        if known:
            centroids = {label: vector for label, (vector, _) in voices.items()}
            book.propose(meeting.id, match_voices(centroids, known, threshold=PROPOSE_AT))

    def _speakers(self, meeting: Meeting, load: Loader, then: Callable[[], None]) -> Diarization:
        """Who spoke when, read a block at a time and cached by the audio's
        hash (a resumed meeting skips this). Runs in its own thread, on its
        own catalog connection."""
        from transcribe.diarize import diarize_cached, get_diarizer

        assert meeting.audio_hash
        # CTranslate2 runs two threads; torch's own two beside them would
        # oversubscribe the cores (both spin while they wait for work).
        _torch_threads(1)
        catalog = open_catalog(self.settings)
        try:
            if self.diarizer is None:
                self.diarizer = get_diarizer()
            with self.timings.timed("diarize"), self.progress.seconds("diarize", meeting.duration) as bar:
                found = diarize_cached(
                    catalog,
                    self.diarizer,
                    meeting.audio_hash,
                    load,
                    progress=bar,
                )
        finally:
            catalog.close()
            _torch_threads(None)
        then()
        return found

    def _transcribe(self, meeting: Meeting, load: Loader, profile: Profile) -> list[Segment]:
        from transcribe import transcribe_cached
        from transcribe.guards import apply_guards

        assert meeting.id is not None and meeting.audio_hash
        self.catalog.set_status(meeting.id, "transcribing")
        engine = self.engine(profile)
        with (
            self.timings.timed("transcribe"),
            self.timings.steps_of(engine.timings),  # VAD, decoding, coverage pass
            self.progress.seconds("transcribe", meeting.duration) as bar,
        ):
            segments = transcribe_cached(
                self.catalog,
                engine,
                meeting.audio_hash,
                load,
                progress=bar,
            )
        return apply_guards(segments)


def _torch_threads(count: int | None) -> None:
    """Set torch's intra-op threads (None: one per core)."""
    import torch

    torch.set_num_threads(count or os.cpu_count() or 1)


class Beside:
    """Runs ``fn(*args)`` in a thread; ``result()`` waits for it and returns
    what it returned, or raises what it raised."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self._out: Any = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._out = fn(*args)
            except BaseException as exc:  # handed to the caller of result()
                self._error = exc

        self._thread = threading.Thread(target=run, name=getattr(fn, "__name__", "beside"), daemon=True)
        self._thread.start()

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._out
