"""``onrecord votes`` and ``onrecord legistar``: the record of how members
voted, listed and exported, and imported from a city's Legistar."""

from __future__ import annotations

import json

import click

from catalog import Settings
from onrecord.cli_support import fail_cleanly, open_pipeline


@click.command()
@click.option("--meeting", "meeting_id", type=int, help="Only this meeting id.")
@click.option("--body", help="Only this body.")
@click.option("--member", help="Only votes in which this member voted (name or last name).")
@click.option("--since", help="Only meetings on or after YYYY-MM-DD.")
@click.option("--until", help="Only meetings on or before YYYY-MM-DD.")
@click.option("--result", type=click.Choice(["passed", "failed"]), help="Only votes with this result.")
@click.option("--json", "as_json", is_flag=True, help="Print the votes as JSON.")
@click.option(
    "--export",
    type=click.Choice(["csv", "ocd"]),
    help="Print as CSV (a row per member's vote) or Open Civic Data vote events (JSON).",
)
@click.pass_obj
@fail_cleanly
def votes(
    settings: Settings,
    meeting_id: int | None,
    body: str | None,
    member: str | None,
    since: str | None,
    until: str | None,
    result: str | None,
    as_json: bool,
    export: str | None,
) -> None:
    """List the votes taken: motion, result, counts and each member's vote,
    with a link to the second the question was put.

    \b
    Example:
      onrecord votes --body "Oakland City Council" --member Kalb --json
    """
    from catalog.votes import vote_filter
    from onrecord.votes import linker, list_votes

    with open_pipeline(settings) as pipeline:
        where = vote_filter(pipeline.catalog, meeting_id, body, member, since, until, result)
        listed = list_votes(pipeline.catalog, where, linker(settings))
    found = [vote for vote, _ in listed]
    if as_json:
        click.echo(json.dumps({"votes": found}, indent=2))
        return
    if export:
        from catalog.vote_export import ocd_vote_event, votes_csv

        text = (
            votes_csv(found) if export == "csv" else json.dumps([ocd_vote_event(v) for v in found], indent=2)
        )
        click.echo(text, nl=export != "csv")
        return
    if not found:
        click.echo("No votes found.")
    from catalog.formats import clock

    for v, notes in listed:
        counts = "-".join(str(v[k]) for k in ("yes", "no") if v[k] is not None)
        at = f" at {clock(v['start'])[:8]}" if v["start"] is not None else ""
        click.echo(f"{v['body']} · {v['meeting_date'] or 'undated'} · {v['kind']}{at} [{v['source']}]")
        click.echo(f"  {v['result'].upper()} {counts}  {v['motion']}")
        if v["members"]:
            click.echo("  " + ", ".join(f"{m['name']}: {m['vote']}" for m in v["members"]))
        for note in notes:
            click.echo(f"  ! {note}")
        click.echo(f"  {v['url']}\n")


@click.command()
@click.argument("client")
@click.option("--body", required=True, help="The body in OnRecord, e.g. 'Seattle City Council'.")
@click.option(
    "--legistar-body",
    help="Legistar's name for the body (default: its events whose body name is --body or ends it).",
)
@click.option("--since", help="Only events on or after YYYY-MM-DD.")
@click.option("--until", help="Only events on or before YYYY-MM-DD.")
@click.option("--api", help="The Legistar Web API's base (default https://webapi.legistar.com/v1).")
@click.pass_obj
@fail_cleanly
def legistar(
    settings: Settings,
    client: str,
    body: str,
    legistar_body: str | None,
    since: str | None,
    until: str | None,
    api: str | None,
) -> None:
    """Import a body's events, agenda items, votes and members from Legistar.

    Each event joins the meeting of the same body and date (or becomes a
    meeting without a recording, which its recording joins when ingested);
    each vote is linked to the second the recording has it.

    \b
    Example:
      onrecord legistar seattle --body "Seattle City Council" --legistar-body "City Council"
    """
    from ingest.legistar import DEFAULT_API, LegistarClient
    from onrecord.votes import import_legistar

    with open_pipeline(settings) as pipeline:
        report = import_legistar(
            pipeline.catalog, LegistarClient(client, api or DEFAULT_API), body, legistar_body, since, until
        )
    click.echo(report.summary())
