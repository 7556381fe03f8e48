"""The API contract, checked by a real client nobody here wrote: schemathesis
reads the served OpenAPI description and throws valid and invalid requests
at the real app (waitress on loopback, the real Seattle meeting, with an
admin token so the writes are tried too), with every check it has.
Bounded examples and a fixed seed keep the run short and repeatable."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from catalog import load_settings
from tests.served import serving
from web import create_app

TOKEN = "contract-test-admin-token-5b1e"
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture
def served(seattle_home: tuple[Path, str], tmp_path: Path) -> Iterator[str]:
    home = tmp_path / "home"
    shutil.copytree(seattle_home[0], home)
    # No search rate limit: every request here comes from one address.
    settings = replace(load_settings(home), admin_token=TOKEN, search_rate_limit=0)
    with serving(create_app(settings)) as url:
        yield url


def schemathesis(url: str, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/api/openapi.json",
        "--checks",
        "all",
        "--mode",
        "all",
        "--max-examples",
        "15",
        "--seed",
        "11",
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--no-color",
        *args,
    ]
    # From a temporary folder, so its cache of crashes stays out of the checkout.
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=workdir)


def test_schemathesis_finds_nothing_with_the_admin_token(served: str, tmp_path: Path) -> None:
    result = schemathesis(served, tmp_path, "--header", f"Authorization: Bearer {TOKEN}")
    assert result.returncode == 0, result.stdout[-12_000:] + result.stderr[-3000:]


def test_schemathesis_finds_nothing_without_credentials(served: str, tmp_path: Path) -> None:
    # Every write must then be a 401 that says how to authenticate.
    result = schemathesis(served, tmp_path, "--max-examples", "5")
    assert result.returncode == 0, result.stdout[-12_000:] + result.stderr[-3000:]
