"""kill -9, short version: `onrecord run` as a real process over a loopback
feed of real recordings, killed at five stages, then left to finish.
Nothing may be lost, doubled or left behind, and every alert reaches the
webhook once by its key. The long version is `python -m benchmarks faults`."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.faults import STAGES, Soak
from tests.conftest import shared


@pytest.mark.slow
def test_killed_runs_lose_nothing_double_nothing_and_alert_once(tmp_path: Path) -> None:
    initial = [shared("speech/jfk.flac"), shared("speech/two-speakers.wav")]
    pool = [shared(f"speech/ljspeech/LJ001-{n:04d}.wav") for n in range(1, 17)]
    # A slow server (256 KB/s) keeps each download open long enough to kill.
    soak = Soak(tmp_path, initial, pool, seed=5, rate=256_000, log=print)
    result = soak.run(kills=len(STAGES))

    assert result.problems() == [], result.summary()
    # Short clips pass some stages in well under a second, so not every aim
    # lands (the long version kills six times per stage); enough must.
    assert len(result.kills) >= 2, result.summary()
    assert len(result.landed) >= 2, result.landed  # the kills hit different stages
    checks = result.checks
    assert checks["meetings"] == result.recordings >= 3
    assert checks["alerts"] >= result.recordings  # the catch-all search alerts on every meeting
    assert checks["received_distinct"] == checks["alerts"]
