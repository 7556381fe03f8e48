"""``sources.toml``: the bodies a nightly run follows, and how.

    [ytdlp]                      # optional: yt-dlp's practical options
    cookies = "~/cookies.txt"    # YouTube blocks many datacenter addresses
    proxy = "socks5://127.0.0.1:1080"
    sleep = 5                    # seconds between requests
    rate_limit = "2M"            # bytes per second

    [[bodies]]
    name = "Pittsburgh City Council"
    vocabulary = ["Lando", "O'Connor", "ICE", "287(g)"]
    since = "2025-01-01"         # optional date window (also: until)
    legistar = "pittsburgh"      # optional: keep agendas and votes current from Legistar
    sources = [
      "https://www.youtube.com/@PittsburghCityCouncil/streams",
      { url = "https://example.gov/feed.xml", captions = "auto", model = "base" },
    ]

A source given as a table may set ``vocabulary`` (added to its body's),
``engine``, ``model``, ``captions``, ``since`` and ``until``. ``legistar``
may also be a table: ``{ client = "seattle", body = "City Council", api = URL }``
(``body`` is Legistar's name for the body when it differs).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalog import OnRecordError, parse_date

SOURCE_KEYS = {"url", "vocabulary", "engine", "model", "captions", "since", "until"}
BODY_KEYS = {"name", "sources", "vocabulary", "engine", "model", "captions", "since", "until", "legistar"}
LEGISTAR_KEYS = {"client", "body", "api"}
YTDLP_KEYS = {
    "cookies": "cookiefile",
    "proxy": "proxy",
    "sleep": "sleep_interval_requests",
    "rate_limit": "ratelimit",
    "user_agent": "http_headers",
}


@dataclass(frozen=True)
class SourceConfig:
    url: str
    body: str
    vocabulary: tuple[str, ...] = ()
    engine: str | None = None
    model: str | None = None
    captions: str | None = None
    since: str | None = None
    until: str | None = None


@dataclass(frozen=True)
class LegistarConfig:
    """A body whose agendas and votes the nightly run imports from Legistar."""

    body: str
    client: str
    legistar_body: str | None = None
    api: str | None = None
    since: str | None = None
    until: str | None = None


@dataclass
class RunConfig:
    sources: list[SourceConfig] = field(default_factory=list)
    legistar: list[LegistarConfig] = field(default_factory=list)
    ytdlp: dict[str, Any] = field(default_factory=dict)
    retries: int = 2
    backoff: float = 30.0

    def for_body(self, body: str) -> SourceConfig | None:
        return next((s for s in self.sources if s.body.lower() == body.lower()), None)


def _where(path: Path, what: str) -> str:
    return f"{path.name}: {what}"


def _strings(value: Any, path: Path, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise OnRecordError(_where(path, f"{what} must be a list of strings"))
    return tuple(value)


def _date(value: Any, path: Path, what: str) -> str | None:
    if value is None:
        return None
    return parse_date(str(value), _where(path, what))


def _ytdlp_options(table: dict[str, Any], path: Path) -> dict[str, Any]:
    unknown = set(table) - set(YTDLP_KEYS)
    if unknown:
        raise OnRecordError(_where(path, f"unknown [ytdlp] keys {sorted(unknown)}; use {sorted(YTDLP_KEYS)}"))
    options: dict[str, Any] = {}
    for key, value in table.items():
        if key == "cookies":
            options["cookiefile"] = str(Path(value).expanduser())
        elif key == "rate_limit":
            from yt_dlp.utils import parse_bytes

            options["ratelimit"] = parse_bytes(str(value))
        elif key == "user_agent":
            options["http_headers"] = {"User-Agent": str(value)}
        elif key == "sleep":
            # Between metadata requests and before each download alike.
            options["sleep_interval_requests"] = options["sleep_interval"] = float(value)
        else:
            options[YTDLP_KEYS[key]] = value
    return options


def _legistar(body: dict[str, Any], name: str, path: Path) -> LegistarConfig:
    entry = body["legistar"]
    entry = {"client": entry} if isinstance(entry, str) else entry
    if not isinstance(entry, dict) or not isinstance(entry.get("client"), str) or not entry["client"].strip():
        raise OnRecordError(
            _where(path, f'body {name!r}: legistar needs a client name, e.g. legistar = "seattle"')
        )
    unknown = set(entry) - LEGISTAR_KEYS
    if unknown:
        raise OnRecordError(_where(path, f"body {name!r}: unknown legistar keys {sorted(unknown)}"))
    return LegistarConfig(
        body=name,
        client=entry["client"].strip(),
        legistar_body=entry.get("body"),
        api=entry.get("api"),
        since=_date(body.get("since"), path, f"{name} since"),
        until=_date(body.get("until"), path, f"{name} until"),
    )


def load_config(path: Path) -> RunConfig:
    """Read and check sources.toml; every mistake is named with its place."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise OnRecordError(f"{path}: no such config; copy sources.example.toml to start one") from None
    except tomllib.TOMLDecodeError as exc:
        raise OnRecordError(_where(path, f"not valid TOML ({exc})")) from None
    config = RunConfig(ytdlp=_ytdlp_options(data.get("ytdlp", {}), path))
    run = data.get("run", {})
    config.retries = int(run.get("retries", config.retries))
    config.backoff = float(run.get("backoff", config.backoff))
    bodies = data.get("bodies")
    if not isinstance(bodies, list) or not bodies:
        raise OnRecordError(_where(path, "no [[bodies]]; add one with a name and sources"))
    for i, body in enumerate(bodies, 1):
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise OnRecordError(_where(path, f"body {i} has no name"))
        unknown = set(body) - BODY_KEYS
        if unknown:
            raise OnRecordError(_where(path, f"body {name!r} has unknown keys {sorted(unknown)}"))
        vocabulary = _strings(body.get("vocabulary", []), path, f"{name} vocabulary")
        if "legistar" in body:
            config.legistar.append(_legistar(body, name.strip(), path))
        sources = body.get("sources")
        if not isinstance(sources, list) or not sources:
            raise OnRecordError(_where(path, f"body {name!r} lists no sources"))
        for source in sources:
            entry = {"url": source} if isinstance(source, str) else dict(source)
            if not isinstance(entry.get("url"), str):
                raise OnRecordError(_where(path, f"a source of {name!r} has no url"))
            unknown = set(entry) - SOURCE_KEYS
            if unknown:
                raise OnRecordError(_where(path, f"source {entry['url']} has unknown keys {sorted(unknown)}"))
            config.sources.append(
                SourceConfig(
                    url=entry["url"],
                    body=name.strip(),
                    vocabulary=vocabulary + _strings(entry.get("vocabulary", []), path, "vocabulary"),
                    engine=entry.get("engine", body.get("engine")),
                    model=entry.get("model", body.get("model")),
                    captions=entry.get("captions", body.get("captions")),
                    since=_date(entry.get("since", body.get("since")), path, f"{name} since"),
                    until=_date(entry.get("until", body.get("until")), path, f"{name} until"),
                )
            )
    return config
