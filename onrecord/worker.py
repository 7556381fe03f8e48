"""OnRecord's jobs on the PostgreSQL queue: what ``onrecord enqueue`` and a
nightly ``onrecord run`` queue, and what ``onrecord worker`` runs.

- ``discover``: list a source (channel, playlist, feed), queue one
  ``ingest`` per new recording.
- ``ingest``: one recording through the pipeline (download, transcribe,
  diarize, votes, chapters, chunk, embed), published to the index under
  the claim's fence, then an ``alerts`` job for it.
- ``legistar``: a body's agendas, votes and persons from Legistar.
- ``alerts``: evaluate saved searches on new meetings and deliver what is
  due (each alert is claimed before it is sent, so it goes out once).

Each recording's jobs share one fence key (``recording:<source key>``):
only one is live at a time, and a worker that lost its claim can neither
add the meeting, nor write its transcript, nor publish it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catalog import OnRecordError, Settings, load_settings
from catalog.db import open_catalog
from onrecord.job_runner import Task, run_workers
from onrecord.jobs import Claim, JobQueue, JobState, LostClaim

if TYPE_CHECKING:
    from search.storage import Reporter

QUEUE = "default"
TASKS = "onrecord.worker:tasks"


@dataclass(frozen=True)
class Recording:
    """What a queued recording carries: the source and the user's say."""

    source: str
    body: str | None = None
    date: str | None = None
    title: str | None = None
    engine: str | None = None
    model: str | None = None
    vocabulary: tuple[str, ...] = ()
    captions: str | None = None


def need_postgres(settings: Settings, what: str) -> str:
    if not settings.database_url:
        raise OnRecordError(
            f"{what} needs a PostgreSQL database shared by the workers; set database_url"
            " (ONRECORD_DATABASE_URL=postgresql://user@host/onrecord) and run: onrecord db upgrade."
            " On one machine, `onrecord ingest` and `onrecord run` do the work directly"
        )
    return settings.database_url


def recording_key(source: str) -> str:
    """The fence key of one recording: its URL, or the file's full path."""
    from ingest import is_url

    return f"recording:{source if is_url(source) else Path(source).resolve().as_uri()}"


def upgrade_database(settings: Settings, progress: Reporter | None = None) -> list[str]:
    """Create or migrate every component's schema (catalog, alerts, search
    index, job queue); returns what it did, a line per component. On SQLite,
    opening the stores migrates them. ``progress`` hears (meetings, of
    meetings) while the index reads in the spellings of older meetings."""
    from search.alerts import alerts_book
    from search.backends import open_index

    if not settings.database_url:
        catalog = open_catalog(settings)
        try:
            alerts_book(catalog)
            open_index(settings, catalog, progress=progress).close()
        finally:
            catalog.close()
        return [f"SQLite at {settings.db_path} is up to date (SQLite migrates itself)"]
    from catalog.pg import redact

    url = settings.database_url
    catalog = open_catalog(settings, upgrade=True)
    try:
        # The index first: it refuses a database without the vector extension.
        open_index(settings, catalog, upgrade=True, progress=progress).close()
        alerts_book(catalog)
    finally:
        catalog.close()
    JobQueue(url, migrate=True).close()
    return [f"PostgreSQL at {redact(url)}: catalog, alerts, search index and job queue are up to date"]


def enqueue_recordings(settings: Settings, recordings: list[Recording]) -> list[tuple[str, int | None]]:
    """Queue each recording: a URL is discovered first (it may list many),
    a local file goes straight to ingest. Returns (source, job id or None
    when already queued)."""
    from ingest import is_url

    url = need_postgres(settings, "onrecord enqueue")
    queue = JobQueue(url)
    try:
        found = []
        for r in recordings:
            source = r.source if is_url(r.source) else str(Path(r.source).resolve())
            if not is_url(source) and not Path(source).is_file():
                raise OnRecordError(f"{r.source}: no such file; give a media file, a caption file or a URL")
            r = Recording(**{**asdict(r), "source": source})
            task = "discover" if is_url(source) else "ingest"
            key = f"discover:{source}" if task == "discover" else recording_key(source)
            found.append((r.source, queue.enqueue(task, _args(r), key, QUEUE)))
        return found
    finally:
        queue.close()


def job_states(settings: Settings) -> list[JobState]:
    """Every job in the queue, oldest first: what it does, how it stands,
    its attempts and its last error."""
    queue = JobQueue(need_postgres(settings, "onrecord db jobs"))
    try:
        return queue.jobs()
    finally:
        queue.close()


def queue_nightly(settings: Settings, config: Any, since: str | None) -> list[tuple[str, int | None]]:
    """``onrecord run`` with a database_url: queue a discovery of every
    configured source (with its body's profile and date window) and an
    alert check; the workers do the rest."""
    url = need_postgres(settings, "queueing the nightly run")
    queue = JobQueue(url)
    try:
        found = []
        for s in config.sources:
            args = _args(Recording(s.url, s.body, None, None, s.engine, s.model, s.vocabulary, s.captions))
            window = {"since": max(filter(None, [since, s.since]), default=None), "until": s.until}
            args.update({k: v for k, v in window.items() if v})
            found.append((s.url, queue.enqueue("discover", args, f"discover:{s.url}", QUEUE)))
        for entry in config.legistar:
            args = {**asdict(entry), "run_since": since}
            found.append(
                (f"legistar:{entry.client}", queue.enqueue("legistar", args, f"legistar:{entry.body}", QUEUE))
            )
        found.append(("alerts", queue.enqueue("alerts", {}, "alerts:nightly", QUEUE)))
        return found
    finally:
        queue.close()


def _args(r: Recording) -> dict[str, Any]:
    return {k: v for k, v in asdict(r).items() if v not in (None, ())}


def work(settings: Settings, queues: list[str], concurrency: int, until_idle: bool) -> int:
    """Run ``concurrency`` worker processes over the queue; returns the
    worst exit status. The processes read the same settings (data directory
    included) through the environment."""
    url = need_postgres(settings, "onrecord worker")
    JobQueue(url).close()  # an old or missing schema fails here, in one line
    env = {**os.environ, "ONRECORD_HOME": str(settings.data_dir), "ONRECORD_DATABASE_URL": url}
    return run_workers(url, TASKS, concurrency, queues, until_idle, env=env)


class Tasks:
    """One worker process's task bodies, sharing one pipeline (models load once)."""

    def __init__(self, url: str) -> None:
        self.settings = load_settings().with_overrides(database_url=url)
        self.queue = JobQueue(url)
        self._pipeline: Any = None

    @property
    def pipeline(self) -> Any:
        if self._pipeline is None:
            from onrecord.pipeline import Pipeline

            self._pipeline = Pipeline(self.settings)
        return self._pipeline

    def table(self) -> dict[str, Task]:
        return {
            "discover": self.discover,
            "ingest": self.ingest,
            "legistar": self.legistar,
            "alerts": self.alerts,
        }

    def discover(self, claim: Claim) -> None:
        from ingest import list_entries

        r = Recording(**_recording_args(claim.args))
        catalog = self.pipeline.catalog
        since, until = claim.args.get("since"), claim.args.get("until")
        for listing in list_entries(r.source, self.pipeline.ytdlp_options):
            claim.check()
            if listing.live or catalog.meeting_by_source(listing.source_key):
                continue  # a live stream is taken once complete; a known one is done or queued
            if listing.date and ((since and listing.date < since) or (until and listing.date > until)):
                continue
            entry = Recording(**{**asdict(r), "source": listing.url})
            self.queue.enqueue("ingest", _args(entry), f"recording:{listing.source_key}", QUEUE)

    def ingest(self, claim: Claim) -> None:
        from onrecord.sources import Overrides
        from onrecord.transcription import Profile

        r = Recording(**_recording_args(claim.args))
        pipeline = self.pipeline
        base = Profile.from_settings(self.settings)
        pipeline.profile = Profile(
            r.engine or base.engine, r.model or base.model, r.vocabulary, r.captions or base.captions
        )

        def guard() -> None:
            claim.check()
            if not self.queue.holds(claim):
                raise LostClaim(f"{claim.fence.key} was taken over")

        pipeline.guard, pipeline.fence = guard, claim.fence
        try:
            results = pipeline.ingest(r.source, Overrides(body=r.body, date=r.date, title=r.title))
        finally:
            pipeline.guard = pipeline.fence = None
        for result in results:
            if result.meeting.id is not None and result.meeting.status == "indexed":
                self.queue.enqueue("alerts", {}, f"alerts:{result.meeting.id}", QUEUE)

    def legistar(self, claim: Claim) -> None:
        """A body's agendas, votes and persons from Legistar, as the nightly run imports them."""
        from onrecord.config import LegistarConfig
        from onrecord.votes import sync_legistar

        args = dict(claim.args)
        since = args.pop("run_since", None)
        failures: list[str] = []
        sync_legistar(
            self.pipeline.catalog,
            [LegistarConfig(**args)],
            since,
            lambda _b, url, exc: failures.append(f"{url}: {exc}"),
        )
        if failures:
            raise OnRecordError("; ".join(failures))

    def alerts(self, claim: Claim) -> None:
        from onrecord.nightly import check_alerts

        outcome = check_alerts(self.pipeline, self.settings)
        if outcome.failed:
            raise OnRecordError(f"{outcome.failed} alert(s) not delivered: {outcome.failures[:3]}")


def _recording_args(args: dict[str, Any]) -> dict[str, Any]:
    known = {k: v for k, v in args.items() if k in Recording.__dataclass_fields__}
    if "vocabulary" in known:
        known["vocabulary"] = tuple(known["vocabulary"])
    return known


def tasks(url: str) -> dict[str, Task]:
    """The task table ``python -m onrecord.job_runner`` loads in each worker."""
    return Tasks(url).table()
