"""Drive a meeting through the stages: source → audio → transcript → index.

Every step is keyed so a rerun skips finished work: a source already in the
catalog is not downloaded again, a finished transcript is read from the
cache, and a meeting killed mid-transcription picks up from its last saved
segment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalog import Meeting, Settings, SourceError
from catalog.db import open_catalog
from catalog.errors import MediaError, reason
from onrecord.progress import Progress, Timings
from onrecord.sources import Overrides, local_meeting, no_such_file, remote_meeting
from onrecord.transcription import Profile, Transcription


@dataclass
class IngestResult:
    meeting: Meeting
    outcome: str  # "added", "exists" or "resumed"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        progress: Progress | None = None,
        ytdlp_options: dict[str, Any] | None = None,
        diarizer: Any = None,
    ) -> None:
        self.settings = settings
        self.progress = progress or Progress(enabled=False)
        self.catalog = open_catalog(settings)
        self.ytdlp_options = ytdlp_options or {}
        self.profile = Profile.from_settings(settings)
        self._index: Any = None
        # Loaded beside transcription when a meeting is diarized (see
        # _load_embedder), else by the index on first use.
        self._embedder: Any = None
        self.timings = Timings()
        self.transcription = Transcription(settings, self.catalog, self.progress, self.timings, diarizer)
        # Set by a worker (onrecord/worker.py) for the job it runs: ``guard``
        # raises LostClaim before each write once the job was taken over,
        # ``fence`` refuses the index publish inside its transaction.
        self.guard: Any = None
        self.fence: Any = None

    def _check_claim(self) -> None:
        if self.guard is not None:
            self.guard()

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
        self.catalog.close()

    @property
    def transcriber(self) -> Any:
        """The engine for the current profile, loaded once per profile."""
        return self.transcription.engine(self.profile)

    @property
    def index(self) -> Any:
        if self._index is None:
            from search.backends import open_index

            self._index = open_index(self.settings, self.catalog, embedder=self._embedder)
        return self._index

    # -- ingest -----------------------------------------------------------
    def ingest(self, source: str, overrides: Overrides | None = None) -> list[IngestResult]:
        from ingest import is_url
        from transcribe.captions import CAPTION_SUFFIXES

        overrides = overrides or Overrides()
        self.sweep_work_dirs()
        if not is_url(source) and Path(source).suffix.lower() in CAPTION_SUFFIXES:
            return [self._ingest_captions(Path(source), overrides)]
        with self.timings.timed("load models"):
            self.transcriber  # noqa: B018  fail on a missing model before downloading anything
        if is_url(source):
            return self._ingest_url(source, overrides)
        return [self._ingest_file(Path(source), overrides)]

    def _ingest_url(self, url: str, overrides: Overrides) -> list[IngestResult]:
        from ingest import list_entries, resolve

        with self.timings.timed("discover"):
            listings = list_entries(url, self.ytdlp_options)
        if not listings:
            raise SourceError(f"No media found at {url}: the playlist is empty")
        results = []
        for listing in listings:
            existing = self.catalog.meeting_by_source(listing.source_key)
            if existing:
                results.append(self._finish_existing(existing))
                continue
            with self.timings.timed("discover"):
                remote = resolve(listing, self.ytdlp_options)
            results.append(self.ingest_remote(remote, overrides))
        return results

    def ingest_remote(self, remote: Any, overrides: Overrides) -> IngestResult:
        """Download, check, record and process one looked-up recording."""
        from ingest import download

        existing = self.catalog.meeting_by_source(remote.source_key)
        if existing:
            return self._finish_existing(existing)
        with self._work_dir() as work:
            with self.timings.timed("download"), self.progress.bytes(f"download {remote.title[:40]}") as bar:
                media = download(remote, work, progress=bar, ytdlp_options=self.ytdlp_options)
            existing, digest, decoded = self._decode(media, work, remote.duration)
            if existing:
                return self._finish_existing(existing)
            meeting = remote_meeting(remote, overrides, decoded.duration)
            segments = self._video_captions(remote)
            if segments:
                meeting.transcript_source = "captions"
            meeting = self._add(meeting, media, digest, remote.source_key, segments, move=True)
            return IngestResult(self.process(meeting, decoded), "added")

    def _decode(self, media: Path, work: Path, duration: float | None) -> tuple[Meeting | None, str, Any]:
        """The meeting that already has this recording, or the recording's
        sound decoded once for the engines (which also checks the file); and
        its hash."""
        from ingest import decode_audio, file_hash, probe_duration

        with self.timings.timed("audio"):
            probe_duration(media)  # an empty or unreadable file says so before anything else
            digest = file_hash(media)
        existing = self.catalog.meeting_by_hash(digest)
        if existing:
            return existing, digest, None
        with self.timings.timed("audio"), self.progress.seconds("extract audio", duration) as bar:
            return None, digest, decode_audio(media, work / "engines.pcm", progress=bar)

    def _video_captions(self, remote: Any) -> list[Any] | None:
        """The video's own subtitles, where the captions setting prefers them."""
        from ingest import fetch_captions
        from transcribe.captions import cues_to_segments, parse_cues

        vtt = fetch_captions(remote, self.profile.captions, self.settings.language)
        segments = cues_to_segments(parse_cues(vtt)) if vtt else []
        return segments or None

    def _ingest_captions(self, path: Path, overrides: Overrides) -> IngestResult:
        """A caption file is a transcript already: no audio, no Whisper."""
        from ingest import file_hash
        from transcribe.captions import read_captions

        if not path.is_file():
            raise no_such_file(path)
        segments = read_captions(path)
        digest = file_hash(path)
        existing = self.catalog.meeting_by_hash(digest)
        if existing:
            return self._finish_existing(existing)
        meeting = local_meeting(path, overrides, digest, segments[-1].end)
        meeting.audio_hash, meeting.status, meeting.transcript_source = digest, "indexing", "captions"
        meeting = self.catalog.add_meeting(meeting, None, segments)
        return IngestResult(self.process(meeting), "added")

    def _ingest_file(self, path: Path, overrides: Overrides) -> IngestResult:
        if not path.is_file():
            raise no_such_file(path)
        with self._work_dir() as work:
            existing, digest, decoded = self._decode(path, work, None)
            if existing:
                return self._finish_existing(existing)
            meeting = local_meeting(path, overrides, digest, decoded.duration)
            meeting = self._add(meeting, path, digest, None, move=False)
            return IngestResult(self.process(meeting, decoded), "added")

    def _add(
        self,
        meeting: Meeting,
        media: Path,
        digest: str,
        source_key: str | None,
        segments: list[Any] | None = None,
        *,
        move: bool,
    ) -> Meeting:
        """Record the meeting. Its playback copy is made later, beside
        transcription (see process), so the recording waits in the audio
        folder under the copy's name until then: a run killed before the
        copy is done resumes from it."""
        from ingest import keep_recording

        self.settings.audio_dir.mkdir(parents=True, exist_ok=True)
        copy = self.settings.audio_dir / f"{digest[:16]}.m4a"
        keep_recording(media, copy, move)
        meeting.audio_path = str(copy)
        meeting.audio_hash = digest
        meeting.status = "transcribing" if segments is None else "indexing"
        self._check_claim()
        return self.catalog.add_meeting(meeting, source_key, segments)

    def _finish_existing(self, meeting: Meeting) -> IngestResult:
        if meeting.status == "indexed":
            return IngestResult(meeting, "exists")
        return IngestResult(self.process(meeting), "resumed")

    # -- stages -----------------------------------------------------------
    def process(self, meeting: Meeting, decoded: Any = None) -> Meeting:
        """Transcribe and index one catalogued meeting, resuming where it
        stopped. ``decoded`` is its sound already decoded for the engines
        (a DecodedAudio); without it they read the stored recording."""
        assert meeting.id is not None
        try:
            with self._work_dir() as work, self._playback_copy(meeting, work) as playback_ready:
                if meeting.transcript_source == "captions":
                    segments = self.catalog.segments(meeting.id)
                else:
                    load = decoded.load if decoded is not None else self._loader(meeting)
                    heard = self.transcription.run(meeting, load, self.profile, then=self._load_embedder)
                    self._check_claim()
                    self.catalog.replace_segments(meeting.id, heard.segments)
                    if heard.voices:
                        self.transcription.remember_voices(meeting, heard.voices)
                    # Speakers show by name where a voice was recognised.
                    segments = self.catalog.segments(meeting.id)
                playback_ready()
            self._check_claim()
            self.catalog.set_status(meeting.id, "indexing")
            index = self.index
            with (
                self.timings.timed("index"),
                self.timings.steps_of(index.timings),  # chunking, embedding, storing
                self.progress.count("embed chunks") as bar,
            ):
                index.index_meeting(
                    meeting.id, segments, progress=bar, fence=self.fence, vocabulary=self.profile.vocabulary
                )
            with self.timings.timed("votes"):
                from onrecord.votes import detect_meeting_votes

                detect_meeting_votes(self.catalog, meeting, segments)
                from onrecord.chapters import detect_meeting_chapters

                detect_meeting_chapters(self.catalog, meeting, segments)
            self._check_claim()
            self.catalog.set_status(meeting.id, "indexed")
        except Exception as exc:
            from onrecord.jobs import LostClaim

            if isinstance(exc, LostClaim):
                raise  # the meeting is another worker's now: leave its status alone
            self._check_claim()  # a worker that woke to a broken connection, likewise
            # Whatever broke (our own error, the database, the engine, memory),
            # the meeting says so; an interrupt leaves it to be resumed.
            with contextlib.suppress(Exception):  # the database itself may be what broke
                self.catalog.set_status(meeting.id, "failed", reason(exc))
            raise
        found = self.catalog.meeting(meeting.id)
        assert found is not None
        return found

    @contextmanager
    def _playback_copy(self, meeting: Meeting, work: Path) -> Iterator[Callable[[], None]]:
        """Encodes the playback copy beside the stages where it is missing (a
        new meeting, or a run killed before it was done). The callable waits
        for it (it is usually long done) and drops the recording it was made
        from; stopped part way, the recording stays for the next run."""
        from ingest import PlaybackCopy

        copy = Path(meeting.audio_path) if meeting.audio_path else None
        if copy is None or copy.exists():
            yield lambda: None
            return
        playback = PlaybackCopy(self._recording(meeting), copy, work)
        done = False

        def ready() -> None:
            nonlocal done
            with self.timings.timed("playback wait"):
                playback.wait()
            done = True
            self.timings.add("playback copy", playback.seconds)
            playback.src.unlink(missing_ok=True)

        try:
            yield ready
        finally:
            if not done:
                playback.cancel()

    def _recording(self, meeting: Meeting) -> Path:
        """The original recording kept until its copy is made, else the copy."""
        from ingest import stored_recording

        assert meeting.audio_path
        copy = Path(meeting.audio_path)
        found = stored_recording(copy)
        if found:
            return found
        raise MediaError(f"meeting {meeting.id}: its audio file {copy} is missing; put it back to finish")

    def _loader(self, meeting: Meeting) -> Callable[[float, float], Any]:
        """Reads the stored recording a window at a time (a resumed meeting),
        only once a stage needs audio (a cached transcript does not)."""
        from ingest import load_audio

        return lambda start, seconds: load_audio(self._recording(meeting), start, seconds)

    def _load_embedder(self) -> None:
        """Runs in the diarizer's thread once it is done, so that indexing
        does not wait for the embedding model to load."""
        if self._index is None and self._embedder is None:
            from search.embed import get_embedder

            with self.timings.timed("load models"):
                self._embedder = get_embedder(self.settings.embed_model)

    # -- scratch space ------------------------------------------------------
    @contextmanager
    def _work_dir(self) -> Iterator[Path]:
        work = self.settings.work_dir / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        work.mkdir(parents=True)
        try:
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def sweep_work_dirs(self) -> int:
        """Remove scratch folders (partial downloads) left by runs that were
        killed; returns how many went."""
        if not self.settings.work_dir.exists():
            return 0
        swept = 0
        for folder in self.settings.work_dir.iterdir():
            pid = folder.name.split("-")[0]
            if pid.isdigit() and not pid_alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)
                swept += 1
        return swept
