"""What the user hands ``ingest``, and the meeting each source describes.

A folder stands for the recordings and caption files in it; a file on this
machine or a recording found online becomes a meeting named from its own
metadata, except where the user said otherwise (``Overrides``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from catalog import Meeting, OnRecordError, SourceError, parse_date

if TYPE_CHECKING:
    from ingest import RemoteMeeting

# What a folder given to ``ingest`` contributes: recordings and caption files.
MEDIA_SUFFIXES = (".mp4", ".m4a", ".mp3", ".wav", ".flac", ".ogg", ".opus", ".webm", ".mkv", ".mov", ".aac")


@dataclass
class Overrides:
    """What the user said about a meeting, which beats the source's metadata."""

    body: str | None = None
    date: str | None = None
    title: str | None = None

    def __post_init__(self) -> None:
        if self.date:
            self.date = parse_date(self.date, "--date")
        if self.body is not None and not self.body.strip():
            raise OnRecordError(
                "--body is empty; give the council's name, e.g. --body 'Seattle City Council'"
            )


def no_such_file(path: Path) -> SourceError:
    return SourceError(f"{path}: no such file; give a media file, a caption file, a folder or a URL")


def expand_sources(sources: list[str]) -> list[str]:
    """Sources with each folder replaced by the recordings and caption
    files in it, in name order, so a whole archive imports in one process
    (its models loaded once)."""
    from transcribe.captions import CAPTION_SUFFIXES

    out: list[str] = []
    for source in sources:
        folder = Path(source)
        if "://" not in source and not folder.exists():
            # Before any lock or database is made: a typo leaves nothing behind.
            raise no_such_file(folder)
        if "://" in source or not folder.is_dir():
            out.append(source)
            continue
        found = sorted(
            str(p) for p in folder.iterdir() if p.suffix.lower() in MEDIA_SUFFIXES + CAPTION_SUFFIXES
        )
        if not found:
            raise SourceError(f"{folder}: no recordings or caption files (.vtt, .srt, .mp4, …) in it")
        out += found
    return out


def local_meeting(path: Path, overrides: Overrides, digest: str, duration: float) -> Meeting:
    """A meeting read from a file on this machine: named after the file
    unless the user named it, identified by its content."""
    from ingest import date_in_text

    return Meeting(
        title=overrides.title or path.stem.replace("_", " "),
        body=overrides.body or "Unsorted",
        source_url=path.resolve().as_uri(),
        source_id=digest[:16],
        date=overrides.date or date_in_text(path.stem),
        duration=duration,
    )


def remote_meeting(remote: RemoteMeeting, overrides: Overrides, duration: float) -> Meeting:
    """A meeting found online: its body is the channel that posted it
    unless the user named one."""
    return Meeting(
        title=overrides.title or remote.title,
        body=overrides.body or remote.info.get("channel") or remote.info.get("uploader") or "Unsorted",
        source_url=remote.url,
        source_id=remote.source_id,
        date=overrides.date or remote.date,
        duration=duration,
    )
