"""Sources: yt-dlp URLs and local media files, turned into playable audio."""

from ingest.audio import (
    SAMPLE_RATE,
    DecodedAudio,
    PlaybackCopy,
    decode_audio,
    file_hash,
    keep_recording,
    load_audio,
    probe_duration,
    stored_recording,
)
from ingest.download import (
    Listing,
    RemoteMeeting,
    date_in_text,
    describe,
    download,
    fetch_captions,
    list_entries,
    resolve,
)

__all__ = [
    "SAMPLE_RATE",
    "date_in_text",
    "Listing",
    "RemoteMeeting",
    "list_entries",
    "resolve",
    "describe",
    "download",
    "fetch_captions",
    "file_hash",
    "is_url",
    "keep_recording",
    "load_audio",
    "stored_recording",
    "decode_audio",
    "DecodedAudio",
    "PlaybackCopy",
    "probe_duration",
]


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))
