"""The commands of the PostgreSQL job queue: ``onrecord db`` (its schema
and jobs), ``onrecord enqueue`` and ``onrecord worker``."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click

from catalog import Settings
from onrecord.cli_support import echo_queued, fail_cleanly


@click.group()
def db() -> None:
    """The PostgreSQL database named by database_url (ONRECORD_DATABASE_URL)."""


@db.command("upgrade")
@click.pass_obj
@fail_cleanly
def db_upgrade(settings: Settings) -> None:
    """Create or migrate the schema of every store: catalog, alerts, search
    index and job queue. Run it once after installing or upgrading OnRecord;
    workers and the app refuse an older schema.

    \b
    Example:
      ONRECORD_DATABASE_URL=postgresql://onrecord@db/onrecord onrecord db upgrade
    """
    from onrecord.progress import Progress
    from onrecord.worker import upgrade_database

    with Progress(enabled=sys.stderr.isatty()).count("spellings of meetings", unit="meeting") as bar:
        lines = upgrade_database(settings, progress=bar)
    for line in lines:
        click.echo(line)


@db.command("jobs")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
@fail_cleanly
def db_jobs(settings: Settings, as_json: bool) -> None:
    """List the queue's jobs: what each does, whether it is waiting (todo),
    running (doing), succeeded or failed, its attempts and its last error.

    \b
    Example:
      ONRECORD_DATABASE_URL=postgresql://onrecord@db/onrecord onrecord db jobs
    """
    from onrecord.worker import job_states

    jobs = job_states(settings)
    if as_json:
        click.echo(json.dumps({"jobs": [asdict(j) for j in jobs]}, indent=2))
        return
    for j in jobs:
        error = f"  ({j.last_error.splitlines()[0][:80]})" if j.last_error else ""
        click.echo(f"{j.id:>6} {j.task:9} {j.status:9} tries {j.attempts}  {j.fence_key}{error}")
    counts = {
        status: sum(j.status == status for j in jobs) for status in ("todo", "doing", "succeeded", "failed")
    }
    click.echo(", ".join(f"{n} {status}" for status, n in counts.items()))


@click.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--body", help="The council or board that met (overrides the source's channel).")
@click.option("--date", help="Meeting date, YYYY-MM-DD (overrides the upload date).")
@click.option("--title", help="Meeting title (overrides the source's title).")
@click.pass_obj
@fail_cleanly
def enqueue(
    settings: Settings, sources: tuple[str, ...], body: str | None, date: str | None, title: str | None
) -> None:
    """Queue recordings for the workers (PostgreSQL only). SOURCE is what
    `onrecord ingest` takes; a URL is listed first by a worker, and each of
    its recordings queued once.

    \b
    Example:
      onrecord enqueue council-2024-03-05.mp4 --body "Seattle City Council" --date 2024-03-05
    """
    from onrecord.sources import Overrides
    from onrecord.worker import Recording, enqueue_recordings

    said = Overrides(body=body, date=date, title=title)  # checks --body and --date
    echo_queued(
        enqueue_recordings(settings, [Recording(s, said.body, said.date, said.title) for s in sources])
    )


@click.command()
@click.option(
    "--queues", default="default", show_default=True, help="Comma-separated queues to take jobs from."
)
@click.option(
    "--concurrency", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes."
)
@click.option("--until-idle", is_flag=True, help="Exit once no job is queued or running.")
@click.pass_obj
@fail_cleanly
def worker(settings: Settings, queues: str, concurrency: int, until_idle: bool) -> None:
    """Run queued jobs (discover, ingest, alerts) from the PostgreSQL queue;
    run it on as many machines as you like. Ctrl-C or SIGTERM stops between
    jobs, handing back what was held; a worker killed outright loses its
    job to another once its lease (60 s) runs out.

    \b
    Example:
      ONRECORD_DATABASE_URL=postgresql://onrecord@db/onrecord onrecord worker --concurrency 2
    """
    from onrecord.worker import work

    sys.exit(work(settings, [q.strip() for q in queues.split(",") if q.strip()], concurrency, until_idle))
