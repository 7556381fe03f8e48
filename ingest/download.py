"""Finding and downloading meetings with yt-dlp's Python API.

yt-dlp covers YouTube, Vimeo, archive.org, HLS streams, RSS feeds and direct
media links; it is handed the ffmpeg from imageio-ffmpeg so no system ffmpeg
is needed.
"""

from __future__ import annotations

import errno
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from catalog.errors import NetworkError, SourceError

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class RemoteMeeting:
    """What yt-dlp says about one recording, before it is downloaded."""

    url: str
    source_key: str
    source_id: str
    title: str
    date: str | None
    duration: float | None
    info: dict[str, Any]


class _QuietLogger:
    """yt-dlp prints to stderr by default; keep the last error for our message."""

    def __init__(self) -> None:
        self.last_error = ""

    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        pass

    def error(self, msg: str) -> None:
        self.last_error = msg


def _clean(message: str) -> str:
    message = ANSI.sub("", message).strip().splitlines()[0] if message.strip() else ""
    return message.removeprefix("ERROR: ").strip()


def _options(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    from ingest.audio import ffmpeg_exe

    opts: dict[str, Any] = {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "format": "bestaudio/best",
        "ffmpeg_location": ffmpeg_exe(),
        "socket_timeout": 30,
        "retries": 3,
        "noplaylist": False,
        "logger": _QuietLogger(),
    }
    opts.update(extra or {})
    return opts


MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
ISO_IN_TEXT = re.compile(r"(?<!\d)(20\d\d|19\d\d)[-_.]?(0[1-9]|1[0-2])[-_.]?(0[1-9]|[12]\d|3[01])(?!\d)")
US_IN_TEXT = re.compile(r"\b([A-Za-z]{3})[a-z]*\.? (\d{1,2}),? (\d{4})\b")
NUMERIC_US = re.compile(r"(?<!\d)(\d{1,2})[/-](\d{1,2})[/-](\d{4})(?!\d)")


def date_in_text(text: str) -> str | None:
    """A meeting date written in a title or file name: 2024-03-05, 20240305,
    March 5, 2024 or 3/5/2024."""
    if m := ISO_IN_TEXT.search(text):
        return f"{m[1]}-{m[2]}-{m[3]}"
    if (m := US_IN_TEXT.search(text)) and m[1].lower() in MONTHS:
        return f"{m[3]}-{MONTHS[m[1].lower()]:02d}-{int(m[2]):02d}"
    if (m := NUMERIC_US.search(text)) and 1 <= int(m[1]) <= 12 and 1 <= int(m[2]) <= 31:
        return f"{m[3]}-{int(m[1]):02d}-{int(m[2]):02d}"
    return None


def _iso_date(info: dict[str, Any]) -> str | None:
    """Meetings are often uploaded days after they happen, so a date in the
    title wins over the upload date. A bare file's date is only its
    Last-Modified header, which says nothing about the meeting."""
    found = date_in_text(str(info.get("title") or ""))
    if found:
        return found
    raw = info.get("release_date")
    if not raw and (info.get("extractor_key") or "Generic") != "Generic":
        raw = info.get("upload_date")
    if raw and re.fullmatch(r"\d{8}", str(raw)):
        return f"{raw[:4]}-{raw[4:6]}-{raw[6:]}"
    return None


def _remote(info: dict[str, Any]) -> RemoteMeeting:
    from yt_dlp.utils import unsmuggle_url

    url, _ = unsmuggle_url(info.get("webpage_url") or info.get("original_url") or info["url"])
    extractor = info.get("extractor_key") or info.get("ie_key") or "Generic"
    # A direct file's id is just its name, which many servers share.
    key = f"url:{url}" if extractor == "Generic" else f"{extractor}:{info['id']}"
    return RemoteMeeting(
        url=url,
        source_key=key,
        source_id=str(info.get("id") or ""),
        title=info.get("title") or info.get("id") or url,
        date=_iso_date(info),
        duration=info.get("duration"),
        info=info,
    )


UNREACHABLE = {
    errno.ECONNREFUSED: "the connection was refused",
    errno.ETIMEDOUT: "the connection timed out",
    errno.ENETUNREACH: "there is no route to the network",
    errno.EHOSTUNREACH: "there is no route to the host",
    errno.ENETDOWN: "the network is down",
    errno.EHOSTDOWN: "the host is down",
}
# What yt-dlp writes when it hides the exception (a retried media download).
UNREACHABLE_TEXT = re.compile(
    r"Failed to resolve|Name or service not known|Temporary failure in name resolution|"
    r"Connection refused|timed out|No route to host|Network is unreachable|Failed to establish"
    r" a new connection|Unable to connect to proxy",
    re.IGNORECASE,
)


def _network_trouble(exc: BaseException | None, message: str) -> str | None:
    """Why the source could not be reached at all, or None when it answered
    (a 404, a page without video): only then is "no media" the truth."""
    from yt_dlp.networking.exceptions import ProxyError, TransportError

    seen = 0
    while exc is not None and seen < 10:
        seen += 1
        if isinstance(exc, ProxyError):
            return "the proxy could not be reached"
        if isinstance(exc, socket.gaierror):
            return "the host name did not resolve (DNS)"
        if isinstance(exc, OSError) and exc.errno in UNREACHABLE:
            return UNREACHABLE[exc.errno]
        if isinstance(exc, TimeoutError | socket.timeout):
            return "it timed out"
        if isinstance(exc, TransportError) and not getattr(exc, "cause", None):
            return "the connection failed"
        exc = getattr(exc, "cause", None) or exc.__cause__ or exc.__context__
    return "the connection failed" if UNREACHABLE_TEXT.search(message) else None


def _unreachable(url: str, why: str) -> NetworkError:
    host = urlsplit(url).hostname or url
    return NetworkError(
        f"Could not reach {host}: {why}. That is the network, not the recording: check the"
        " connection or the proxy setting (HTTPS_PROXY, or proxy under [ytdlp] in sources.toml),"
        " then try again"
    )


def _failure(exc: Any, logger: _QuietLogger) -> tuple[str, str | None]:
    """yt-dlp's one-line reason, and the network trouble behind it if any."""
    message = _clean(logger.last_error or str(exc))
    cause = exc.exc_info[1] if getattr(exc, "exc_info", None) else None
    return message, _network_trouble(cause, message)


def _extract(url: str, opts: dict[str, Any]) -> dict[str, Any]:
    import yt_dlp

    logger = opts["logger"]
    try:
        with yt_dlp.YoutubeDL(opts) as ydl:
            info = ydl.extract_info(url, download=False)
    except yt_dlp.utils.DownloadError as exc:
        reason, trouble = _failure(exc, logger)
        if trouble:
            raise _unreachable(url, trouble) from None
        raise SourceError(f"No media found at {url}: {reason}") from None
    if not info:
        raise SourceError(f"No media found at {url}")
    return ydl.sanitize_info(info)


@dataclass
class Listing:
    """One item as a playlist, channel or feed lists it, before the (slower)
    full look-up. ``source_key`` lets a nightly run skip known items
    without looking them up at all."""

    url: str
    source_key: str
    title: str
    date: str | None
    live: bool
    entry: dict[str, Any]
    remote: RemoteMeeting | None = None  # already looked up (a single video)


def _listing_key(entry: dict[str, Any]) -> str:
    from yt_dlp.utils import unsmuggle_url

    url, _ = unsmuggle_url(entry.get("url") or entry.get("webpage_url") or "")
    ie_key = entry.get("ie_key")
    return f"{ie_key}:{entry['id']}" if ie_key and ie_key != "Generic" and entry.get("id") else f"url:{url}"


def list_entries(url: str, ytdlp_options: dict[str, Any] | None = None) -> list[Listing]:
    """What a URL holds, listed flat: one item for a video, many for a
    playlist, channel or feed."""
    info = _extract(url, _options({**(ytdlp_options or {}), "extract_flat": "in_playlist"}))
    if info.get("_type") not in ("playlist", "multi_video"):
        remote = _remote(info)
        live = info.get("live_status") in ("is_live", "is_upcoming")
        return [Listing(remote.url, remote.source_key, remote.title, remote.date, live, info, remote)]
    listings = []
    for entry in info.get("entries") or []:
        if not (entry.get("url") or entry.get("webpage_url")):
            continue
        stamp = entry.get("timestamp") or entry.get("release_timestamp")
        date = date_in_text(str(entry.get("title") or "")) or (
            time.strftime("%Y-%m-%d", time.gmtime(stamp)) if stamp else _iso_date(entry)
        )
        listings.append(
            Listing(
                url=entry.get("url") or entry["webpage_url"],
                source_key=_listing_key(entry),
                title=entry.get("title") or "",
                date=date,
                live=entry.get("live_status") in ("is_live", "is_upcoming"),
                entry=entry,
            )
        )
    return listings


def resolve(listing: Listing, ytdlp_options: dict[str, Any] | None = None) -> RemoteMeeting:
    """Look an item up in full, ready to download."""
    if listing.live:
        raise SourceError(f"{listing.url} is live or upcoming; ingest it once the recording is complete")
    if listing.remote is not None:
        return listing.remote
    full = _extract(listing.url, _options(ytdlp_options))
    return _check_live(_remote(_with_listing(full, listing.entry)))


def describe(url: str, ytdlp_options: dict[str, Any] | None = None) -> list[RemoteMeeting]:
    """Every recording behind a URL, looked up in full."""
    found = [resolve(listing, ytdlp_options) for listing in list_entries(url, ytdlp_options)]
    if not found:
        raise SourceError(f"No media found at {url}: the playlist is empty")
    return found


def _with_listing(full: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """A feed or playlist often knows more than the media file behind it (an
    RSS item's title and pubDate); keep what the listing said."""
    if full.get("extractor_key") == "Generic":
        if entry.get("title"):
            full["title"] = entry["title"]
        if entry.get("timestamp") and not full.get("release_date"):
            full["release_date"] = time.strftime("%Y%m%d", time.gmtime(entry["timestamp"]))
    return full


def _check_live(remote: RemoteMeeting) -> RemoteMeeting:
    if remote.info.get("live_status") in ("is_live", "is_upcoming"):
        raise SourceError(f"{remote.url} is live or upcoming; ingest it once the recording is complete")
    return remote


def download(
    remote: RemoteMeeting,
    work_dir: Path,
    progress: Callable[[int, int | None], None] | None = None,
    ytdlp_options: dict[str, Any] | None = None,
) -> Path:
    """Download one recording into ``work_dir``; returns the media file."""
    import yt_dlp

    work_dir.mkdir(parents=True, exist_ok=True)

    def hook(status: dict[str, Any]) -> None:
        if progress and status.get("status") in ("downloading", "finished"):
            total = status.get("total_bytes") or status.get("total_bytes_estimate")
            progress(int(status.get("downloaded_bytes") or 0), int(total) if total else None)

    opts = _options(
        {**(ytdlp_options or {}), "outtmpl": str(work_dir / "media.%(ext)s"), "progress_hooks": [hook]}
    )
    try:
        with yt_dlp.YoutubeDL(opts) as ydl:
            info = ydl.process_ie_result(dict(remote.info), download=True)
    except yt_dlp.utils.DownloadError as exc:
        reason, trouble = _failure(exc, opts["logger"])
        if trouble:
            raise _unreachable(remote.url, trouble) from None
        raise SourceError(f"Download of {remote.url} failed: {reason}") from None
    files = [Path(d["filepath"]) for d in info.get("requested_downloads") or [] if d.get("filepath")]
    files = [f for f in files if f.exists()] or sorted(work_dir.glob("media.*"))
    if not files:
        raise SourceError(f"Download of {remote.url} produced no file")
    return files[0]


CAPTION_MODES = ("never", "auto", "prefer")


def _caption_track(tracks: dict[str, Any], language: str) -> dict[str, Any] | None:
    for lang in sorted(tracks, key=lambda code: (code != language, code)):
        if lang == language or lang.startswith(f"{language}-"):
            for fmt in ("vtt", "srt"):
                for track in tracks[lang] or []:
                    if track.get("ext") == fmt and track.get("url"):
                        return track
    return None


def fetch_captions(remote: RemoteMeeting, mode: str, language: str = "en") -> str | None:
    """The recording's own captions as WebVTT/SRT text, or None.

    ``auto`` takes human-made subtitles only; ``prefer`` falls back to the
    platform's automatic captions; ``never`` always returns None.
    """
    if mode not in CAPTION_MODES:
        raise SourceError(f"Unknown captions mode {mode!r}; use one of: {', '.join(CAPTION_MODES)}")
    if mode == "never":
        return None
    track = _caption_track(remote.info.get("subtitles") or {}, language)
    if track is None and mode == "prefer":
        track = _caption_track(remote.info.get("automatic_captions") or {}, language)
    if track is None:
        return None
    import yt_dlp

    try:
        with yt_dlp.YoutubeDL(_options()) as ydl:
            return ydl.urlopen(track["url"]).read().decode("utf-8-sig", errors="replace")
    except Exception as exc:  # network errors come in many types
        raise SourceError(f"Could not fetch captions for {remote.url}: {type(exc).__name__}") from None
