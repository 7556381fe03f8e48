"""The package as users install it: a built wheel, not this checkout. Every
template and static file must be in it, and the installed app must render
its pages and serve a saved search's Atom feed. (A wheel that left out the
feed's template once answered every feed with a 500.)

.ci/run builds the wheel and names it in ONRECORD_WHEEL; run alone, the
test builds one from the files git tracks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SMOKE = """
import sys, xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import web
from catalog import load_settings
from web import create_app

site, home = Path(sys.argv[1]), Path(sys.argv[2])
assert Path(web.__file__).resolve().is_relative_to(site.resolve()), web.__file__
token = "wheel-smoke-admin-token-4242"
client = create_app(replace(load_settings(home), admin_token=token)).test_client()
for path in ("/", "/meetings", "/alerts", "/static/style.css", "/static/player.js", "/api/openapi.json"):
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
saved = client.post("/api/alerts", json={"query": "budget"}, headers={"Authorization": "Bearer " + token})
assert saved.status_code == 201, saved.get_data(as_text=True)
feed = client.get(urlsplit(saved.get_json()["saved_search"]["feed"]).path)
assert feed.status_code == 200, feed.status_code
assert ET.fromstring(feed.data).tag == "{http://www.w3.org/2005/Atom}feed"
print("wheel smoke test passed:", web.__file__)
"""


def _wheel(tmp_path: Path) -> Path:
    given = os.environ.get("ONRECORD_WHEEL")
    if given:
        return Path(given)
    source = tmp_path / "source"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in tracked.stdout.splitlines():
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            ".",
        ],
        cwd=source,
        check=True,
    )
    return next(out.glob("onrecord-*.whl"))


def test_the_wheel_holds_every_template_and_serves_a_feed(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = [
        path.relative_to(ROOT).as_posix()
        for folder in ("web/templates", "web/static")
        for path in (ROOT / folder).rglob("*")
        if path.is_file()
    ]
    assert shipped and not [name for name in shipped if name not in names]

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
    )
    home = tmp_path / "home"
    home.mkdir()
    # From an empty folder, with the wheel's packages first on the path, so
    # that nothing is imported from this checkout.
    env = {**os.environ, "PYTHONPATH": str(site), "ONRECORD_HOME": str(home)}
    result = subprocess.run(
        [sys.executable, "-c", SMOKE, str(site), str(home)],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "wheel smoke test passed" in result.stdout
