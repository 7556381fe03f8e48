"""The ``onrecord`` command. Each command parses options, calls one library
function and prints; problems a user can fix become one-line errors. The
votes, queue and alerts commands live in their own modules (``cli_votes``,
``cli_queue``, ``cli_alerts``), added to the group here."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from catalog import OnRecordError, Settings, load_settings
from onrecord.cli_alerts import alerts
from onrecord.cli_queue import db, enqueue, worker
from onrecord.cli_support import echo_queued, fail_cleanly, hold_run_lock, open_pipeline
from onrecord.cli_votes import legistar, votes


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    envvar="ONRECORD_HOME",
    help="Where the database and audio live (default ~/.onrecord, or $ONRECORD_HOME).",
)
@click.version_option(package_name="onrecord")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None) -> None:
    """OnRecord: search what was said in public meetings, to the second.

    \b
    Example:
      onrecord ingest https://www.youtube.com/watch?v=VIDEO --body "Pittsburgh City Council"
      onrecord search "officers won't help immigration agents"
    """
    ctx.obj = load_settings(data_dir)


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--body", help="The council or board that met (overrides the source's channel).")
@click.option("--date", help="Meeting date, YYYY-MM-DD (overrides the upload date).")
@click.option("--title", help="Meeting title (overrides the source's title).")
@click.option("--engine", help="Transcription engine (default faster-whisper).")
@click.option("--model", help="Whisper model name or folder (default tiny.en, bundled).")
@click.option(
    "--captions",
    type=click.Choice(["never", "auto", "prefer"]),
    help="Use the video's own captions instead of Whisper: auto = human-made only, "
    "prefer = human-made else automatic (default never).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the meetings as JSON.")
@click.pass_obj
@fail_cleanly
def ingest(
    settings: Settings,
    sources: tuple[str, ...],
    body: str | None,
    date: str | None,
    title: str | None,
    engine: str | None,
    model: str | None,
    captions: str | None,
    as_json: bool,
) -> None:
    """Download, transcribe and index meetings.

    SOURCE is a video URL yt-dlp understands (YouTube, Vimeo, archive.org,
    a city portal's page or stream, a playlist, channel or feed, direct
    media), a local media file, a caption file (.vtt or .srt), which is
    imported as the transcript without Whisper, or a folder of these. Every
    source shares one process, so the models load once. Ingesting a meeting
    again adds nothing.

    \b
    Example:
      onrecord ingest council-2024-03-05.mp4 --body "Seattle City Council" --date 2024-03-05
      onrecord ingest minutes.vtt --body "Oakland City Council" --date 2022-08-09
      onrecord ingest archive/captions/ --body "Boston City Council"
    """
    from onrecord.sources import Overrides, expand_sources

    overrides = Overrides(body=body, date=date, title=title)
    settings = settings.with_overrides(engine=engine, whisper_model=model, captions=captions)
    todo = expand_sources(list(sources))
    with hold_run_lock(settings), open_pipeline(settings, progress=True) as pipeline:
        # One pipeline for every source: the models load once, for the first
        # meeting that needs them, and serve the rest.
        results = [r for source in todo for r in pipeline.ingest(source, overrides)]
    if as_json:
        # "timings": wall seconds per stage over all sources; stages that run
        # side by side (transcription and diarization) overlap.
        timings = {stage: round(seconds, 3) for stage, seconds in pipeline.timings.items()}
        click.echo(
            json.dumps({"meetings": [r.meeting.summary() for r in results], "timings": timings}, indent=2)
        )
        return
    for r in results:
        m = r.meeting
        verb = {"added": "Added", "exists": "Already ingested, nothing added:", "resumed": "Finished"}
        click.echo(
            f"{verb[r.outcome]} meeting {m.id}: {m.title} ({m.body}, {m.date or 'undated'}) [{m.status}]"
        )


@cli.command()
@click.argument("query")
@click.option("--body", help="Only this body.")
@click.option("--since", help="Only meetings on or after YYYY-MM-DD.")
@click.option("--until", help="Only meetings on or before YYYY-MM-DD.")
@click.option("--speaker", help="Only passages by this speaker.")
@click.option("--meeting", "meeting_id", type=int, help="Only this meeting id.")
@click.option(
    "--section",
    type=click.Choice(["public_comment", "members"]),
    help="Only public comment (residents' testimony), or only members and staff.",
)
@click.option("--limit", default=10, show_default=True, help="How many results.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.pass_obj
@fail_cleanly
def search(
    settings: Settings,
    query: str,
    body: str | None,
    since: str | None,
    until: str | None,
    speaker: str | None,
    meeting_id: int | None,
    section: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Find passages by meaning and by exact words.

    Quote a phrase for an exact match; use OR, NOT and word* as in a search
    engine.

    \b
    Example:
      onrecord search '"call the roll"' --body "Seattle City Council" --json
    """
    from search import SearchQuery

    q = SearchQuery(
        query,
        body=body,
        since=since,
        until=until,
        speaker=speaker,
        meeting_id=meeting_id,
        section=section,
        limit=limit,
    )
    with open_pipeline(settings) as pipeline:
        hits = pipeline.index.search(q)
    if as_json:
        click.echo(json.dumps({"query": query, "results": [h.to_dict() for h in hits]}, indent=2))
        return
    if not hits:
        click.echo("No results.")
    from catalog.formats import clock

    for h in hits:
        who = f"{h.speaker}: " if h.speaker else ""
        who = f"(public comment) {who}" if h.public_comment else who
        click.echo(f"{h.body} · {h.meeting_title} · {h.meeting_date or 'undated'} · {clock(h.start)[:8]}")
        click.echo(f"  {who}{h.text}")
        click.echo(f"  {h.url}\n")


@cli.command()
@click.option("--rebuild", is_flag=True, help="Start from an empty index (reclaims space).")
@click.option("--model", "embed_model", help="Embedding model name or folder (default: the setting).")
@click.pass_obj
@fail_cleanly
def reindex(settings: Settings, rebuild: bool, embed_model: str | None) -> None:
    """Bring the search index up to date with the embedding model and chunker.

    Meetings already indexed with the current model and chunker are skipped,
    so a killed reindex picks up where it stopped.

    \b
    Example:
      onrecord reindex --rebuild
    """
    settings = settings.with_overrides(embed_model=embed_model)
    with hold_run_lock(settings), open_pipeline(settings, progress=True) as pipeline:
        with pipeline.progress.count("reindex meetings") as bar:
            count = pipeline.index.reindex(rebuild=rebuild, progress=bar)
        model = pipeline.index.model_id
        from onrecord.votes import redetect_stale

        redetect_stale(pipeline.catalog)
        from onrecord.chapters import redetect_stale_chapters

        redetect_stale_chapters(pipeline.catalog)
    click.echo(
        f"Re-indexed {count} meeting(s) with {model}." if count else f"The index is up to date ({model})."
    )


@cli.command()
@click.option("--body", help="Only this body.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
@fail_cleanly
def meetings(settings: Settings, body: str | None, as_json: bool) -> None:
    """List ingested meetings with their status.

    \b
    Example:
      onrecord meetings --json
    """
    with open_pipeline(settings) as pipeline:
        found = pipeline.catalog.meetings(body=body)
    if as_json:
        click.echo(json.dumps({"meetings": [m.summary() for m in found]}, indent=2))
        return
    if not found:
        click.echo("No meetings yet. Add one with: onrecord ingest URL_OR_FILE --body NAME")
    for m in found:
        minutes = f"{(m.duration or 0) / 60:.0f} min"
        click.echo(f"{m.id:>5}  {m.date or 'undated':10}  {m.status:12}  {minutes:>7}  {m.body}: {m.title}")


@cli.command()
@click.argument("meeting_id", type=int)
@click.option(
    "--format", "fmt", type=click.Choice(["txt", "vtt", "srt", "json"]), default="txt", show_default=True
)
@click.pass_obj
@fail_cleanly
def transcript(settings: Settings, meeting_id: int, fmt: str) -> None:
    """Print a meeting's transcript.

    \b
    Example:
      onrecord transcript 1 --format vtt > meeting-1.vtt
    """
    from catalog.formats import render

    with open_pipeline(settings) as pipeline:
        meeting = pipeline.catalog.meeting(meeting_id)
        if meeting is None:
            raise OnRecordError(f"No meeting {meeting_id}; list them with: onrecord meetings")
        segments = pipeline.catalog.segments(meeting_id)
        chapters = pipeline.catalog.chapters.chapters(meeting_id)
    click.echo(render(meeting, segments, fmt, chapters), nl=False)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.pass_obj
@fail_cleanly
def serve(settings: Settings, host: str, port: int, threads: int) -> None:
    """Serve the search app with waitress.

    \b
    Example:
      onrecord serve --host 0.0.0.0 --port 8080
    """
    from web import create_app, make_server

    if settings.base_url == Settings.base_url and (host, port) != ("127.0.0.1", 8000):
        settings = settings.with_overrides(base_url=f"http://{host}:{port}")
    app = create_app(settings)
    click.echo(f"OnRecord is serving {settings.db_path} at http://{host}:{port}/ (Ctrl-C to stop)")
    make_server(app, host, port, threads).run()


@cli.command()
@click.argument("meeting_id", type=int)
@click.option(
    "--name",
    "naming",
    nargs=2,
    metavar="LABEL NAME",
    help="Name a speaker, e.g. --name SPEAKER_2 'Jason Lando'.",
)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
@fail_cleanly
def speakers(settings: Settings, meeting_id: int, naming: tuple[str, str] | None, as_json: bool) -> None:
    """List a meeting's speakers, or name one.

    A named voice is remembered for the meeting's body: in its later
    meetings a matching voice is shown as "probably NAME" until confirmed.

    \b
    Example:
      onrecord speakers 12 --name SPEAKER_2 "Jason Lando"
    """
    with open_pipeline(settings) as pipeline:
        if pipeline.catalog.meeting(meeting_id) is None:
            raise OnRecordError(f"No meeting {meeting_id}; list them with: onrecord meetings")
        book = pipeline.catalog.speakers
        if naming:
            label, name = naming
            pipeline.index.name_speaker(meeting_id, label, name)
        found = book.speakers(meeting_id)
    if as_json:
        rows = [s.summary() for s in found]
        click.echo(json.dumps({"meeting_id": meeting_id, "speakers": rows}, indent=2))
        return
    if not found:
        click.echo("No speakers: this meeting's transcript has no speaker turns.")
    for s in found:
        hint = (
            f"  (suggested: {s.proposed_name}, {s.proposed_score:.2f})"
            if s.proposed_name and not s.name
            else ""
        )
        click.echo(f"{s.label:12} {s.display:28} {s.seconds / 60:5.1f} min  “{s.sample[:70]}”{hint}")


@cli.command("run")
@click.option(
    "--config",
    "config_path",
    default="sources.toml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The bodies and sources to follow.",
)
@click.option("--since", help="Only meetings on or after YYYY-MM-DD.")
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
@click.pass_obj
@fail_cleanly
def run_command(settings: Settings, config_path: str, since: str | None, as_json: bool) -> None:
    """The nightly job: find new meetings, ingest them, send alerts.

    Exit codes: 0 all done; 4 some meetings failed (the rest landed; the
    report says which and why); 5 some alerts could not be delivered (they
    are retried next run); 6 a step of the run itself broke (the database,
    the disk: the report's errors say which; the other steps still ran);
    3 another run holds the lock; 1 a bad config; 130 interrupted.

    \b
    Example (crontab, 2:15 every night):
      15 2 * * *  ONRECORD_HOME=/srv/onrecord onrecord run --config /srv/onrecord/sources.toml
    """
    from catalog import parse_date
    from onrecord.config import load_config
    from onrecord.nightly import NightlyRun, alert_failure_line
    from onrecord.progress import Progress

    config = load_config(Path(config_path))
    since = parse_date(since, "--since") if since else None
    if settings.database_url:  # the workers do the work: queue it
        from onrecord.worker import queue_nightly

        echo_queued(queue_nightly(settings, config, since))
        return
    with hold_run_lock(settings):
        job = NightlyRun(settings, config, since, Progress(enabled=sys.stderr.isatty()))
        try:
            report = job.run()
        finally:
            job.close()
    if as_json:
        click.echo(json.dumps(asdict(report), indent=2))
    else:
        click.echo(
            f"Run {report.run_id}: {report.discovered} new, {report.ingested} ingested, "
            f"{report.resumed} resumed, {report.skipped} skipped, {report.failed} failed, "
            f"{report.alerts_sent} alert(s) sent"
        )
        for failure in report.failures:
            click.echo(f"  failed: {failure['url']}: {failure['reason']}")
        for failure in report.alert_failures:
            click.echo(f"  failed: {alert_failure_line(failure)}")
        for error in report.errors:
            click.echo(f"  error: {error}")
    sys.exit(report.exit_code)


for command in (votes, legistar, db, enqueue, worker, alerts):
    cli.add_command(command)


def main() -> None:
    cli()
