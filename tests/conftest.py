"""Shared fixtures. Each test builds its own data directory; servers listen
on loopback only and are always shut down."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from catalog import Catalog, load_settings
from onrecord.cli import cli
from tests.loopback import LoopbackServer
from tests.pg import pg_server, pg_url  # noqa: F401  (fixtures: a real PostgreSQL + pgvector)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SEATTLE = "meetings/seattle-council-special-2017-10-05.mp4"


def shared(relative: str) -> Path:
    """A file from ../shared/data; skipped when absent, but never under CI."""
    path = SHARED_DATA / relative
    if not path.exists():
        message = f"{path} is missing: the real recordings live in ../shared/data beside the repo"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def loopback(tmp_path: Path) -> Iterator[LoopbackServer]:
    root = tmp_path / "www"
    root.mkdir()
    with LoopbackServer(root) as server:
        yield server


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def run(home: Path, *args: str) -> Result:
    """Run the real CLI in-process against ``home``."""
    return CliRunner().invoke(cli, ["--data-dir", str(home), *args], catch_exceptions=False)


def scratch_left(home: Path) -> list[Path]:
    """Files left in the scratch area (work/<machine>/…: workers on several
    machines share one data directory); a finished or failed run leaves none."""
    work = home / "work"
    return [p for p in work.rglob("*") if p.is_file()] if work.exists() else []


def catalog_for(home: Path) -> Catalog:
    return Catalog(load_settings(home).db_path)


@pytest.fixture(scope="session")
def minilm() -> object:
    """The bundled MiniLM, loaded once for the tests that build indexes."""
    from search.embed import get_embedder

    return get_embedder("all-MiniLM-L6-v2")


@pytest.fixture(scope="session")
def seattle_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The real Seattle meeting, ingested once through yt-dlp from loopback."""
    video = shared(SEATTLE)
    root = tmp_path_factory.mktemp("seattle-www")
    shutil.copy(video, root / video.name)
    home = tmp_path_factory.mktemp("seattle-home")
    with LoopbackServer(root) as server:
        url = server.url(video.name)
        result = run(home, "ingest", url, "--body", "Seattle City Council", "--json")
        assert result.exit_code == 0, result.output
        yield home, url


def speak(text: str, path: Path, voice: str = "en-us") -> Path:
    """Synthetic speech from espeak-ng (installed by .ci/run)."""
    if shutil.which("espeak-ng") is None:
        if os.environ.get("CI"):
            pytest.fail("espeak-ng is missing: .ci/run installs it with apt-get")
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)
    return path


def ffmpeg(*args: str) -> None:
    from ingest.audio import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *args], check=True)
