"""``onrecord run``: the unattended nightly job.

It finds new meetings on every configured source, ingests them, finishes
meetings an earlier run left half-done, then evaluates saved searches and
delivers their alerts. One run at a time (a lock file); one broken meeting
never stops the others; every run leaves a JSON report and a row in the
``runs`` table.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from catalog import MediaError, OnRecordError, Settings
from onrecord.config import RunConfig, SourceConfig
from onrecord.pipeline import Overrides, Pipeline, Profile
from onrecord.progress import Progress

# Exit codes, for cron and systemd.
OK, FAILURES, LOCKED, UNDELIVERED = 0, 4, 3, 5


class RunLocked(OnRecordError):
    pass


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
    failures: list[dict[str, str]] = field(default_factory=list)
    exit_code: int = OK

    def fail(self, source: str, url: str, reason: str) -> None:
        self.failed += 1
        self.failures.append({"source": source, "url": url, "reason": reason})


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

    def close(self) -> None:
        self.pipeline.close()

    def run(self) -> RunReport:
        catalog = self.pipeline.catalog
        self.report.run_id, self.report.started_at = catalog.start_run()
        try:
            for source in self.config.sources:
                self._source(source)
            if self.config.legistar:
                from onrecord.votes import sync_legistar

                sync_legistar(self.pipeline.catalog, self.config.legistar, self.since, self.report.fail)
            self._resume_unfinished()
            self._alerts()
        finally:
            r = self.report
            if r.failed:
                r.exit_code = FAILURES
            elif r.alerts_failed:
                r.exit_code = UNDELIVERED
            r.finished_at = catalog.finish_run(r.run_id, r.exit_code, json.dumps(asdict(r)))
            self._write_report()
        return self.report

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

    def _source(self, source: SourceConfig) -> None:
        from ingest import list_entries, resolve

        try:
            listings = _with_retries(
                lambda: list_entries(source.url, self.config.ytdlp), self.config.retries, self.config.backoff
            )
        except OnRecordError as exc:
            self.report.fail(source.body, source.url, str(exc))
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
            except OnRecordError as exc:
                self.report.fail(source.body, listing.url, str(exc))
            except Exception as exc:  # a bug in one meeting must not stop the night
                self.report.fail(source.body, listing.url, f"{type(exc).__name__}: {exc}")
                traceback.print_exc()

    def _resume_unfinished(self) -> None:
        catalog = self.pipeline.catalog
        for meeting in catalog.meetings():
            if meeting.status == "indexed":
                continue
            self.pipeline.profile = self._profile(self.config.for_body(meeting.body))
            try:
                self.pipeline.process(meeting)
                self.report.resumed += 1
            except OnRecordError as exc:
                self.report.fail(meeting.body, meeting.source_url, str(exc))

    def _alerts(self) -> None:
        sent, failed = check_alerts(self.pipeline, self.settings)
        self.report.alerts_sent += sent
        self.report.alerts_failed += failed

    def _write_report(self) -> None:
        folder = self.settings.data_dir / "runs"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"run-{self.report.run_id:05d}.json"
        tmp = path.with_suffix(".partial")
        tmp.write_text(json.dumps(asdict(self.report), indent=2))
        tmp.replace(path)


def check_alerts(pipeline: Pipeline, settings: Settings) -> tuple[int, int]:
    """Evaluate every saved search on meetings it has not seen, then deliver
    everything pending. Returns (delivered, failed) counts."""
    from search.alerts import AlertBook
    from search.notify import DeliveryError, deliver

    book = AlertBook(pipeline.catalog.conn)
    for saved in book.all():
        for meeting_id in book.unchecked_meetings(saved):
            hits = pipeline.index.alert_matches(
                saved.query, meeting_id, saved.min_score, saved.body, saved.speaker
            )
            book.record(saved, meeting_id, hits)
    from onrecord.votes import watch_votes

    watch_votes(pipeline.catalog, settings)
    sent = failed = 0
    for alert in book.pending():
        try:
            deliver(alert, settings)
        except DeliveryError as exc:
            book.failed(alert.id, str(exc))
            failed += 1
            continue
        book.delivered(alert.id)
        sent += 1
    return sent, failed
