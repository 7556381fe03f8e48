"""The nightly run against a small "channel" on loopback: an RSS feed of real
recordings, a webhook receiver and an SMTP server, all on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result

from tests.conftest import catalog_for, run, shared, speak
from tests.loopback import Channel, LoopbackServer
from tests.receivers import Mailbox, Receiver

ALERT_TEXT = "The police chief said officers will not help immigration enforcement agents."


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with Mailbox() as box:
        yield box


@pytest.fixture
def channel(loopback: LoopbackServer) -> Channel:
    feed = Channel(loopback)
    feed.add("Regular Meeting 2024-01-08", shared("speech/jfk.flac"))
    feed.add("Regular Meeting 2024-01-15", shared("speech/ljspeech/LJ001-0001.wav"))
    return feed


@pytest.fixture
def config(tmp_path: Path, channel: Channel, home: Path, mailbox: Mailbox) -> Path:
    # The webhook receivers listen on loopback, which delivery refuses by default.
    (home / "settings.toml").write_text(
        f'smtp_host = "127.0.0.1"\nsmtp_port = {mailbox.port}\nallow_private_webhooks = 1\n'
    )
    path = tmp_path / "sources.toml"
    path.write_text(
        "[run]\nretries = 1\nbackoff = 0.1\n\n"
        '[[bodies]]\nname = "Springfield City Council"\nvocabulary = ["Springfield", "ICE"]\n'
        f'sources = ["{channel.server.url("feed.xml")}"]\n'
    )
    return path


def nightly(home: Path, config: Path) -> tuple[Result, dict]:
    result = run(home, "run", "--config", str(config), "--json")
    return result, json.loads(result.output)


def test_runs_ingest_new_items_once_and_alert_once(
    home: Path, config: Path, channel: Channel, mailbox: Mailbox, tmp_path: Path
) -> None:
    result, report = nightly(home, config)
    assert result.exit_code == 0, result.output
    assert (report["discovered"], report["ingested"], report["failed"]) == (2, 2, 0)
    assert {m.title for m in catalog_for(home).meetings()} == {
        "Regular Meeting 2024-01-08",
        "Regular Meeting 2024-01-15",
    }

    result, report = nightly(home, config)
    assert result.exit_code == 0
    assert (report["discovered"], report["ingested"], report["alerts_sent"]) == (0, 0, 0)

    with Receiver() as hook:
        for notify in (f"webhook:{hook.url()}", "email:desk@example.org"):
            added = run(home, "alerts", "add", "immigration enforcement", "--notify", notify)
            assert added.exit_code == 0, added.output
        channel.add("Special Meeting 2024-01-22", speak(ALERT_TEXT, tmp_path / "special.wav"))

        result, report = nightly(home, config)
        assert result.exit_code == 0, result.output
        assert (report["discovered"], report["ingested"], report["alerts_sent"]) == (1, 1, 2)
        assert len(hook.received) == 1 and len(mailbox.messages) == 1

        body = json.loads(hook.received[0]["body"])  # type: ignore[arg-type]
        alert = body["alert"]
        assert "immigration" in alert["quote"].lower()
        assert alert["body"] == "Springfield City Council"
        assert alert["meeting_date"] == "2024-01-22"
        assert alert["url"].startswith(channel.server.url("special.wav") + "#t=")
        assert "OnRecord alert" in body["text"] and alert["quote"] in body["text"]
        assert hook.received[0]["headers"]["Idempotency-Key"] == alert["key"]  # type: ignore[index]
        assert re.fullmatch(r"onrecord-alert-[0-9a-f]{32}", alert["key"])
        assert b"immigration" in mailbox.messages[0].lower()

        # Nothing new: nothing is sent again.
        result, report = nightly(home, config)
        assert report["alerts_sent"] == 0 and len(hook.received) == 1 and len(mailbox.messages) == 1

    runs = sorted((home / "runs").glob("run-*.json"))
    assert len(runs) == 4 and json.loads(runs[-1].read_text())["exit_code"] == 0


def test_atom_feed_carries_the_alert(home: Path, config: Path, channel: Channel, tmp_path: Path) -> None:
    from catalog import load_settings
    from web import create_app

    nightly(home, config)
    assert run(home, "alerts", "add", "immigration enforcement", "--notify", "atom").exit_code == 0
    channel.add("Special Meeting 2024-01-22", speak(ALERT_TEXT, tmp_path / "special.wav"))
    result, report = nightly(home, config)
    assert report["alerts_sent"] == 1
    from catalog import Catalog
    from search.alerts import AlertBook

    token = AlertBook(Catalog(load_settings(home).db_path).conn).all()[0].feed_token
    feed = create_app(load_settings(home)).test_client().get(f"/alerts/{token}/feed.atom")
    assert feed.status_code == 200 and feed.mimetype == "application/atom+xml"
    xml = feed.get_data(as_text=True)
    assert xml.count("<entry>") == 1 and "Springfield City Council" in xml and "immigration" in xml.lower()


def test_one_broken_item_does_not_stop_the_others(
    home: Path, config: Path, channel: Channel, tmp_path: Path
) -> None:
    channel.add_missing("Regular Meeting 2024-01-29", "gone.mp3")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 4096)
    channel.add("Regular Meeting 2024-02-05", broken)
    result, report = nightly(home, config)
    assert result.exit_code == 4
    assert (report["ingested"], report["failed"]) == (2, 2)
    reasons = {f["url"]: f["reason"] for f in report["failures"]}
    assert "gone.mp3" in " ".join(reasons) and "broken.mp4" in " ".join(reasons)
    assert all(reasons.values())
    assert len(catalog_for(home).meetings()) == 2


def test_a_killed_run_is_finished_by_the_next_without_lost_or_double_alerts(
    home: Path, config: Path, channel: Channel, tmp_path: Path
) -> None:
    nightly(home, config)
    with Receiver() as hook:
        assert run(home, "alerts", "add", "call the roll", "--notify", f"webhook:{hook.url()}").exit_code == 0
        channel.add("Special Meeting 2017-10-05", shared("meetings/seattle-council-special-2017-10-05.mp4"))
        env = {**os.environ, "ONRECORD_HOME": str(home)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "onrecord", "run", "--config", str(config)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 300
            while not _transcribing(home / "onrecord.db"):
                assert proc.poll() is None, "the run ended before it could be killed"
                assert time.monotonic() < deadline
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        assert hook.received == []

        # The lock died with the process; the next run takes over.
        result, report = nightly(home, config)
        assert result.exit_code == 0, result.output
        assert (report["resumed"], report["alerts_sent"]) == (1, 1)
        assert len(hook.received) == 1
        result, report = nightly(home, config)
        assert report["alerts_sent"] == 0 and len(hook.received) == 1


def _transcribing(db: Path) -> bool:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            row = conn.execute("SELECT count(*) FROM meetings WHERE status = 'transcribing'").fetchone()
            return bool(row[0])
    except sqlite3.OperationalError:
        return False


def test_one_run_at_a_time(home: Path, config: Path) -> None:
    from onrecord.nightly import run_lock

    with run_lock(home):
        result = run(home, "run", "--config", str(config))
    assert result.exit_code == 3
    assert "Another run is in progress" in result.output


@pytest.mark.parametrize(
    "content, message",
    [
        ("[[bodies]]\nname = 'X'\n", "lists no sources"),
        ("bodies = 3", "no [[bodies]]"),
        ("[[bodies]]\nname = 'X'\nsources = ['http://a']\nsince = 'last week'\n", "use YYYY-MM-DD"),
        ("[[bodies]\n", "not valid TOML"),
    ],
)
def test_bad_config_is_one_line(home: Path, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "sources.toml"
    path.write_text(content)
    result = run(home, "run", "--config", str(path))
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and message in result.output
