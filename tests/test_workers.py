"""Three real workers over a queue of real recordings (../shared/data), on a
real PostgreSQL: one is killed with SIGKILL mid-transcription, one inside
the publishing transaction, one is paused (SIGSTOP) past its lease and
woken (SIGCONT) after another worker finished its job. Every recording
ends indexed exactly once, no passage twice, each alert delivered once.

Real all the way: ``onrecord enqueue`` and ``onrecord db upgrade`` through
the CLI, worker processes as ``onrecord worker`` starts them, tiny.en and
MiniLM. Diarization is off to keep the run to a few minutes on 2 cores
(it is one more cached stage before the same publish). A killed worker is
replaced, so three are alive throughout. To catch a worker inside the
publish, the test holds the advisory locks a publish takes after its
fence: the first worker to get there waits, and is killed there.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from onrecord.job_runner import worker_command
from search.chunking import chunk_segments
from search.pg_store import CHUNK_LOCK
from tests.conftest import run, shared
from tests.receivers import Receiver

pytestmark = pytest.mark.slow

RECORDINGS = [
    "meetings/seattle-council-special-2017-10-05.mp4",  # 181 s: killed mid-transcription
    "speech/two-speakers.wav",
    "speech/jfk.flac",
    *[f"speech/ljspeech/LJ001-000{i}.wav" for i in range(1, 5)],
]
LEASE = 8.0
PAUSED_CHUNKS = (
    "SELECT c.id FROM chunks c JOIN meetings m ON m.id = c.meeting_id WHERE m.source_url = %s ORDER BY c.id"
)
TIMEOUT = 420.0


def wait(what: str, predicate: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Workers:
    """Worker processes as ``onrecord worker`` starts them, each known by pid."""

    def __init__(self, url: str, env: dict[str, str], logs: Path) -> None:
        self.url, self.env, self.logs = url, env, logs
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    def start(self) -> int:
        command = worker_command(self.url, "onrecord.worker:tasks", until_idle=True, lease=LEASE)
        log = (self.logs / f"worker-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.procs[proc.pid] = proc
        return proc.pid

    def kill(self, pid: int) -> None:
        self.procs[pid].kill()
        self.procs[pid].wait()

    def alive(self) -> list[int]:
        return [pid for pid, p in self.procs.items() if p.poll() is None]

    def print_logs(self) -> None:
        """Shown by pytest when the test fails."""
        for log in sorted(self.logs.glob("worker-*.log")):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")

    def stop_all(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait()


@pytest.fixture
def workers(home: Path, pg_url: str, tmp_path: Path) -> Iterator[Workers]:
    env = {
        **os.environ,
        "ONRECORD_HOME": str(home),
        "ONRECORD_DATABASE_URL": pg_url,
        "ONRECORD_DIARIZE": "0",
        "ONRECORD_ALLOW_PRIVATE_WEBHOOKS": "1",
        # A worker paused inside its publish loses its session (and locks)
        # after this, as it would after 60 s in production.
        "PGOPTIONS": f"-c idle_in_transaction_session_timeout={int(LEASE)}s",
    }
    found = Workers(pg_url, env, tmp_path)
    yield found
    found.stop_all()
    found.print_logs()


def holder(db: psycopg.Connection, fence_key: str) -> tuple[int, int, str] | None:
    """The live job for a recording: (job id, worker pid, status)."""
    row = db.execute(
        "SELECT id, worker, status FROM jobs WHERE fence_key = %s AND status = 'doing'", (fence_key,)
    ).fetchone()
    if row is None or not row[1]:
        return None
    host, _, pid = row[1].partition(":")
    assert host == socket.gethostname()
    return int(row[0]), int(pid), row[2]


def test_workers_killed_and_paused_lose_nothing(
    home: Path, pg_url: str, workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [shared(r) for r in RECORDINGS]
    monkeypatch.setenv("ONRECORD_DATABASE_URL", pg_url)
    monkeypatch.setenv("ONRECORD_ALLOW_PRIVATE_WEBHOOKS", "1")
    assert run(home, "db", "upgrade").exit_code == 0
    with Receiver() as hook:
        added = run(
            home, "alerts", "add", "ask what you can do for your country", "--notify", f"webhook:{hook.url()}"
        )
        assert added.exit_code == 0, added.output
        queued = run(home, "enqueue", *map(str, files))
        assert queued.exit_code == 0 and queued.output.count("queued") == len(files), queued.output
        keys = {f: f"recording:{f.resolve().as_uri()}" for f in files}
        seattle = keys[files[0]]
        db = psycopg.connect(pg_url, autocommit=True)
        # Every publish waits on these until the test lets go.
        for meeting_id in range(1, 2 * len(files)):
            db.execute("SELECT pg_advisory_lock(%s, %s)", (CHUNK_LOCK, meeting_id))
        for _ in range(3):
            workers.start()

        # 1. SIGKILL mid-transcription: Seattle has saved some segments.
        def transcribing() -> int | None:
            row = db.execute(
                "SELECT count(*) FROM transcript_segments ts JOIN transcripts t ON t.key = ts.transcript_key"
                " JOIN meetings m ON m.audio_hash = t.audio_hash"
                " WHERE m.source_url = %s AND m.status = 'transcribing'",
                (files[0].resolve().as_uri(),),
            ).fetchone()
            held = holder(db, seattle)
            return held[1] if held and row and row[0] >= 3 else None

        workers.kill(wait("Seattle mid-transcription", transcribing))
        workers.start()

        # 2. SIGKILL inside the publish: a worker waits on the lock after its fence.
        def publishing() -> tuple[str, int] | None:
            row = db.execute(
                "SELECT m.source_url FROM pg_locks l JOIN meetings m ON m.id = l.objid::bigint"
                " WHERE l.locktype = 'advisory' AND l.classid::bigint = %s AND NOT l.granted LIMIT 1",
                (CHUNK_LOCK,),
            ).fetchone()
            if row is None:
                return None
            key = f"recording:{row[0]}"
            held = holder(db, key)
            return (key, held[1]) if held else None

        published_killed, pid = wait("a worker inside its publish", publishing)
        workers.kill(pid)
        workers.start()
        db.execute("SELECT pg_advisory_unlock_all()")

        # 3. SIGSTOP past the lease, SIGCONT once another worker finished the job.
        def pausable() -> tuple[str, int, int] | None:
            for key in keys.values():
                held = holder(db, key) if key not in (seattle, published_killed) else None
                if held and held[1] in workers.alive():
                    return key, held[0], held[1]
            return None

        paused_key, paused_job, paused_pid = wait("an undisturbed job to pause", pausable)
        os.kill(paused_pid, signal.SIGSTOP)

        def taken_over_and_done() -> bool:
            row = db.execute("SELECT status, worker FROM jobs WHERE id = %s", (paused_job,)).fetchone()
            return row is not None and row[0] == "succeeded" and not row[1].endswith(f":{paused_pid}")

        wait("the paused worker's job finished by another", taken_over_and_done)
        paused_url = paused_key.removeprefix("recording:")
        before = db.execute(
            PAUSED_CHUNKS,
            (paused_url,),
        ).fetchall()
        assert before, "the job that was taken over published"
        os.kill(paused_pid, signal.SIGCONT)

        # Three workers drain the queue and exit (--until-idle).
        wait("the queue to drain", lambda: not workers.alive())
        after = db.execute(
            PAUSED_CHUNKS,
            (paused_url,),
        ).fetchall()
        assert after == before, "the worker that woke late published nothing over the new one's work"
        _every_recording_once(db, home, pg_url, files, keys)
        _alerts_once(db, hook)
        db.close()


def _every_recording_once(
    db: psycopg.Connection, home: Path, url: str, files: list[Path], keys: dict
) -> None:
    from catalog import load_settings
    from catalog.db import open_catalog

    jobs = db.execute("SELECT fence_key, status, attempts FROM jobs WHERE task = 'ingest'").fetchall()
    assert {k: s for k, s, _ in jobs} == {k: "succeeded" for k in keys.values()}
    assert dict((k, a) for k, _, a in jobs)[keys[files[0]]] >= 2, "Seattle's job was taken over"
    meetings = db.execute("SELECT id, status, audio_hash FROM meetings ORDER BY id").fetchall()
    assert len(meetings) == len(files) and {s for _, s, _ in meetings} == {"indexed"}
    assert len({h for _, _, h in meetings}) == len(files), "no recording became two meetings"
    indexed = db.execute("SELECT meeting_id, count(*) FROM indexed_meetings GROUP BY meeting_id").fetchall()
    assert sorted(indexed) == [(m, 1) for m, _, _ in meetings]
    catalog = open_catalog(load_settings(home).with_overrides(database_url=url))
    expected = {m: len(chunk_segments(m, catalog.segments(m))) for m, _, _ in meetings}
    catalog.close()
    found = dict(db.execute("SELECT meeting_id, count(*) FROM chunks GROUP BY meeting_id").fetchall())
    assert found == expected, "each meeting's passages once, none twice, none missing"
    assert db.execute("SELECT count(*) FROM (SELECT DISTINCT meeting_id, seq FROM chunks) d").fetchone() == (
        sum(expected.values()),
    )


def _alerts_once(db: psycopg.Connection, hook: Receiver) -> None:
    alerts = db.execute("SELECT uid, delivered_at FROM alerts").fetchall()
    assert alerts, "JFK's line fires the saved search"
    assert all(delivered for _, delivered in alerts)
    assert dict(hook.keys) == {f"onrecord-alert-{uid}": 1 for uid, _ in alerts}, "each alert delivered once"
