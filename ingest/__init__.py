"""Sources: yt-dlp URLs and local media files, turned into playable audio."""

from ingest.audio import SAMPLE_RATE, file_hash, load_audio, prepare_audio, probe_duration
from ingest.download import RemoteMeeting, describe, download

__all__ = [
    "SAMPLE_RATE",
    "RemoteMeeting",
    "describe",
    "download",
    "file_hash",
    "is_url",
    "load_audio",
    "prepare_audio",
    "probe_duration",
]


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))
