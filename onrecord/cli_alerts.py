"""``onrecord alerts``: saved searches, and checking them on new meetings."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click

from catalog import OnRecordError, Settings
from onrecord.cli_support import fail_cleanly, hold_run_lock, open_pipeline


@click.group()
def alerts() -> None:
    """Saved searches that alert when a meeting discusses them.

    \b
    Example:
      onrecord alerts add "287(g)" --notify webhook:https://hooks.slack.com/services/XXX
    """


@alerts.command("add")
@click.argument("query")
@click.option("--notify", required=True, help="atom, webhook:URL or email:ADDRESS.")
@click.option("--body", help="Only meetings of this body.")
@click.option("--speaker", help="Only passages by this speaker.")
@click.option("--min-score", type=float, help="Semantic match threshold (default 0.55, MiniLM cosine).")
@click.option("--backfill", is_flag=True, help="Also alert on meetings already ingested.")
@click.pass_obj
@fail_cleanly
def alerts_add(
    settings: Settings,
    query: str,
    notify: str,
    body: str | None,
    speaker: str | None,
    min_score: float | None,
    backfill: bool,
) -> None:
    """Save a search; new meetings that match it send an alert.

    \b
    Example:
      onrecord alerts add "287(g)" --body "Pittsburgh City Council" --notify email:desk@example.org
    """
    from search.alerts import DEFAULT_MIN_SCORE, alerts_book
    from search.notify import check_target

    check_target(notify, settings)
    with open_pipeline(settings) as pipeline:
        saved = alerts_book(pipeline.catalog).add(
            query, notify, body, speaker, DEFAULT_MIN_SCORE if min_score is None else min_score, backfill
        )
    click.echo(f"Saved search {saved.id}: {saved.query!r} → {saved.notify}")
    if saved.notify == "atom":
        click.echo(f"Feed: {settings.base_url}/alerts/{saved.feed_token}/feed.atom")


@alerts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
@fail_cleanly
def alerts_list(settings: Settings, as_json: bool) -> None:
    """List saved searches.

    \b
    Example:
      onrecord alerts list --json
    """
    from search.alerts import alerts_book

    with open_pipeline(settings) as pipeline:
        saved = alerts_book(pipeline.catalog).all()
    if as_json:
        click.echo(json.dumps({"saved_searches": [asdict(s) for s in saved]}, indent=2))
        return
    if not saved:
        click.echo('No saved searches. Add one with: onrecord alerts add "287(g)" --notify atom')
    for s in saved:
        scope = " ".join(filter(None, [s.body and f"body={s.body}", s.speaker and f"speaker={s.speaker}"]))
        click.echo(f"{s.id:>4}  {s.query!r}  → {s.notify}  {scope}".rstrip())


@alerts.command("remove")
@click.argument("saved_id", type=int)
@click.pass_obj
@fail_cleanly
def alerts_remove(settings: Settings, saved_id: int) -> None:
    """Delete a saved search and its alerts.

    \b
    Example:
      onrecord alerts remove 3
    """
    from search.alerts import alerts_book

    with open_pipeline(settings) as pipeline:
        if not alerts_book(pipeline.catalog).remove(saved_id):
            raise OnRecordError(f"No saved search {saved_id}; list them with: onrecord alerts list")
    click.echo(f"Removed saved search {saved_id}.")


@alerts.command("check")
@click.pass_obj
@fail_cleanly
def alerts_check(settings: Settings) -> None:
    """Evaluate saved searches on new meetings and send what is pending now.

    Exits 3 while a nightly run (which sends alerts itself) is in progress,
    and 5 when some alerts failed; each failure is listed.

    \b
    Example:
      onrecord alerts check
    """
    from onrecord.nightly import UNDELIVERED, alert_failure_line, check_alerts

    with hold_run_lock(settings), open_pipeline(settings) as pipeline:
        outcome = check_alerts(pipeline, settings)
    failed = outcome.failed
    click.echo(f"{outcome.sent} alert(s) sent" + (f", {failed} failed (retried next time)" if failed else ""))
    for failure in outcome.failures:
        click.echo(f"  failed: {alert_failure_line(failure)}")
    if failed:
        sys.exit(UNDELIVERED)
