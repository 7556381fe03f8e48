"""The job queue's worker processes (the queue is ``onrecord.jobs``; the
tasks OnRecord queues are ``onrecord.worker``): ``Worker`` claims a job,
runs it while a heartbeat thread renews its lease, and records how it
ended; ``run_workers`` starts and stops several worker processes, each
``python -m onrecord.job_runner``."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence

from catalog.errors import OnRecordError
from onrecord.jobs import BACKOFF_SECONDS, LEASE_SECONDS, Claim, JobQueue, LostClaim, Stopping

# The queue's name, which the workers' log lines carried before this loop
# left onrecord/jobs.py: what watches those logs keeps matching them.
log = logging.getLogger("onrecord.jobs")
# Tells a worker process which `onrecord worker` started it.
PARENT_ENV = "ONRECORD_WORKER_PARENT"


Task = Callable[[Claim], None]


class Worker:
    """Claims and runs jobs one at a time; run several processes for more."""

    def __init__(
        self,
        url: str,
        tasks: dict[str, Task],
        queues: Iterable[str] = ("default",),
        lease: float = LEASE_SECONDS,
        poll: float = 1.0,
        backoff: float = BACKOFF_SECONDS,
    ) -> None:
        self.queue = JobQueue(url)
        self.tasks = tasks
        self.queues = list(queues)
        self.lease, self.poll, self.backoff = lease, poll, backoff
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._beat = JobQueue(url, migrate=False)  # the heartbeat thread's own connection
        self.stop = threading.Event()

    def close(self) -> None:
        self.queue.close()
        self._beat.close()

    def run(self, until_idle: bool = False, stop: threading.Event | None = None) -> int:
        """Run jobs until stopped (or, with ``until_idle``, until none is
        left to do); returns how many this worker finished."""
        done = 0
        self.stop = stop or threading.Event()
        while not self.stop.is_set():
            try:
                claim = self.queue.claim(self.name, self.queues, self.lease)
            except OnRecordError as exc:  # the database is restarting: wait for it
                log.warning("%s", exc)
                self.stop.wait(max(self.poll, 1.0))
                continue
            if claim is None:
                if until_idle and self.queue.idle(self.queues):
                    break
                self.stop.wait(self.poll)
                continue
            done += self.run_one(claim)
        return done

    def run_one(self, claim: Claim) -> int:
        beating = threading.Event()
        heart = threading.Thread(target=self._heartbeat, args=(claim, beating), daemon=True)
        heart.start()
        try:
            task = self.tasks.get(claim.task)
            if task is None:
                raise OnRecordError(f"No task named {claim.task!r} in this worker")
            task(claim)
        except LostClaim as exc:
            log.warning("job %s: %s; its work was dropped", claim.id, exc)
            return 0  # the job is someone else's now; nothing of ours landed
        except Stopping:
            log.info("job %s handed back: this worker is stopping", claim.id)
            self.queue.release(claim)
            return 0
        except Exception as exc:  # noqa: BLE001  any failure is the job's, recorded with it
            message = f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, OnRecordError):
                message += "\n" + traceback.format_exc(limit=5)
            if not self.queue.fail(claim, message, self.backoff):
                log.warning("job %s failed after it was taken over: %s", claim.id, message)
            else:
                log.warning("job %s failed (attempt %s): %s", claim.id, claim.attempts, message)
            return 0
        finally:
            beating.set()
            heart.join()
        return int(self.queue.succeed(claim))

    def _heartbeat(self, claim: Claim, stopped: threading.Event) -> None:
        while not stopped.wait(min(self.lease / 3, 1.0)):
            if self.stop.is_set():
                claim.stopping.set()
            try:
                renewed = self._beat.renew(claim, self.lease)
            except OnRecordError as exc:
                # The database is away: keep working and trying; if the
                # lease runs out meanwhile, the fence refuses the publish.
                log.warning("job %s: %s", claim.id, exc)
                continue
            if not renewed:
                claim.lost.set()
                return


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def worker_command(
    url: str,
    tasks: str,
    queues: Sequence[str] = ("default",),
    until_idle: bool = False,
    lease: float = LEASE_SECONDS,
) -> list[str]:
    """The command line of one worker process (``_main`` reads it back)."""
    import sys

    return [
        sys.executable,
        "-m",
        "onrecord.job_runner",
        url,
        tasks,
        ",".join(queues),
        str(int(until_idle)),
        str(lease),
    ]


def run_workers(
    url: str,
    tasks: str,
    concurrency: int,
    queues: list[str],
    until_idle: bool,
    lease: float = LEASE_SECONDS,
    env: dict[str, str] | None = None,
) -> int:
    """Run ``concurrency`` worker processes (``tasks`` names a function
    ``module:function`` returning the task table for a URL); SIGTERM or
    Ctrl-C stops them between jobs, handing back what they held. Returns
    the worst exit status."""
    import signal
    import subprocess

    command = worker_command(url, tasks, queues, until_idle, lease)
    child_env = {**(env if env is not None else os.environ), PARENT_ENV: str(os.getpid())}
    procs = [subprocess.Popen(command, env=child_env) for _ in range(concurrency)]

    def forward(signum: int, _frame: object) -> None:
        for p in procs:
            p.send_signal(signal.SIGTERM)

    before = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return max(p.wait() for p in procs)
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def _die_with_parent() -> None:
    """End this worker process when the ``onrecord worker`` that started it
    is killed outright: kill -9 leaves it no chance to pass SIGTERM on, and
    a user who killed the worker expects its work to stop. The job then goes
    to another worker once its lease runs out, as a lost machine's does."""
    import signal
    import sys

    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    parent = os.environ.get(PARENT_ENV)
    if parent and os.getppid() != int(parent):  # it died before the line above
        sys.exit(1)


def _main(argv: list[str]) -> None:
    """One worker process: ``python -m onrecord.job_runner URL MODULE:FUNCTION
    QUEUES UNTIL_IDLE LEASE``; a short lease also means quick polls and
    retries (tests)."""
    import importlib
    import signal

    _die_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s[%(process)d] %(message)s")
    url, tasks, queues, until_idle, lease = argv
    module, _, function = tasks.partition(":")
    table = getattr(importlib.import_module(module), function)(url)
    seconds = float(lease)
    worker = Worker(
        url, table, queues.split(","), seconds, min(1.0, seconds / 5), min(BACKOFF_SECONDS, seconds / 10)
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        worker.run(until_idle=until_idle == "1", stop=stop)
    finally:
        worker.close()


if __name__ == "__main__":
    import sys

    _main(sys.argv[1:])
