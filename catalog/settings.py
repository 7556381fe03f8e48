"""Settings: where data lives and which models run.

Resolution order, lowest first: built-in defaults, ``settings.toml`` in the
data directory, then ``ONRECORD_*`` environment variables. The CLI's options
override all three. Defaults need no network: the models named here are the
ones bundled in Python packages.
"""

from __future__ import annotations

import os
import socket
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_HOME = Path.home() / ".onrecord"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = DEFAULT_HOME
    engine: str = "faster-whisper"
    whisper_model: str = "tiny.en"
    language: str = "en"
    device: str = "auto"
    # 0 means the sequential pipeline; >1 uses faster-whisper's batched one.
    # 16 or 32 windows a batch ran 8-20 minutes of speech alone 1.1-1.2x
    # faster with the same words, but the whole 3-hour meeting (diarizer and
    # playback encoder beside it) took as long and 700 MB more memory.
    batch_size: int = 8
    beam_size: int = 5
    # Use a video's own captions instead of Whisper: "never" (default: Whisper
    # times words exactly, live captions lag), "auto" (human-made subtitles
    # only) or "prefer" (human-made, else the platform's automatic captions).
    captions: str = "never"
    # Who spoke when (resemblyzer voice prints); 0 turns it off.
    diarize: int = 1
    embed_model: str = "all-MiniLM-L6-v2"
    # Deep links to the app's own player are built on this address.
    base_url: str = "http://127.0.0.1:8000"
    # Email alerts go out through this SMTP server.
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "onrecord@localhost"
    smtp_starttls: int = 0
    # The web app is read-only unless this is set; writes (naming speakers,
    # saved searches) then need it as a bearer token.
    admin_token: str = ""
    # Searches per minute per client address; 0 turns the limit off.
    search_rate_limit: int = 60
    # Reverse proxies in front of the app (addresses or networks, comma-
    # separated, e.g. "127.0.0.1, 10.0.0.0/8"). Only a request from one of
    # them has its client read from X-Forwarded-For; anyone else could
    # write that header to dodge the rate limit.
    trusted_proxies: str = ""
    # Webhooks to loopback, private, link-local or other non-public addresses
    # are refused (a saved search must not reach the cloud metadata service or
    # the office router); 1 allows them, e.g. for a newsroom's own chat server.
    allow_private_webhooks: int = 0
    # PostgreSQL for everything (catalog, index, alerts, the job queue),
    # e.g. "postgresql://onrecord@db.example/onrecord"; empty means SQLite
    # in the data directory. Audio stays in data_dir, which workers and the
    # app must then share.
    database_url: str = ""

    @property
    def db_path(self) -> Path:
        return self.data_dir / "onrecord.db"

    @property
    def audio_dir(self) -> Path:
        return self.data_dir / "audio"

    @property
    def work_dir(self) -> Path:
        """Scratch space for downloads in flight; emptied as each ends. One
        folder per machine: workers sharing a data directory sweep only
        their own machine's leftovers (a process id means nothing elsewhere)."""
        return self.data_dir / "work" / socket.gethostname()

    def with_overrides(self, **values: Any) -> Settings:
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def _coerce(name: str, raw: Any) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    if name == "data_dir":
        return Path(raw).expanduser()
    if kind == "int":
        return int(raw)
    if isinstance(raw, list):  # settings.toml may give a list: trusted_proxies = ["10.0.0.1"]
        return ", ".join(str(item) for item in raw)
    return str(raw)


def load_settings(data_dir: str | Path | None = None) -> Settings:
    home = Path(data_dir or os.environ.get("ONRECORD_HOME") or DEFAULT_HOME).expanduser()
    values: dict[str, Any] = {"data_dir": home}
    config_file = home / "settings.toml"
    if config_file.exists():
        with config_file.open("rb") as fh:
            for key, raw in tomllib.load(fh).items():
                if key in Settings.__dataclass_fields__ and key != "data_dir":
                    values[key] = _coerce(key, raw)
    for f in fields(Settings):
        env = os.environ.get(f"ONRECORD_{f.name.upper()}")
        if env and f.name != "data_dir":
            values[f.name] = _coerce(f.name, env)
    return Settings(**values)
