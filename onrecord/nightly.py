"""``onrecord run``: the unattended nightly job.

It finds new meetings on every configured source, ingests them, finishes
meetings an earlier run left half-done, then evaluates saved searches and
delivers their alerts. One run at a time (a lock file, which ``ingest``,
``reindex`` and ``alerts check`` take too); one broken meeting or alert, of
whatever kind, is recorded on it and never stops the others; every run
leaves a JSON report and a row in the ``runs`` table with its exit code.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catalog import MediaError, OnRecordError, Settings
from catalog.errors import NetworkError, reason
from onrecord.config import RunConfig, SourceConfig
from onrecord.pipeline import Pipeline, pid_alive
from onrecord.progress import Progress
from onrecord.sources import Overrides
from onrecord.transcription import Profile

if TYPE_CHECKING:
    from search.alerts import AlertBook

# Exit codes, for cron and systemd.
OK, LOCKED, FAILURES, UNDELIVERED, ERROR, INTERRUPTED = 0, 3, 4, 5, 6, 130


class RunLocked(OnRecordError):
    pass


def _kind(exc: BaseException) -> str:
    if isinstance(exc, NetworkError):
        return "network"
    if isinstance(exc, MediaError):
        return "media"
    return "source" if isinstance(exc, OnRecordError) else "error"


@dataclass
class RunReport:
    run_id: int = 0
    started_at: str = ""
    finished_at: str = ""
    discovered: int = 0
    ingested: int = 0
    resumed: int = 0
    skipped: int = 0
    failed: int = 0
    alerts_sent: int = 0
    alerts_failed: int = 0
    # kind: network (retry later, check the connection), media, source or error.
    failures: list[dict[str, str]] = field(default_factory=list)
    # One per alert (or saved search) that failed: id, target, reason, gave_up.
    alert_failures: list[dict[str, Any]] = field(default_factory=list)
    # What stopped a whole step (the database, the disk): the run exits 6.
    errors: list[str] = field(default_factory=list)
    swept: int = 0
    exit_code: int = OK

    def fail(self, source: str, url: str, exc: BaseException) -> None:
        self.failed += 1
        self.failures.append({"source": source, "url": url, "reason": reason(exc), "kind": _kind(exc)})


@contextmanager
def run_lock(data_dir: Path) -> Iterator[None]:
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "run.lock").open("a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise RunLocked(f"Another run is in progress (pid {holder}); try again when it ends") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _with_retries(action: Callable[[], Any], retries: int, backoff: float) -> Any:
    """Retry what may pass on a second try (the network); damaged media and
    the like fail at once."""
    for attempt in range(retries + 1):
        try:
            return action()
        except MediaError:
            raise
        except OnRecordError:
            if attempt == retries:
                raise
            time.sleep(backoff * 2**attempt)
    return None


class NightlyRun:
    def __init__(
        self,
        settings: Settings,
        config: RunConfig,
        since: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.since = since
        self.pipeline = Pipeline(settings, progress, ytdlp_options=config.ytdlp)
        self.report = RunReport()
        # Meetings earlier runs left unfinished; one that fails tonight waits
        # for tomorrow rather than being tried twice in one run.
        self._unfinished: list[int] = []

    def close(self) -> None:
        self.pipeline.close()

    def run(self) -> RunReport:
        """Every step runs even when an earlier one broke; a step that raised
        makes the run exit non-zero. Only an interrupt (Ctrl-C, SystemExit)
        stops the run, and is recorded as such."""
        catalog = self.pipeline.catalog
        self.report.run_id, self.report.started_at = catalog.start_run()
        interrupted = True
        try:
            for step in (
                self._sweep,
                self._note_unfinished,
                self._sources,
                self._legistar,
                self._resume_unfinished,
                self._alerts,
            ):
                try:
                    step()
                except Exception as exc:
                    self._step_failed(step.__name__.strip("_"), exc)
            interrupted = False
        finally:
            self._finish(interrupted)
        return self.report

    def _step_failed(self, step: str, exc: Exception) -> None:
        self.report.errors.append(f"{step}: {reason(exc)}")
        traceback.print_exc(file=sys.stderr)

    def _finish(self, interrupted: bool) -> None:
        r = self.report
        if interrupted:
            r.exit_code = INTERRUPTED
        elif r.errors:
            r.exit_code = ERROR
        elif r.failed:
            r.exit_code = FAILURES
        elif r.alerts_failed:
            r.exit_code = UNDELIVERED
        try:
            r.finished_at = self.pipeline.catalog.finish_run(r.run_id, r.exit_code, json.dumps(asdict(r)))
        except Exception as exc:  # the report file below still says what happened
            r.errors.append(f"recording the run: {reason(exc)}")
            r.exit_code = INTERRUPTED if interrupted else ERROR
        self._write_report()

    def _profile(self, source: SourceConfig | None) -> Profile:
        base = Profile.from_settings(self.settings)
        if source is None:
            return base
        return Profile(
            engine=source.engine or base.engine,
            model=source.model or base.model,
            vocabulary=source.vocabulary,
            captions=source.captions or base.captions,
        )

    def _sweep(self) -> None:
        """Scratch folders of killed runs: partial downloads, gone for good."""
        self.report.swept = self.pipeline.sweep_work_dirs()

    def _note_unfinished(self) -> None:
        self._unfinished = [m.id for m in self.pipeline.catalog.meetings() if m.status != "indexed" and m.id]

    def _sources(self) -> None:
        for source in self.config.sources:
            try:
                self._source(source)
            except Exception as exc:  # the catalog broke mid-source: the next may still work
                self._step_failed(f"source {source.url}", exc)

    def _source(self, source: SourceConfig) -> None:
        from ingest import list_entries, resolve

        try:
            listings = _with_retries(
                lambda: list_entries(source.url, self.config.ytdlp), self.config.retries, self.config.backoff
            )
        except Exception as exc:
            self.report.fail(source.body, source.url, exc)
            return
        since = max(filter(None, [self.since, source.since]), default=None)
        self.pipeline.profile = self._profile(source)
        for listing in listings:
            if self.pipeline.catalog.meeting_by_source(listing.source_key):
                continue  # known: finished, or picked up below if not
            self.report.discovered += 1
            if listing.live:
                self.report.skipped += 1  # taken once the recording is complete
                continue
            if listing.date and (
                (since and listing.date < since) or (source.until and listing.date > source.until)
            ):
                self.report.skipped += 1
                continue
            try:
                remote = _with_retries(
                    lambda listing=listing: resolve(listing, self.config.ytdlp),
                    self.config.retries,
                    self.config.backoff,
                )
                if remote.date and (
                    (since and remote.date < since) or (source.until and remote.date > source.until)
                ):
                    self.report.skipped += 1
                    continue
                result = _with_retries(
                    lambda remote=remote: self.pipeline.ingest_remote(remote, Overrides(body=source.body)),
                    self.config.retries,
                    self.config.backoff,
                )
                self.report.ingested += result.outcome == "added"
            except Exception as exc:  # one meeting, whatever broke, never stops the night
                self.report.fail(source.body, listing.url, exc)
                if not isinstance(exc, OnRecordError):
                    traceback.print_exc(file=sys.stderr)

    def _legistar(self) -> None:
        """Keep the votes of bodies that name a Legistar client current."""
        if self.config.legistar:
            from onrecord.votes import sync_legistar

            sync_legistar(self.pipeline.catalog, self.config.legistar, self.since, self.report.fail)

    def _resume_unfinished(self) -> None:
        catalog = self.pipeline.catalog
        for meeting_id in self._unfinished:
            meeting = catalog.meeting(meeting_id)
            if meeting is None or meeting.status == "indexed":
                continue
            self.pipeline.profile = self._profile(self.config.for_body(meeting.body))
            try:
                self.pipeline.process(meeting)
                self.report.resumed += 1
            except Exception as exc:  # marked failed with its reason by process()
                self.report.fail(meeting.body, meeting.source_url, exc)
                if not isinstance(exc, OnRecordError):
                    traceback.print_exc(file=sys.stderr)

    def _alerts(self) -> None:
        outcome = check_alerts(self.pipeline, self.settings)
        self.report.alerts_sent += outcome.sent
        self.report.alerts_failed += outcome.failed
        self.report.alert_failures.extend(outcome.failures)

    def _write_report(self) -> None:
        folder = self.settings.data_dir / "runs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"run-{self.report.run_id:05d}.json"
        tmp = path.with_suffix(".partial")
        tmp.write_text(json.dumps(asdict(self.report), indent=2))
        tmp.replace(path)


@dataclass
class AlertOutcome:
    sent: int = 0
    failed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)


def alert_failure_line(failure: dict[str, Any]) -> str:
    """How a report or ``alerts check`` shows one failed alert or search."""
    what = f"alert {failure['alert']}" if "alert" in failure else f"saved search {failure['saved_search']}"
    gave_up = f" (given up after {failure['attempts']} tries)" if failure["gave_up"] else ""
    return f"{what}: {failure['reason']}{gave_up}"


def _holder_alive(holder: str) -> bool:
    """Whether the deliverer that claimed an alert still runs. On another
    machine we cannot tell: its claim then lapses with the lease."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    return host != socket.gethostname() or not pid.isdigit() or pid_alive(int(pid))


def check_alerts(pipeline: Pipeline, settings: Settings) -> AlertOutcome:
    """Evaluate every saved search on meetings it has not seen, then deliver
    everything pending. A saved search that cannot be evaluated, or an alert
    that cannot be delivered, for whatever reason, is recorded on it and the
    others go on."""
    from search.alerts import alerts_book

    book = alerts_book(pipeline.catalog)
    outcome = AlertOutcome()
    for saved in book.all():
        broke: Exception | None = None
        for meeting_id in book.unchecked_meetings(saved):
            try:
                hits = pipeline.index.alert_matches(
                    saved.query, meeting_id, saved.min_score, saved.body, saved.speaker
                )
                book.record(saved, meeting_id, hits)
            except Exception as exc:  # the meeting stays unchecked; it is tried again next run
                broke = broke or exc
        if broke is not None:
            book.evaluation_failed(saved.id, reason(broke))
            outcome.failed += 1
            outcome.failures.append(
                {
                    "saved_search": saved.id,
                    "query": saved.query[:80],
                    "reason": reason(broke),
                    "gave_up": False,
                }
            )
    try:
        from onrecord.votes import watch_votes

        watch_votes(pipeline.catalog, settings)
    except Exception as exc:  # watching votes must not hold up the alerts already due
        outcome.failed += 1
        outcome.failures.append(
            {"saved_search": "votes", "query": "", "reason": reason(exc), "gave_up": False}
        )
    deliver_pending(book, settings, outcome)
    return outcome


def deliver_pending(book: AlertBook, settings: Settings, outcome: AlertOutcome) -> None:
    """Send every pending alert that this deliverer manages to claim."""
    from search.alerts import MAX_ATTEMPTS
    from search.notify import deliver, redact

    claimer = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    book.release_claims(_holder_alive)
    for alert in book.pending():
        if not book.claim(alert.id, claimer):
            continue  # another deliverer has it, or has sent it already
        try:
            deliver(alert, settings)
        except Exception as exc:  # whatever the target did, it is this alert's failure only
            why = str(exc) or type(exc).__name__
            attempts = book.failed(alert.id, why)
            outcome.failed += 1
            kind, _, target = alert.saved_search.notify.partition(":")
            outcome.failures.append(
                {
                    "alert": alert.id,
                    "saved_search": alert.saved_search.id,
                    "target": f"{kind}:{redact(target)}" if kind == "webhook" else alert.saved_search.notify,
                    "reason": why,
                    "attempts": attempts,
                    "gave_up": attempts >= MAX_ATTEMPTS,
                }
            )
            continue
        book.delivered(alert.id)
        outcome.sent += 1
