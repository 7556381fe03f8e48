"""Captions as transcripts: a caption file on its own, and a video's own
subtitles found by yt-dlp, both without Whisper."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import catalog_for, run, shared
from tests.loopback import LoopbackServer

JFK_VTT = """WEBVTT

00:00:00.300 --> 00:00:04.000
And so, my fellow Americans,

00:00:04.000 --> 00:00:11.000
ask not what your country can do for you, ask what you can do for your country.
"""


def test_caption_file_is_imported_as_the_transcript(home: Path) -> None:
    vtt = shared("captions/oakland_captions.vtt")
    result = run(home, "ingest", str(vtt), "--body", "Oakland City Council", "--date", "2022-08-09", "--json")
    assert result.exit_code == 0, result.output
    [meeting] = json.loads(result.output)["meetings"]
    assert meeting["status"] == "indexed" and meeting["date"] == "2022-08-09"
    assert meeting["body"] == "Oakland City Council"
    assert meeting["duration"] > 25 * 60
    stored = catalog_for(home).meeting(meeting["id"])
    assert stored is not None and stored.transcript_source == "captions" and stored.audio_path is None

    hits = json.loads(run(home, "search", "we will begin with a roll call", "--json").output)["results"]
    assert "roll call" in hits[0]["text"].lower()
    assert 140 < hits[0]["start"] < 200  # the roll call starts about 2:30 in

    again = run(home, "ingest", str(vtt), "--body", "Oakland City Council")
    assert "Already ingested, nothing added" in again.output


def test_empty_caption_file_is_a_clean_error(home: Path, tmp_path: Path) -> None:
    empty = tmp_path / "minutes.vtt"
    empty.write_text("WEBVTT\n\n")
    result = run(home, "ingest", str(empty), "--body", "Oakland City Council")
    assert result.exit_code == 1
    expected = "Error: minutes.vtt: no caption cues found; give a WebVTT or SRT file with timings"
    assert result.output.strip() == expected
    assert catalog_for(home).meetings() == []


def test_a_pages_own_subtitles_replace_whisper_when_preferred(home: Path, loopback: LoopbackServer) -> None:
    shutil.copy(shared("speech/jfk.flac"), loopback.root / "jfk.flac")
    (loopback.root / "jfk.vtt").write_text(JFK_VTT)
    (loopback.root / "inaugural.html").write_text(
        "<html><head><title>Inaugural address, January 20, 1961</title></head><body>"
        '<audio controls src="jfk.flac"><track kind="subtitles" srclang="en" src="jfk.vtt"></audio>'
        "</body></html>"
    )
    result = run(home, "ingest", loopback.url("inaugural.html"), "--captions", "auto", "--json")
    assert result.exit_code == 0, result.output
    [meeting] = json.loads(result.output)["meetings"]
    assert meeting["date"] == "1961-01-20"
    stored = catalog_for(home).meeting(meeting["id"])
    assert stored is not None and stored.transcript_source == "captions"
    assert stored.audio_path, "the audio is still kept for the player"
    text = run(home, "transcript", str(meeting["id"])).output
    # The captions' own wording and punctuation, not Whisper's.
    assert "And so, my fellow Americans, ask not what your country can do for you" in text
