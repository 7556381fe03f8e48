"""A run killed in the middle of transcription completes on the next run,
keeping what was already transcribed and writing no duplicate rows."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from ingest import probe_duration
from tests.conftest import catalog_for, run, scratch_left, shared


def _count(db: Path, sql: str) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # the schema is not there yet


def test_killed_transcription_resumes_without_duplicates(home: Path) -> None:
    video = shared("meetings/seattle-council-special-2017-10-05.mp4")
    # The sequential pipeline saves a segment every second or so, which gives
    # the kill a window; the batched one saves a batch (minutes of audio) at once.
    (home / "settings.toml").write_text("batch_size = 0\n")
    args = ["ingest", str(video), "--body", "Seattle City Council"]
    env = {**os.environ, "ONRECORD_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "onrecord", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    db = home / "onrecord.db"
    deadline = time.monotonic() + 300
    try:
        # Wait until some, but not all, of the transcript has been saved.
        while _count(db, "SELECT count(*) FROM transcript_segments") < 2:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "transcription never started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)

    catalog = catalog_for(home)
    [meeting] = catalog.meetings()
    assert meeting.status == "transcribing"
    assert _count(db, "SELECT count(*) FROM transcripts WHERE complete = 1") == 0
    saved = catalog.transcript_segments(_only_key(db))
    assert saved, "the killed run saved no segments"

    result = run(home, *args)
    assert result.exit_code == 0, result.output
    assert f"Finished meeting {meeting.id}" in result.output

    [meeting] = catalog.meetings()
    assert meeting.status == "indexed"
    final = catalog.transcript_segments(_only_key(db))
    # What the killed run had finished is kept as it was, not redone.
    assert final[: len(saved)] == saved
    assert len(final) > len(saved)
    segments = catalog.segments(meeting.id or 0)
    assert [s.text for s in segments] == [s.text for s in final]
    starts = [s.start for s in segments]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert _count(db, "SELECT count(*) FROM meetings") == 1
    assert _count(db, "SELECT count(*) - count(DISTINCT seq) FROM chunks") == 0
    assert _count(db, "SELECT count(*) FROM chunk_vectors") == _count(db, "SELECT count(*) FROM chunks")
    assert not scratch_left(home)

    hits = run(home, "search", "call the roll", "--json")
    assert '"start"' in hits.output


def _only_key(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        [(key,)] = conn.execute("SELECT key FROM transcripts").fetchall()
    return key


def test_long_recordings_are_transcribed_a_window_at_a_time(home: Path) -> None:
    """Memory stays bounded: audio is decoded one window at a time, and a
    segment running into a window's cut is redone from its start in the next."""
    from catalog import load_settings
    from ingest import file_hash, load_audio
    from transcribe import get_transcriber, transcribe_cached

    video = shared("meetings/seattle-council-special-2017-10-05.mp4")
    digest, duration = file_hash(video), probe_duration(video)
    requested: list[tuple[float, float]] = []

    def windowed(start: float, seconds: float):  # noqa: ANN202
        requested.append((start, seconds))
        return load_audio(video, start, seconds)

    catalog = catalog_for(home)
    transcriber = get_transcriber("faster-whisper", load_settings(home).whisper_model)
    segments = transcribe_cached(catalog, transcriber, digest, windowed, window=60.0)

    assert len(requested) >= 3 and all(seconds == 60.0 for _, seconds in requested)
    assert requested[0][0] == 0.0 and requested[-1][0] > 120
    starts = [s.start for s in segments]
    assert starts == sorted(starts)
    assert all(a.end <= b.start + 0.5 for a, b in zip(segments, segments[1:], strict=False))
    text = " ".join(s.text for s in segments).lower()
    assert "call the roll" in text and "executive session" in text
    assert segments[-1].end > duration - 60


def test_a_run_killed_before_its_playback_copy_was_made_finishes_it(home: Path) -> None:
    """The playback copy is encoded beside transcription, so a run killed
    early leaves the recording kept in the audio folder and no copy; the
    next run makes the copy from it, and only the copy stays."""
    from catalog import load_settings
    from ingest import keep_recording
    from onrecord.pipeline import Pipeline
    from onrecord.sources import Overrides

    call = shared("speech/two-speakers.wav")
    pipeline = Pipeline(load_settings(home))
    [first] = pipeline.ingest(str(call), Overrides(body="Phone"))
    assert first.meeting.id and first.meeting.audio_path
    copy = Path(first.meeting.audio_path)
    assert list(copy.parent.iterdir()) == [copy]
    copy.unlink()
    keep_recording(call, copy, move=False)
    pipeline.catalog.set_status(first.meeting.id, "transcribing")

    [again] = pipeline.ingest(str(call), Overrides(body="Phone"))
    assert again.outcome == "resumed" and again.meeting.status == "indexed"
    assert list(copy.parent.iterdir()) == [copy]
    assert abs(probe_duration(copy) - probe_duration(call)) < 0.2
    assert "playback copy" in pipeline.timings
    pipeline.close()
