"""Audio handling with the ffmpeg that the imageio-ffmpeg wheel ships, so no
system ffmpeg is needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from catalog.errors import MediaError

SAMPLE_RATE = 16000
# Mono AAC at 48 kb/s keeps speech clear, seeks well in every browser
# (Safari included) and costs about 65 MB for a three-hour meeting.
PLAYBACK_ARGS = ["-ac", "1", "-ar", "24000", "-c:a", "aac", "-b:a", "48k", "-movflags", "+faststart"]
# The playback encoder's nice value: below the engines it runs beside.
ENCODER_NICENESS = 10


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def probe_duration(path: Path) -> float:
    """Seconds of audio in ``path``; raises MediaError when there is none."""
    import av

    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path.name}: the file is empty (0 bytes); check the download or the path")
    try:
        with av.open(str(path)) as container:
            streams = container.streams.audio
            if not streams:
                raise MediaError(
                    f"{path.name}: the file has no audio track; OnRecord needs the meeting's sound"
                )
            stream = streams[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / 1_000_000
            return 0.0
    except MediaError:
        raise
    except Exception as exc:  # PyAV raises many types for damaged input
        raise MediaError(
            f"{path.name}: not a readable audio or video file ({type(exc).__name__}); "
            "check that the file is complete"
        ) from None


def _follow(proc: subprocess.Popen[str], duration: float, progress: Callable[[float], None] | None) -> None:
    """Feed ffmpeg's ``-progress pipe:1`` lines to a progress bar until it ends."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if progress and line.startswith("out_time_us=") and line.strip()[12:].isdigit():
            progress(min(duration, int(line.strip()[12:]) / 1_000_000))


def _first_line(text: str, default: str = "ffmpeg failed") -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else default


class DecodedAudio:
    """A recording decoded once to 16 kHz mono 16-bit PCM in a scratch file,
    read a window at a time through a memory map: the transcriber and the
    diarizer share it without spawning ffmpeg (or holding six hours of
    float32) per window."""

    def __init__(self, path: Path, duration: float) -> None:
        self.path = path
        self.duration = duration
        size = path.stat().st_size if path.exists() else 0
        self._samples = (
            np.memmap(path, dtype=np.int16, mode="r") if size >= 2 else np.zeros(0, dtype=np.int16)
        )

    @property
    def seconds(self) -> float:
        return len(self._samples) / SAMPLE_RATE

    def load(self, start: float = 0.0, seconds: float | None = None) -> np.ndarray:
        """16 kHz mono float32, as ``load_audio`` returns it."""
        first = int(round(start * SAMPLE_RATE))
        last = len(self._samples) if seconds is None else first + int(round(seconds * SAMPLE_RATE))
        return self._samples[first:last].astype(np.float32) / 32768.0


def decode_audio(media: Path, dest: Path, progress: Callable[[float], None] | None = None) -> DecodedAudio:
    """Check ``media`` and decode all of its sound to ``dest`` for the
    engines. Decoding every frame proves the file is sound before anything
    is recorded in the catalog; raises MediaError, leaving nothing behind,
    when the file is empty, damaged or silent."""
    duration = probe_duration(media)
    tmp = dest.with_name(dest.name + ".partial")
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(media), "-vn", "-map", "0:a:0"]
    cmd += ["-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "-progress", "pipe:1", "-nostats", str(tmp)]
    with tempfile.TemporaryFile() as errors:  # a pipe could fill up and stall ffmpeg
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, text=True)
        _follow(proc, duration, progress)
        code = proc.wait()
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
    if code != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        raise MediaError(f"{media.name}: the audio could not be decoded ({_first_line(stderr)})")
    os.replace(tmp, dest)
    decoded = DecodedAudio(dest, duration)
    if decoded.seconds <= 0:
        dest.unlink(missing_ok=True)
        raise MediaError(f"{media.name}: the audio track is empty")
    if duration <= 0:
        decoded.duration = decoded.seconds
    return decoded


class PlaybackCopy:
    """The compressed copy people play, encoded by an ffmpeg of its own beside
    transcription: it is only needed once the meeting is published, and
    encoding AAC costs about as much CPU as a third of transcribing it, so
    doing it first kept both engines waiting (88 s of a 3-hour meeting).
    The encoder runs at a lower priority, so it takes the CPU the engines
    leave idle rather than theirs. It writes into ``scratch`` (a run's work
    folder, swept if the run is killed, so an encoder outliving its run
    never writes where the next one does); ``wait()`` puts the finished copy
    in place, ``cancel()`` stops it and removes the partial file."""

    def __init__(self, src: Path, dest: Path, scratch: Path) -> None:
        self.src, self.dest = src, dest
        self._tmp = scratch / f"{dest.stem}.partial.m4a"
        self._errors = tempfile.TemporaryFile()  # a pipe could fill up and stall ffmpeg
        cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(src), "-vn", "-map", "0:a:0"]
        self._started = time.perf_counter()
        self._proc = subprocess.Popen(
            [*cmd, *PLAYBACK_ARGS, str(self._tmp)], stdout=subprocess.DEVNULL, stderr=self._errors
        )
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, self._proc.pid, ENCODER_NICENESS)
        self.seconds = 0.0  # the encoder's own wall time, once it has ended
        self._reaper = threading.Thread(target=self._reap, name="playback-copy", daemon=True)
        self._reaper.start()

    def _reap(self) -> None:
        self._proc.wait()
        self.seconds = time.perf_counter() - self._started

    def wait(self) -> Path:
        self._reaper.join()
        self._errors.seek(0)
        stderr = self._errors.read().decode(errors="replace")
        self._errors.close()
        if self._proc.returncode != 0 or not self._tmp.exists() or self._tmp.stat().st_size == 0:
            self._tmp.unlink(missing_ok=True)
            raise MediaError(
                f"{self.src.name}: the playback copy could not be written ({_first_line(stderr)})"
            )
        shutil.move(self._tmp, self.dest)
        return self.dest

    def cancel(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._reaper.join()
        self._errors.close()
        self._tmp.unlink(missing_ok=True)


def keep_recording(media: Path, copy: Path, move: bool) -> Path:
    """Keep ``media`` beside where its playback copy ``copy`` will be, until
    that is made: a download is moved; a user's own file is linked, or
    copied where it cannot be (another disk)."""
    kept = copy.with_name(f"{copy.stem}.source{media.suffix.lower() or '.media'}")
    if move:
        shutil.move(media, kept)
        return kept
    kept.unlink(missing_ok=True)
    try:
        os.link(media, kept)
    except OSError:
        shutil.copyfile(media, kept)
    return kept


def stored_recording(copy: Path) -> Path | None:
    """The recording kept for the playback copy ``copy`` (see
    ``keep_recording``), else the copy itself; None when neither is there."""
    for kept in sorted(copy.parent.glob(f"{copy.stem}.source.*")):
        return kept
    return copy if copy.exists() else None


def load_audio(path: Path, start: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Decode to 16 kHz mono float32: all of it, or ``duration`` seconds from
    ``start`` (so a six-hour meeting never has to fit in memory at once)."""
    window = ["-t", f"{duration:.3f}"] if duration else []
    cmd = [
        ffmpeg_exe(),
        "-nostdin",
        "-v",
        "error",
        "-ss",
        f"{start:.3f}",
        "-i",
        str(path),
        *window,
        "-vn",
        "-ac",
        "1",
        "-ar",
        str(SAMPLE_RATE),
        "-f",
        "s16le",
        "-",
    ]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        raise MediaError(f"{path.name}: the audio could not be decoded")
    return np.frombuffer(proc.stdout, dtype=np.int16).astype(np.float32) / 32768.0


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
