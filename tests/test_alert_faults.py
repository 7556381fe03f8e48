"""Alert delivery when targets misbehave, saved searches are broken, ids
are reused elsewhere, or two deliverers run at once. Everything goes through
a real outbox in SQLite to real servers on loopback."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog import Catalog, Meeting, load_settings
from catalog.migrations import apply_migrations
from search.alerts import ALERT_MIGRATIONS, MAX_ATTEMPTS, AlertBook
from tests.conftest import run, shared
from tests.outbox import alert_rows, hit, legacy, queue_alerts
from tests.receivers import Mailbox, RawServer, Receiver


@pytest.fixture
def mailbox(home: Path) -> Iterator[Mailbox]:
    with Mailbox() as box:
        # Every receiver here is on loopback, which delivery refuses by default.
        (home / "settings.toml").write_text(
            f'smtp_host = "127.0.0.1"\nsmtp_port = {box.port}\nallow_private_webhooks = 1\n'
        )
        yield box


def test_any_failure_of_one_alert_is_recorded_on_it_and_the_others_go_out(
    home: Path, mailbox: Mailbox
) -> None:
    with (
        Receiver() as good,
        RawServer(b"NOT HTTP AT ALL\r\n\r\n") as garbled,  # http.client.BadStatusLine
        RawServer(b"") as hangs_up,  # RemoteDisconnected
    ):
        saved = queue_alerts(
            home,
            [
                f"webhook:{garbled.url()}",
                f"webhook:{hangs_up.url()}",
                "webhook:http://127.0.0.1:9/hook",  # becomes a bad port below: InvalidURL
                "email:desk@example.org",  # its query gets a line break below: ValueError
                f"webhook:{good.url()}",
                "email:editor@example.org",
            ],
        )
        legacy(home, saved[2].id, notify="webhook:http://127.0.0.1:80x/hook")
        legacy(home, saved[3].id, query="immigration\r\nBcc: someone@example.net")

        result = run(home, "alerts", "check")

    assert result.exit_code == 5, result.output
    assert result.output.startswith("3 alert(s) sent, 3 failed (retried next time)")
    rows = {r["saved_search_id"]: r for r in alert_rows(home)}
    for broken in saved[:3]:
        row = rows[broken.id]
        assert row["attempts"] == 1 and row["last_error"] and row["delivered_at"] is None
        assert f"alert {row['id']}: " in result.output
    assert "BadStatusLine" in str(rows[saved[0].id]["last_error"])
    assert "port" in str(rows[saved[2].id]["last_error"]).lower()
    for fine in saved[3:]:
        assert rows[fine.id]["delivered_at"] and rows[fine.id]["attempts"] == 0
    assert len(good.received) == 1

    # The query's line break never becomes a header of its own.
    messages = [email.message_from_bytes(m, policy=email.policy.default) for m in mailbox.messages]
    assert sorted(m["To"] for m in messages) == ["desk@example.org", "editor@example.org"]
    assert all(m["Bcc"] is None and "\n" not in m["Subject"] for m in messages)

    # Failed alerts are tried again next time; sent ones are not sent again.
    again = run(home, "alerts", "check")
    assert again.output.startswith("0 alert(s) sent, 3 failed")
    assert len(good.received) == 1 and len(mailbox.messages) == 2
    assert [r["attempts"] for r in alert_rows(home)][:3] == [2, 2, 2]


def test_an_alert_that_keeps_failing_is_given_up_and_reported(home: Path, mailbox: Mailbox) -> None:
    with Receiver(status=500) as down:
        queue_alerts(home, [f"webhook:{down.url()}"])
        for attempt in range(1, MAX_ATTEMPTS + 1):
            result = run(home, "alerts", "check")
            assert result.exit_code == 5
            assert ("given up after 5 tries" in result.output) == (attempt == MAX_ATTEMPTS)
            assert "answered 500" in result.output
        assert len(down.received) == MAX_ATTEMPTS
        result = run(home, "alerts", "check")
        assert result.exit_code == 0 and len(down.received) == MAX_ATTEMPTS
    [row] = alert_rows(home)
    assert row["attempts"] == MAX_ATTEMPTS and row["delivered_at"] is None


def _index_captions(home: Path, tmp_path: Path) -> None:
    vtt = tmp_path / "council-2024-01-22.vtt"
    vtt.write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:06.000\n"
        "The police chief said officers will not help immigration enforcement agents.\n\n"
        "00:00:06.000 --> 00:00:09.000\nThe budget hearing is next week.\n"
    )
    result = run(home, "ingest", str(vtt), "--body", "Springfield City Council")
    assert result.exit_code == 0, result.output


def test_a_saved_search_that_cannot_be_evaluated_is_reported_and_the_others_still_alert(
    home: Path, tmp_path: Path
) -> None:
    _index_captions(home, tmp_path)
    broken = run(home, "alerts", "add", "placeholder", "--notify", "atom", "--backfill")
    working = run(home, "alerts", "add", "immigration enforcement", "--notify", "atom", "--backfill")
    assert broken.exit_code == working.exit_code == 0
    # Saved before queries were limited: 600 characters, which search refuses.
    legacy(home, 1, query="immigration" + "s" * 589)

    result = run(home, "alerts", "check")
    assert result.exit_code == 5
    assert "1 alert(s) sent, 1 failed" in result.output
    assert "saved search 1: Query is 600 characters; keep it under 500" in result.output
    book = AlertBook(Catalog(load_settings(home).db_path).conn)
    saved = book.get(1)
    assert saved is not None and "keep it under 500" in str(saved.last_error)
    assert [len(book.for_search(1)), len(book.for_search(2))] == [0, 1]


def test_saved_queries_and_targets_are_checked_when_saved(home: Path) -> None:
    for args, message in (
        (["roll\ncall", "--notify", "atom"], "holds a line break (U+000A) at character 5"),
        (["roll\x1b[31m", "--notify", "atom"], "U+001B"),
        (["x" * 501, "--notify", "atom"], "keep it under 500"),
        (["roll", "--notify", "webhook:http://example.org:80x/hook"], "is not understood"),
        (["roll", "--notify", "email:desk@example.org\r\nBcc: x@example.net"], "U+000D"),
    ):
        result = run(home, "alerts", "add", *args)
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
        assert message in result.output, result.output
    assert "No saved searches" in run(home, "alerts", "list").output


def test_ids_feed_tokens_and_keys_are_never_reused(home: Path, tmp_path: Path) -> None:
    first = queue_alerts(home, ["atom"])[0]
    [before] = alert_rows(home)
    assert run(home, "alerts", "remove", str(first.id)).exit_code == 0
    second = queue_alerts(home, ["atom"])[0]
    [after] = alert_rows(home)
    assert second.id > first.id and after["id"] > before["id"]
    assert after["uid"] != before["uid"] and second.feed_token != first.feed_token

    book = AlertBook(Catalog(load_settings(home).db_path).conn)
    found = book.by_feed_token(second.feed_token)
    assert found is not None and found.id == second.id
    assert book.by_feed_token(first.feed_token) is None and book.by_feed_token(str(second.id)) is None
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", second.feed_token)

    # Another database doing the same things still never repeats a key.
    other = tmp_path / "other-home"
    other.mkdir()
    (home / "settings.toml").write_text("allow_private_webhooks = 1\n")
    (other / "settings.toml").write_text("allow_private_webhooks = 1\n")
    with Receiver() as hook:
        for where in (home, other):
            queue_alerts(where, [f"webhook:{hook.url()}"])
            assert run(where, "alerts", "check").exit_code == 0
        keys = list(hook.keys)
    assert len(keys) == 2 and keys[0] != keys[1]
    assert all(re.fullmatch(r"onrecord-alert-[0-9a-f]{32}", k) for k in keys)
    added = run(home, "alerts", "add", "budget", "--notify", "atom")
    token = AlertBook(Catalog(load_settings(home).db_path).conn).all()[-1].feed_token
    assert f"/alerts/{token}/feed.atom" in added.output


def test_upgrading_keeps_saved_searches_and_alerts(home: Path) -> None:
    catalog = Catalog(load_settings(home).db_path)
    apply_migrations(catalog.conn, "alerts", ALERT_MIGRATIONS[:1])  # the schema before ids were kept
    meeting = catalog.add_meeting(Meeting(title="T", body="B", source_url="x", status="indexed"), None)
    for query in ("roll", "budget", "zoning"):
        catalog.conn.execute(
            "INSERT INTO saved_searches (query, notify, min_score) VALUES (?, 'atom', 0.55)", (query,)
        )
    catalog.conn.execute("INSERT INTO alert_checked VALUES (2, ?)", (meeting.id,))
    catalog.conn.execute(
        "INSERT INTO alerts (saved_search_id, meeting_id, start_time, hit, attempts)"
        " VALUES (2, ?, 1.0, ?, 3)",
        (meeting.id, json.dumps(hit(meeting.id or 0).to_dict())),
    )

    book = AlertBook(catalog.conn)
    saved = book.all()
    assert [s.query for s in saved] == ["roll", "budget", "zoning"]
    assert len({s.feed_token for s in saved}) == 3 and all(len(s.feed_token) >= 24 for s in saved)
    [alert] = book.for_search(2)
    assert alert.attempts == 3 and len(alert.uid) == 32 and alert.hit.text == hit(0).text
    assert book.unchecked_meetings(saved[1]) == [] and book.unchecked_meetings(saved[0]) == [meeting.id]
    assert catalog.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    book.remove(3)
    assert book.add("parking", "atom").id == 4  # 3 is never handed out again
    book.remove(2)
    assert catalog.conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0  # still cascades


def test_two_deliverers_at_once_send_each_alert_once(home: Path, mailbox: Mailbox) -> None:
    from onrecord.nightly import check_alerts
    from onrecord.pipeline import Pipeline

    # Slow answers keep both deliverers inside the outbox at the same time.
    with Receiver(delay=0.15) as hook:
        queue_alerts(home, [f"webhook:{hook.url()}"] * 6)
        settings = load_settings(home)
        start = threading.Barrier(2)
        sent: list[int] = []

        def deliverer() -> None:
            pipeline = Pipeline(settings)
            try:
                start.wait()
                sent.append(check_alerts(pipeline, settings).sent)
            finally:
                pipeline.close()

        threads = [threading.Thread(target=deliverer) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(hook.received) == 6 and len(hook.keys) == 6
    assert sum(sent) == 6 and all(r["delivered_at"] for r in alert_rows(home))


def test_alerts_check_ingest_and_reindex_wait_for_a_nightly_run(home: Path, mailbox: Mailbox) -> None:
    from onrecord.nightly import run_lock

    with Receiver(delay=0.1) as hook:
        queue_alerts(home, [f"webhook:{hook.url()}"] * 8)
        with run_lock(home):
            for args in (["alerts", "check"], ["ingest", str(shared("speech/jfk.flac"))], ["reindex"]):
                result = run(home, *args)
                assert result.exit_code == 3 and "Another run is in progress" in result.output, args
        assert hook.received == []

        # Two real `alerts check` processes started together.
        env = {**os.environ, "ONRECORD_HOME": str(home)}
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "onrecord", "alerts", "check"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(2)
        ]
        codes = sorted(p.wait(timeout=120) for p in procs)
        assert codes in ([0, 0], [0, 3]), [p.stdout.read() for p in procs if p.stdout]
        assert len(hook.received) == 8 and len(hook.keys) == 8
