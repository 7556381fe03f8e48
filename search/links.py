"""Deep links to the second a passage was spoken."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MEDIA_SUFFIXES = (".mp4", ".m4a", ".mp3", ".webm", ".ogg", ".opus", ".wav", ".flac", ".mov", ".mkv", ".aac")


def _with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != name] + [(name, value)]
    return urlunsplit(parts._replace(query=urlencode(query), fragment=""))


def deep_link(source_url: str, start: float, meeting_id: int | None, base_url: str) -> str:
    """YouTube ``t=``, archive.org ``start=``, a media fragment for a direct
    file, or else the app's own player."""
    second = max(0, int(start))
    host = urlsplit(source_url).netloc.lower()
    if host.endswith(("youtube.com", "youtu.be")):
        return _with_param(source_url, "t", f"{second}s")
    if host.endswith("archive.org"):
        return _with_param(source_url, "start", str(second))
    if source_url.startswith("http") and urlsplit(source_url).path.lower().endswith(MEDIA_SUFFIXES):
        return f"{source_url.split('#')[0]}#t={second}"
    return player_link(meeting_id, start, base_url)


def player_link(meeting_id: int | None, start: float, base_url: str) -> str:
    return f"{base_url.rstrip('/')}/meetings/{meeting_id}#t={max(0, int(start))}"
