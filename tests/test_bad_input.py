"""Bad input gets one line saying what to do, a non-zero exit, and leaves
no half-written meeting behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import LoopbackServer, catalog_for, ffmpeg, run, scratch_left


def assert_clean_failure(home: Path, args: list[str], expected: str) -> None:
    result = run(home, *args)
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ") and expected in lines[0], lines[0]
    assert "Traceback" not in result.output
    db = home / "onrecord.db"
    if db.exists():
        assert catalog_for(home).meetings() == [], "no meeting may be recorded"
    assert not list((home / "audio").glob("*")) if (home / "audio").exists() else True
    assert not scratch_left(home), "scratch files must be removed"


def test_url_with_no_media(home: Path, loopback: LoopbackServer) -> None:
    page = "<html><body><h1>Agenda</h1><p>No video here.</p></body></html>"
    (loopback.root / "agenda.html").write_text(page)
    assert_clean_failure(home, ["ingest", loopback.url("agenda.html")], "No media found at")


def test_url_that_is_not_there(home: Path, loopback: LoopbackServer) -> None:
    assert_clean_failure(home, ["ingest", loopback.url("missing.mp4")], "No media found at")


def test_zero_length_file(home: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    assert_clean_failure(home, ["ingest", str(empty)], "empty")


def test_zero_length_download(home: Path, loopback: LoopbackServer) -> None:
    (loopback.root / "empty.mp4").touch()
    result = run(home, "ingest", loopback.url("empty.mp4"))
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert catalog_for(home).meetings() == []


def test_corrupt_file(home: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "council.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 200)
    assert_clean_failure(home, ["ingest", str(corrupt)], "not a readable audio or video file")


def test_truncated_recording(home: Path, tmp_path: Path) -> None:
    """The first half of a real MP4: its index (moov) is at the end, so the
    file cannot be decoded."""
    from tests.conftest import shared

    video = shared("meetings/seattle-council-special-2017-10-05.mp4").read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(video[: len(video) // 2])
    result = run(home, "ingest", str(truncated))
    assert result.exit_code != 0 and result.output.startswith("Error: "), result.output
    assert catalog_for(home).meetings() == []


def test_file_with_no_audio_track(home: Path, tmp_path: Path) -> None:
    silent_video = tmp_path / "video-only.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=5", "-t", "2", "-an", str(silent_video))
    assert_clean_failure(home, ["ingest", str(silent_video)], "no audio track")


@pytest.mark.parametrize("bad_date", ["2024-13-01", "yesterday", "05/10/2017x"])
def test_malformed_date(home: Path, tmp_path: Path, bad_date: str) -> None:
    clip = tmp_path / "clip.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(clip))
    assert_clean_failure(home, ["ingest", str(clip), "--date", bad_date], "use YYYY-MM-DD")


def test_missing_file(home: Path) -> None:
    assert_clean_failure(home, ["ingest", "/no/such/meeting.mp4"], "no such file")
    assert not (home / "onrecord.db").exists() and not (home / "run.lock").exists(), "a typo makes nothing"


def test_missing_model_path(home: Path, tmp_path: Path) -> None:
    clip = tmp_path / "clip.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(clip))
    assert_clean_failure(home, ["ingest", str(clip), "--model", str(tmp_path / "nope")], "does not exist")


def test_unknown_engine(home: Path, tmp_path: Path) -> None:
    clip = tmp_path / "clip.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(clip))
    assert_clean_failure(home, ["ingest", str(clip), "--engine", "whisperx"], "Unknown engine")


@pytest.mark.parametrize(
    "args, expected",
    [
        (["search", "   "], "Empty query"),
        (["search", "x" * 10_000], "characters"),
        (["search", "roll", "--since", "2020-02-30"], "use YYYY-MM-DD"),
        (["search", "roll", "--since", "2021-01-01", "--until", "2020-01-01"], "swap them"),
        (["search", "roll", "--body", "Atlantis Council"], "No body named"),
    ],
)
def test_bad_searches(home: Path, args: list[str], expected: str) -> None:
    assert_clean_failure(home, args, expected)
