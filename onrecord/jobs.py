"""The job queue: work for many machines, in the one PostgreSQL database
they already share, with no second system to run.

A worker claims a job with ``FOR UPDATE SKIP LOCKED``, so two workers never
take the same job, and holds it under a lease that a heartbeat thread
renews. A worker that is killed, or paused past its lease, loses the job:
the next claim takes it over. Each claim bumps two counters: the job's
``token``, which every later change of the job must quote (a stale worker's
"done" or "failed" changes nothing), and the ``epoch`` of what the job
publishes (a recording), which the publishing transaction checks under a
row lock (``Fence``), so a stale worker that wakes up cannot publish over
the new one's work. A job that fails, or whose worker dies, ``max_attempts``
times ends ``failed`` with its last error instead of looping forever.

Why not procrastinate, which DESIGN.md suggested: it claims with SKIP
LOCKED too, but its finish and retry are keyed by the job id alone (its
``procrastinate_finish_job`` checks only that the job is 'doing'), so a
worker that wakes after its job was handed on marks the new run's job done;
stalled jobs are found from worker heartbeats and retried only when our own
code calls for it, and the attempts of lost workers are not capped. Those
are the three properties this queue exists for, and adding them on top
leaves two mechanisms for one job. Its worker is also asyncio, running our
CPU-bound stages in threads. What it offers beyond this (periodic tasks, an
admin shell) the nightly cron entry and SQL already cover.

The worker processes that claim and run these jobs are ``onrecord.job_runner``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from catalog.errors import OnRecordError
from catalog.pg import PgConnection, apply_migrations, check_schema, translate_outages

if TYPE_CHECKING:
    import psycopg

LEASE_SECONDS = 60.0
BACKOFF_SECONDS = 30.0
MAX_ATTEMPTS = 3

JOB_MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE jobs (
            id bigserial PRIMARY KEY,
            queue text NOT NULL,
            task text NOT NULL,
            args jsonb NOT NULL DEFAULT '{}',
            -- What the job publishes ("recording:<source key>"): its epoch fences the publish.
            fence_key text NOT NULL,
            status text NOT NULL DEFAULT 'todo'
                CHECK (status IN ('todo', 'doing', 'succeeded', 'failed')),
            attempts integer NOT NULL DEFAULT 0,
            max_attempts integer NOT NULL,
            token bigint NOT NULL DEFAULT 0,
            run_after timestamptz NOT NULL DEFAULT now(),
            lease_until timestamptz,
            worker text,
            last_error text,
            created_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz
        );
        -- One live job per thing to publish: queueing it again is a no-op.
        CREATE UNIQUE INDEX jobs_live ON jobs (fence_key) WHERE status IN ('todo', 'doing');
        CREATE INDEX jobs_ready ON jobs (queue, id) WHERE status IN ('todo', 'doing');
        CREATE TABLE publish_epochs (
            fence_key text PRIMARY KEY,
            epoch bigint NOT NULL,
            job_id bigint NOT NULL
        );
        """,
    ),
]


class LostClaim(OnRecordError):
    """This worker's claim was taken over; its work must not land."""


class Stopping(Exception):  # noqa: N818  (a signal, not an error)
    """Raised inside a task that checks ``claim.stopping`` while the worker
    is told to stop: the job goes back to the queue as it was."""


@dataclass(frozen=True)
class Fence:
    """A claim's right to publish. Called inside the publishing transaction
    (``PgStore.index_meeting(fence=…)``): it locks the epoch row, so a
    takeover waits for the publish to commit, or the publish sees that it
    came too late and rolls back."""

    key: str
    epoch: int

    def __call__(self, conn: psycopg.Connection) -> None:
        row = conn.execute(
            "SELECT epoch FROM publish_epochs WHERE fence_key = %s FOR UPDATE", (self.key,)
        ).fetchone()
        if row is None or int(row[0]) != self.epoch:
            raise LostClaim(f"{self.key} was taken over (epoch {row and row[0]}, ours {self.epoch})")


@dataclass
class Claim:
    id: int
    task: str
    args: dict[str, Any]
    attempts: int
    token: int
    fence: Fence
    lost: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        """For long tasks, between steps: give up early when the claim was
        lost, or hand the job back when the worker is stopping."""
        if self.lost.is_set():
            raise LostClaim(f"job {self.id} was taken over")
        if self.stopping.is_set():
            raise Stopping


@dataclass
class JobState:
    id: int
    task: str
    status: str
    attempts: int
    last_error: str | None
    fence_key: str


class JobQueue:
    """Queueing, claiming and finishing jobs. All queue SQL lives here."""

    def __init__(self, url: str, migrate: bool = False) -> None:
        """``migrate`` (``onrecord db upgrade``) creates or migrates the
        queue's tables; otherwise an old schema is refused in one line."""
        self.url = url
        self.db = PgConnection(url)
        if migrate:
            apply_migrations(self.db.conn, "jobs", JOB_MIGRATIONS)
        else:
            check_schema(self.db.conn, "jobs", JOB_MIGRATIONS)

    @property
    def conn(self) -> psycopg.Connection:
        return self.db.conn

    def close(self) -> None:
        self.db.close()

    @translate_outages
    def enqueue(
        self,
        task: str,
        args: dict[str, Any],
        fence_key: str,
        queue: str = "default",
        max_attempts: int = MAX_ATTEMPTS,
    ) -> int | None:
        """Queue a job; None when one for the same ``fence_key`` is live."""
        row = self.conn.execute(
            "INSERT INTO jobs (queue, task, args, fence_key, max_attempts) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (fence_key) WHERE status IN ('todo', 'doing') DO NOTHING RETURNING id",
            (queue, task, json.dumps(args), fence_key, max_attempts),
        ).fetchone()
        return int(row[0]) if row else None

    @translate_outages
    def claim(
        self, worker: str, queues: Iterable[str] = ("default",), lease: float = LEASE_SECONDS
    ) -> Claim | None:
        """Take the oldest ready job: queued and due, or held by a worker
        whose lease ran out. Jobs out of attempts end failed first."""
        queues = list(queues)
        with self.conn.transaction():
            self.conn.execute(
                "UPDATE jobs SET status = 'failed', finished_at = now(), lease_until = NULL,"
                " last_error = 'the worker was lost ' || attempts || ' time(s) (killed, or paused past"
                " its lease); last error: ' || coalesce(last_error, 'none')"
                " WHERE id IN (SELECT id FROM jobs WHERE queue = ANY(%s) AND status = 'doing'"
                " AND lease_until < now() AND attempts >= max_attempts FOR UPDATE SKIP LOCKED)",
                (queues,),
            )
            row = self.conn.execute(
                "UPDATE jobs j SET status = 'doing', attempts = attempts + 1, token = token + 1,"
                " worker = %s, lease_until = now() + make_interval(secs => %s)"
                " FROM (SELECT id FROM jobs WHERE queue = ANY(%s)"
                "   AND ((status = 'todo' AND run_after <= now())"
                "     OR (status = 'doing' AND lease_until < now()))"
                "   ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1) n"
                " WHERE j.id = n.id RETURNING j.id, j.task, j.args, j.attempts, j.token, j.fence_key",
                (worker, lease, queues),
            ).fetchone()
            if row is None:
                return None
            epoch = self.conn.execute(
                "INSERT INTO publish_epochs (fence_key, epoch, job_id) VALUES (%s, 1, %s)"
                " ON CONFLICT (fence_key) DO UPDATE"
                " SET epoch = publish_epochs.epoch + 1, job_id = excluded.job_id"
                " RETURNING epoch",
                (row[5], row[0]),
            ).fetchone()
        assert epoch is not None
        return Claim(int(row[0]), row[1], row[2], int(row[3]), int(row[4]), Fence(row[5], int(epoch[0])))

    @translate_outages
    def renew(self, claim: Claim, lease: float = LEASE_SECONDS) -> bool:
        """Extend the lease; False when the job was taken over meanwhile."""
        changed = self.conn.execute(
            "UPDATE jobs SET lease_until = now() + make_interval(secs => %s)"
            " WHERE id = %s AND token = %s AND status = 'doing'",
            (lease, claim.id, claim.token),
        ).rowcount
        return changed == 1

    @translate_outages
    def holds(self, claim: Claim) -> bool:
        """Whether the claim still has the right to publish (no takeover
        since): checked before each write of a long task; the publish
        itself checks again under the row lock (``Fence``)."""
        row = self.conn.execute(
            "SELECT epoch FROM publish_epochs WHERE fence_key = %s", (claim.fence.key,)
        ).fetchone()
        return row is not None and int(row[0]) == claim.fence.epoch

    @translate_outages
    def succeed(self, claim: Claim) -> bool:
        return self._end(
            claim, "UPDATE jobs SET status = 'succeeded', finished_at = now(), lease_until = NULL"
        )

    @translate_outages
    def fail(self, claim: Claim, error: str, backoff: float = BACKOFF_SECONDS) -> bool:
        """Retry later (backing off), or end failed once out of attempts."""
        return self._end(
            claim,
            "UPDATE jobs SET last_error = %s, lease_until = NULL,"
            " status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'todo' END,"
            " finished_at = CASE WHEN attempts >= max_attempts THEN now() END,"
            " run_after = now() + make_interval(secs => %s * 2 ^ (attempts - 1))",
            (error[:4000], backoff),
        )

    @translate_outages
    def release(self, claim: Claim) -> bool:
        """Hand a job back untouched (a worker told to stop): the attempt
        does not count against it."""
        return self._end(
            claim, "UPDATE jobs SET status = 'todo', lease_until = NULL, attempts = attempts - 1"
        )

    def _end(self, claim: Claim, update: str, params: tuple[object, ...] = ()) -> bool:
        # Quoting the token makes a stale worker's word change nothing.
        changed = self.conn.execute(
            update + " WHERE id = %s AND token = %s AND status = 'doing'", (*params, claim.id, claim.token)
        ).rowcount
        return changed == 1

    @translate_outages
    def jobs(self) -> list[JobState]:
        rows = self.conn.execute(
            "SELECT id, task, status, attempts, last_error, fence_key FROM jobs ORDER BY id"
        )
        return [JobState(*r) for r in rows]

    @translate_outages
    def idle(self, queues: Iterable[str] = ("default",)) -> bool:
        """Nothing queued or running in these queues (retries waiting count)."""
        row = self.conn.execute(
            "SELECT count(*) FROM jobs WHERE queue = ANY(%s) AND status IN ('todo', 'doing')", (list(queues),)
        ).fetchone()
        return row is not None and int(row[0]) == 0
