"""TEST DOUBLES: small stand-ins for the worker's real tasks, so that the
queue's mechanics (claims, lease expiry and takeover, fencing, the attempt
cap) are tested against the real PostgreSQL in seconds. Until the storage
seam lands, the real ingest task cannot run on PostgreSQL; these bodies
only wait (where a real one would transcribe) and then publish through the
real ``PgStore.index_meeting`` with the claim's fence.

Worker processes run them as ``python -m onrecord.job_runner URL
tests.job_doubles:tasks default 1 LEASE_SECONDS``.
Each double appends what happened to the ``double_log`` table, so a test
can read which worker did what even after it was killed.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from catalog.pg import connect
from catalog.types import Chunk
from onrecord.jobs import Claim, LostClaim, Stopping
from search.pg_store import PgStore

MODEL = "test-double-model"
DIM = 8


def log(url: str, claim: Claim, event: str) -> None:
    conn = connect(url)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS double_log (job_id bigint, token bigint, pid integer, event text,"
        " at timestamptz DEFAULT clock_timestamp())"
    )
    conn.execute(
        "INSERT INTO double_log (job_id, token, pid, event) VALUES (%s, %s, %s, %s)",
        (claim.id, claim.token, os.getpid(), event),
    )
    conn.close()


def tasks(url: str) -> dict[str, Any]:
    def publish(claim: Claim) -> None:
        """Wait ``seconds`` (in steps, as transcription would), then publish
        the meeting's chunks fenced by the claim; ``hold`` seconds are spent
        inside the publishing transaction, holding the fence."""
        args = claim.args
        log(url, claim, "started")
        for _ in range(int(args.get("seconds", 0) * 10)):
            time.sleep(0.1)
            # A stopping worker hands the job back. A lost claim is ignored on
            # purpose: the lease can run out between any check and the
            # publish, and it is the fence inside the publish that refuses.
            if claim.stopping.is_set():
                raise Stopping
        meeting_id = int(args["meeting_id"])
        chunks = [
            Chunk(meeting_id, i, i * 5.0, i * 5.0 + 4, f"passage {i} of meeting {meeting_id}")
            for i in range(5)
        ]
        vectors = np.random.default_rng(meeting_id).normal(size=(5, DIM)).astype(np.float32)

        def fence(conn: Any) -> None:
            claim.fence(conn)
            log(url, claim, "publishing")
            time.sleep(float(args.get("hold", 0)))

        store = PgStore(url, MODEL, dim=DIM)
        try:
            store.index_meeting(meeting_id, chunks, vectors, "v1", body="Test Body", fence=fence)
        except LostClaim:
            log(url, claim, "refused")
            raise
        finally:
            store.close()
        log(url, claim, "published")

    def broken(claim: Claim) -> None:
        log(url, claim, "started")
        raise ValueError("the recording is unreadable")

    def dies(claim: Claim) -> None:
        log(url, claim, "started")
        os._exit(137)  # the process is lost mid-job, as with kill -9

    return {"publish": publish, "broken": broken, "dies": dies}
