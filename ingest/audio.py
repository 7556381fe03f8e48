"""Audio handling with the ffmpeg that the imageio-ffmpeg wheel ships, so no
system ffmpeg is needed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np

from catalog.errors import MediaError

SAMPLE_RATE = 16000
# Mono AAC at 48 kb/s keeps speech clear, seeks well in every browser
# (Safari included) and costs about 65 MB for a three-hour meeting.
PLAYBACK_ARGS = ["-ac", "1", "-ar", "24000", "-c:a", "aac", "-b:a", "48k", "-movflags", "+faststart"]


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


def compress_audio(
    src: Path, dest: Path, duration: float, progress: Callable[[float], None] | None = None
) -> None:
    """Write the playback copy; decoding all of the audio here also proves the
    file is sound before anything is recorded in the catalog."""
    tmp = dest.with_suffix(".partial.m4a")
    cmd = [
        ffmpeg_exe(),
        "-nostdin",
        "-v",
        "error",
        "-y",
        "-i",
        str(src),
        "-vn",
        "-map",
        "0:a:0",
        *PLAYBACK_ARGS,
        "-progress",
        "pipe:1",
        "-nostats",
        str(tmp),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if progress and line.startswith("out_time_us=") and line.strip()[12:].isdigit():
            progress(min(duration, int(line.strip()[12:]) / 1_000_000))
    stderr = proc.stderr.read() if proc.stderr else ""
    if proc.wait() != 0 or not tmp.exists() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        first = stderr.strip().splitlines()[:1]
        raise MediaError(
            f"{src.name}: the audio could not be decoded ({first[0] if first else 'ffmpeg failed'})"
        )
    os.replace(tmp, dest)


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


def prepare_audio(
    media: Path, dest_dir: Path, progress: Callable[[float], None] | None = None
) -> tuple[Path, str, float]:
    """Validate ``media`` and write its playback copy into ``dest_dir``.

    Returns the copy's path, the source file's SHA-256 and the duration in
    seconds. Raises MediaError, leaving nothing behind, when the file is
    empty, damaged or silent.
    """
    duration = probe_duration(media)
    digest = file_hash(media)
    dest_dir.mkdir(parents=True, exist_ok=True)
    copy = dest_dir / f"{digest[:16]}.m4a"
    compress_audio(media, copy, duration, progress)
    if duration <= 0:
        duration = probe_duration(copy)
    if duration <= 0:
        copy.unlink(missing_ok=True)
        raise MediaError(f"{media.name}: the audio track is empty")
    return copy, digest, duration
