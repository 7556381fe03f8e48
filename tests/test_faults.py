"""The nightly run and the pipeline when things break that are not the
user's fault: the engine, memory, the database, the network, a kill."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from catalog import Catalog, Meeting, Segment, load_settings
from onrecord.config import load_config
from onrecord.nightly import ERROR, FAILURES, INTERRUPTED, OK, NightlyRun
from onrecord.pipeline import Pipeline
from tests.conftest import catalog_for, run, shared
from tests.loopback import Channel, LoopbackServer
from tests.receivers import closed_port
from transcribe.captions import cues_to_segments, parse_cues

NETWORK_ADVICE = "check the connection or the proxy setting"


class BreakingDiarizer:
    """The real diarizer, except that its first calls raise what
    CTranslate2, resemblyzer, the allocator or SQLite raise when they fail
    (none of which can be made to fail on purpose here)."""

    def __init__(self, *errors: BaseException) -> None:
        from transcribe.diarize import get_diarizer

        self.errors = list(errors)
        self.real = get_diarizer()

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401  name, version, options…: the real one's
        return getattr(self.real, name)

    def run(self, load: Any, progress: Any = None) -> Any:  # noqa: ANN401
        if self.errors:
            raise self.errors.pop(0)
        return self.real.run(load, progress)


def _config(tmp_path: Path, *sources: str) -> Path:
    path = tmp_path / "sources.toml"
    urls = ", ".join(f'"{s}"' for s in sources)
    path.write_text(
        f'[run]\nretries = 0\n\n[[bodies]]\nname = "Springfield City Council"\nsources = [{urls}]\n'
    )
    return path


def _night(home: Path, config: Path, diarizer: Any = None) -> Any:  # noqa: ANN401
    job = NightlyRun(load_settings(home), load_config(config))
    if diarizer is not None:
        job.pipeline.transcription.diarizer = diarizer
    try:
        return job.run()
    finally:
        job.close()


def _statuses(home: Path) -> dict[str, tuple[str, str | None]]:
    return {m.title: (m.status, m.error) for m in catalog_for(home).meetings()}


def test_a_meeting_that_raises_anything_is_marked_failed_and_the_night_goes_on(
    home: Path, loopback: LoopbackServer, tmp_path: Path
) -> None:
    feed = Channel(loopback)
    for title, clip in (
        ("Regular Meeting 2024-01-08", "speech/jfk.flac"),
        ("Regular Meeting 2024-01-15", "speech/ljspeech/LJ001-0002.wav"),
        ("Regular Meeting 2024-01-22", "speech/ljspeech/LJ001-0008.wav"),
        ("Regular Meeting 2024-01-29", "speech/ljspeech/LJ001-0001.wav"),
    ):
        feed.add(title, shared(clip))
    config = _config(tmp_path, loopback.url("feed.xml"))
    assert run(home, "alerts", "add", "printing arts and crafts", "--notify", "atom").exit_code == 0

    broken = BreakingDiarizer(
        RuntimeError("CUDA failed with error out of memory"),
        MemoryError(),
        sqlite3.OperationalError("database is locked"),
    )
    report = _night(home, config, broken)
    assert (report.ingested, report.failed, report.exit_code) == (1, 3, FAILURES)
    reasons = [f["reason"] for f in report.failures]
    assert reasons == [
        "RuntimeError: CUDA failed with error out of memory",
        "MemoryError",
        "OperationalError: database is locked",
    ]
    assert {f["kind"] for f in report.failures} == {"error"}
    found = _statuses(home)
    assert [found[f"Regular Meeting 2024-01-{day}"] for day in ("08", "15", "22")] == [
        ("failed", reason) for reason in reasons
    ]
    assert found["Regular Meeting 2024-01-29"] == ("indexed", None)
    # Alerts were still checked: the meeting that landed sent its alert.
    assert report.alerts_sent == 1
    assert catalog_for(home).runs()[0]["exit_code"] == FAILURES

    # The next night finishes them; the alert is not sent again.
    report = _night(home, config)
    assert (report.resumed, report.failed, report.alerts_sent, report.exit_code) == (3, 0, 0, OK)
    assert {status for status, _ in _statuses(home).values()} == {"indexed"}

    # An interrupt is not a failure: it stops the run, which says so, and
    # the meeting is resumed later rather than marked failed.
    feed.add("Regular Meeting 2024-02-05", shared("speech/ljspeech/LJ001-0013.wav"))
    with pytest.raises(KeyboardInterrupt):
        _night(home, config, BreakingDiarizer(KeyboardInterrupt()))
    assert _statuses(home)["Regular Meeting 2024-02-05"][0] == "transcribing"
    assert catalog_for(home).runs()[0]["exit_code"] == INTERRUPTED
    assert _night(home, config).resumed == 1


def test_a_step_that_breaks_is_reported_the_others_still_run_and_the_run_exits_6(
    home: Path, tmp_path: Path, loopback: LoopbackServer
) -> None:
    feed = Channel(loopback)
    feed.add("Regular Meeting 2024-01-15", shared("speech/ljspeech/LJ001-0002.wav"))
    config = _config(tmp_path, loopback.url("feed.xml"))
    assert run(home, "alerts", "add", "printing", "--notify", "atom").exit_code == 0
    # A table lost underneath the run (a bad restore): the alerts step breaks.
    catalog_for(home).conn.execute("DROP TABLE alert_checked")

    result = run(home, "run", "--config", str(config))
    assert result.exit_code == ERROR, result.output
    assert "error: alerts: OperationalError: no such table: alert_checked" in result.output
    assert _statuses(home)["Regular Meeting 2024-01-15"][0] == "indexed"
    [last] = catalog_for(home).runs(limit=1)
    assert last["exit_code"] == ERROR
    saved = json.loads(sorted((home / "runs").glob("run-*.json"))[-1].read_text())
    assert saved["exit_code"] == ERROR and saved["ingested"] == 1


def test_killed_runs_partial_downloads_are_swept_by_the_nightly_run(home: Path, tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    work = load_settings(home).work_dir
    partial = work / f"{gone.pid}-1a2b3c4d"
    partial.mkdir(parents=True)
    (partial / "media.mp4.part").write_bytes(b"\0" * 65536)
    ours = work / f"{os.getpid()}-5e6f7a8b"  # a live process's: kept
    ours.mkdir()

    report = _night(home, _config(tmp_path, f"http://127.0.0.1:{closed_port()}/feed.xml"))
    assert not partial.exists() and ours.exists()
    assert report.swept == 1


def test_an_unreachable_network_is_not_called_missing_media(
    home: Path, tmp_path: Path, loopback: LoopbackServer
) -> None:
    for url in (f"http://127.0.0.1:{closed_port()}/meeting.mp4", "http://onrecord-test.invalid/meeting.mp4"):
        result = run(home, "ingest", url)
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
        assert NETWORK_ADVICE in result.output and "No media found" not in result.output

    # A server that answers, without media, is still "no media".
    missing = run(home, "ingest", loopback.url("gone.mp4"))
    assert "No media found" in missing.output and NETWORK_ADVICE not in missing.output

    down = f"http://127.0.0.1:{closed_port()}/feed.xml"
    report = _night(home, _config(tmp_path, down, loopback.url("gone.xml")))
    kinds = {f["url"]: (f["kind"], f["reason"]) for f in report.failures}
    assert kinds[down][0] == "network" and NETWORK_ADVICE in kinds[down][1]
    assert kinds[loopback.url("gone.xml")][0] == "source"


VTT = """WEBVTT

00:00:01.000 --> 00:00:06.000
The police chief said officers will not help immigration enforcement agents.

00:00:07.000 --> 00:00:11.000
We will take up the budget after public comment.
"""


def _captioned(home: Path, title: str, speakers: tuple[str, ...] = ()) -> Meeting:
    """A meeting whose transcript is in the catalog but not yet indexed, as a
    run killed between the two leaves it."""
    segments: list[Segment] = cues_to_segments(parse_cues(VTT))
    for segment, speaker in zip(segments, speakers, strict=False):
        segment.speaker = speaker
    meeting = Meeting(
        title=title,
        body="Springfield City Council",
        source_url=f"http://127.0.0.1/{title}.vtt",
        status="indexing",
        transcript_source="captions",
        duration=11.0,
    )
    return catalog_for(home).add_meeting(meeting, None, segments)


def test_a_search_saved_while_a_meeting_is_still_in_progress_alerts_when_it_finishes(home: Path) -> None:
    settings = load_settings(home)
    pipeline = Pipeline(settings)
    try:
        done = pipeline.process(_captioned(home, "Regular Meeting 2024-01-08"))
        in_progress = _captioned(home, "Regular Meeting 2024-01-15")
        assert run(home, "alerts", "add", "immigration enforcement", "--notify", "atom").exit_code == 0
        pipeline.process(in_progress)
    finally:
        pipeline.close()
    assert run(home, "alerts", "check").output.startswith("1 alert(s) sent")
    from search.alerts import AlertBook

    [alert] = AlertBook(catalog_for(home).conn).for_search(1)
    assert alert.hit.meeting_id == in_progress.id != done.id


def test_naming_a_speaker_is_one_transaction(home: Path) -> None:
    pipeline = Pipeline(load_settings(home))
    try:
        meeting = pipeline.process(_captioned(home, "Regular Meeting", ("SPEAKER_1", "SPEAKER_2")))
    finally:
        pipeline.close()
    mid = str(meeting.id)
    conn = catalog_for(home).conn
    # The index fails half-way through naming (a full disk, say).
    conn.execute(
        "CREATE TRIGGER index_breaks BEFORE UPDATE OF speaker ON chunks"
        " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
    )
    with pytest.raises(sqlite3.IntegrityError):
        run(home, "speakers", mid, "--name", "SPEAKER_1", "Chief Ruiz")
    speakers = json.loads(run(home, "speakers", mid, "--json").output)["speakers"]
    assert speakers[0]["name"] is None, "the name landed without its passages"
    assert conn.execute("SELECT count(*) FROM voices").fetchone()[0] == 0

    conn.execute("DROP TRIGGER index_breaks")
    assert run(home, "speakers", mid, "--name", "SPEAKER_1", "  Chief   Ruiz ").exit_code == 0
    hits = json.loads(run(home, "search", "immigration", "--speaker", "Chief Ruiz", "--json").output)
    assert hits["results"] and hits["results"][0]["speaker"] == "Chief Ruiz"

    refused = (("Chief\x1b[31m Ruiz", "U+001B"), ("\u202eziuR", "U+202E"), ("Chief\nRuiz", "line break"))
    for bad, shown in refused:
        result = run(home, "speakers", mid, "--name", "SPEAKER_2", bad)
        assert result.exit_code == 1 and result.output.count("\n") == 1 and shown in result.output


def test_text_that_reaches_alerts_carries_only_what_xml_can(home: Path) -> None:
    from search.alerts import AlertBook
    from tests.outbox import hit

    catalog = Catalog(load_settings(home).db_path)
    meeting = catalog.add_meeting(Meeting(title="T", body="B", source_url="x", status="indexed"), None)
    book = AlertBook(catalog.conn)
    saved = book.add("roll", "atom")
    dirty = hit(meeting.id or 0, text="call\x00 the\x0b roll\ud800 now\uffff, tab\tkept")
    dirty.speaker, dirty.meeting_title = "Clerk\x1b", "Regular\x07 Meeting"
    book.record(saved, meeting.id or 0, [dirty])
    [alert] = book.for_search(saved.id)
    assert alert.hit.text == "call the roll now, tab\tkept"
    assert (alert.hit.speaker, alert.hit.meeting_title) == ("Clerk", "Regular Meeting")
