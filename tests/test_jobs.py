"""The job queue on a real PostgreSQL: claims, leases and takeover, fencing
and the attempt cap, with worker processes that are killed and paused for
real. The task bodies are test doubles (tests/job_doubles.py) that publish
through the real PostgreSQL store; the real ingest task joins them once
the storage seam lands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog.pg import connect
from onrecord.job_runner import Worker, wait_for, worker_command
from onrecord.jobs import JobQueue, LostClaim
from tests.job_doubles import tasks

ROOT = Path(__file__).resolve().parents[1]
# Long enough that no faulted worker's job expires before the next worker
# has claimed its own, even on a loaded machine.
LONG_LEASE = 20


@pytest.fixture
def queue(pg_url: str) -> Iterator[JobQueue]:
    q = JobQueue(pg_url, migrate=True)
    yield q
    q.close()


def start_worker(url: str, lease: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        worker_command(url, "tests.job_doubles:tasks", until_idle=True, lease=lease),
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )


def events(url: str) -> list[tuple[int, int, str]]:
    """(job id, pid, event) in the order they happened."""
    conn = connect(url)
    try:
        if not conn.execute("SELECT to_regclass('double_log') IS NOT NULL").fetchone()[0]:  # type: ignore[index]
            return []
        return [tuple(r) for r in conn.execute("SELECT job_id, pid, event FROM double_log ORDER BY at")]  # type: ignore[misc]
    finally:
        conn.close()


def happened(url: str, job: int, pid: int, event: str) -> bool:
    return (job, pid, event) in events(url)


def chunk_rows(url: str) -> tuple[int, int]:
    conn = connect(url)
    row = conn.execute("SELECT count(*), count(DISTINCT (meeting_id, seq)) FROM chunks").fetchone()
    conn.close()
    assert row is not None
    return int(row[0]), int(row[1])


def test_queueing_the_same_recording_twice_adds_one_job(queue: JobQueue) -> None:
    assert queue.enqueue("publish", {"meeting_id": 1}, "recording:a") is not None
    assert queue.enqueue("publish", {"meeting_id": 1}, "recording:a") is None
    assert len(queue.jobs()) == 1


def test_a_stale_claim_can_neither_finish_nor_publish(queue: JobQueue, pg_url: str) -> None:
    queue.enqueue("publish", {"meeting_id": 1}, "recording:a")
    stale = queue.claim("first", lease=0.3)
    assert stale is not None
    other = JobQueue(pg_url)
    assert other.claim("second", lease=30) is None, "a held lease is not taken"
    time.sleep(0.5)
    fresh = other.claim("second", lease=30)
    assert fresh is not None and fresh.id == stale.id and fresh.token == stale.token + 1
    assert fresh.fence.epoch == stale.fence.epoch + 1
    assert not queue.renew(stale) and not queue.succeed(stale) and not queue.fail(stale, "late")
    with pytest.raises(LostClaim), queue.conn.transaction():
        stale.fence(queue.conn)
    with other.conn.transaction():
        fresh.fence(other.conn)  # the new claim may publish
    assert other.succeed(fresh)
    assert [j.status for j in queue.jobs()] == ["succeeded"]
    other.close()


def test_a_failing_job_ends_failed_with_its_error(pg_url: str, queue: JobQueue) -> None:
    queue.enqueue("broken", {}, "recording:b", max_attempts=3)
    worker = Worker(pg_url, tasks(pg_url), poll=0.05, backoff=0.01)
    worker.run(until_idle=True)
    worker.close()
    (job,) = queue.jobs()
    assert (job.status, job.attempts) == ("failed", 3)
    assert job.last_error and job.last_error.startswith("ValueError: the recording is unreadable")


def test_a_job_whose_worker_keeps_dying_ends_failed(pg_url: str, queue: JobQueue) -> None:
    queue.enqueue("dies", {}, "recording:c", max_attempts=2)
    for _ in range(3):  # two die holding it; the third finds it out of attempts
        assert start_worker(pg_url, lease=0.5).wait(timeout=60) in (0, 137)
        time.sleep(0.6)
    (job,) = queue.jobs()
    assert (job.status, job.attempts) == ("failed", 2)
    assert "the worker was lost 2 time(s)" in (job.last_error or "")


def test_each_job_runs_once_across_three_workers(pg_url: str, queue: JobQueue) -> None:
    ids = [queue.enqueue("publish", {"meeting_id": m, "seconds": 0.3}, f"recording:{m}") for m in range(1, 7)]
    workers = [start_worker(pg_url, lease=5) for _ in range(3)]
    assert all(w.wait(timeout=120) == 0 for w in workers)
    assert {j.status for j in queue.jobs()} == {"succeeded"}
    published = [job for job, _, event in events(pg_url) if event == "published"]
    assert sorted(published) == sorted(ids), "every job published exactly once"
    assert len({pid for _, pid, _ in events(pg_url)}) > 1, "the work was shared"
    assert chunk_rows(pg_url) == (30, 30)


def test_killed_paused_and_killed_in_publish_workers_lose_nothing(pg_url: str, queue: JobQueue) -> None:
    """One worker is paused (SIGSTOP) past its lease and wakes after another
    has published its job; one is killed mid-"transcription"; one is killed
    inside the publishing transaction. Every job ends published once."""
    paused_job = queue.enqueue("publish", {"meeting_id": 1, "seconds": 3}, "recording:1")
    killed_job = queue.enqueue("publish", {"meeting_id": 2, "seconds": 30}, "recording:2")
    publish_job = queue.enqueue("publish", {"meeting_id": 3, "seconds": 0.1, "hold": 30}, "recording:3")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        paused = start_worker(pg_url, lease=LONG_LEASE)
        procs.append(paused)
        assert wait_for(lambda: happened(pg_url, paused_job, paused.pid, "started"), 30)  # type: ignore[arg-type]
        os.kill(paused.pid, signal.SIGSTOP)
        killed = start_worker(pg_url, lease=LONG_LEASE)
        procs.append(killed)
        assert wait_for(lambda: happened(pg_url, killed_job, killed.pid, "started"), 30)  # type: ignore[arg-type]
        killed.kill()
        in_publish = start_worker(pg_url, lease=LONG_LEASE)
        procs.append(in_publish)
        assert wait_for(lambda: happened(pg_url, publish_job, in_publish.pid, "publishing"), 30)  # type: ignore[arg-type]
        in_publish.kill()
        # The jobs' own waits would hold the rescuer half a minute each; it
        # is the takeover that matters now, so shorten them for new claims.
        conn = connect(pg_url)
        conn.execute('UPDATE jobs SET args = args || \'{"seconds": 0.1, "hold": 0}\'')
        conn.close()
        rescuer = start_worker(pg_url, lease=3)
        procs.append(rescuer)
        assert wait_for(lambda: happened(pg_url, paused_job, rescuer.pid, "published"), 60)  # type: ignore[arg-type]
        os.kill(paused.pid, signal.SIGCONT)
        assert wait_for(lambda: happened(pg_url, paused_job, paused.pid, "refused"), 30), (
            "the stale publish is refused",
            events(pg_url),
        )  # type: ignore[arg-type]
        assert paused.wait(timeout=120) == 0 and rescuer.wait(timeout=120) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
                p.kill()
                p.wait()
    assert [j.status for j in queue.jobs()] == ["succeeded"] * 3, events(pg_url)
    published = [job for job, _, event in events(pg_url) if event == "published"]
    assert sorted(published) == [paused_job, killed_job, publish_job]
    assert chunk_rows(pg_url) == (15, 15), "no chunk duplicated"


def test_a_stopped_worker_hands_its_job_back(pg_url: str, queue: JobQueue) -> None:
    """SIGTERM (a deploy, a reboot) stops a worker between steps; its job
    goes back to the queue without spending an attempt."""
    job = queue.enqueue("publish", {"meeting_id": 1, "seconds": 60}, "recording:1")
    worker = start_worker(pg_url, lease=LONG_LEASE)
    assert wait_for(lambda: happened(pg_url, job, worker.pid, "started"), 30)  # type: ignore[arg-type]
    worker.terminate()
    assert worker.wait(timeout=30) == 0
    (state,) = queue.jobs()
    assert (state.status, state.attempts) == ("todo", 0)


def test_killing_the_worker_command_outright_stops_its_processes(pg_url: str, queue: JobQueue) -> None:
    """`onrecord worker` runs its jobs in child processes; kill -9 of the
    command (all a user sees) leaves it no chance to stop them, so each
    child dies with it rather than working on unseen. Its job goes to
    another worker once the lease runs out, as a lost machine's does."""
    job = queue.enqueue("publish", {"meeting_id": 1, "seconds": 60}, "recording:1")
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from onrecord.job_runner import run_workers;"
            " run_workers(sys.argv[1], 'tests.job_doubles:tasks', 1, ['default'], False, 20.0)",
            pg_url,
        ],
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )
    assert wait_for(lambda: any(e[0] == job and e[2] == "started" for e in events(pg_url)), 30)
    (child,) = {pid for j, pid, event in events(pg_url) if j == job and event == "started"}
    assert child != parent.pid
    parent.kill()
    parent.wait()

    def gone() -> bool:
        try:
            return "State:\tZ" in Path(f"/proc/{child}/status").read_text()  # dead, not yet reaped
        except FileNotFoundError:
            return True

    assert wait_for(gone, 10), "the worker process outlived the command that started it"
    (state,) = queue.jobs()
    assert (state.status, state.attempts) == ("doing", 1), "left for another worker after the lease"
