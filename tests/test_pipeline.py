"""End to end: a real council meeting from a loopback URL, through yt-dlp,
faster-whisper tiny.en and MiniLM, to a timestamped quote."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import catalog_for, run, scratch_left, shared
from tests.loopback import LoopbackServer


def test_search_finds_the_roll_call_at_the_second_it_was_called(seattle_home: tuple[Path, str]) -> None:
    home, url = seattle_home
    result = run(home, "search", "call the roll", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["query"] == "call the roll"
    top = payload["results"][0]
    assert set(top) == {
        "meeting_id",
        "meeting_title",
        "meeting_date",
        "body",
        "start",
        "end",
        "speaker",
        "text",
        "score",
        "url",
        "context",
        "context_start",
        "context_end",
        "match",
        "public_comment",
    }
    assert top["match"] == "strong" and top["public_comment"] is False
    # The clerk calls the roll about 37-49 s into the recording; the hit's
    # start and end are its quote's, inside the passage (its context).
    assert top["context_start"] <= top["start"] <= 38 <= top["end"] <= top["context_end"], top
    assert "call the roll" in top["text"].lower()
    assert top["body"] == "Seattle City Council"
    # A direct media file deep-links with a media fragment at the hit's second.
    assert top["url"] == f"{url}#t={int(top['start'])}"


def test_ingest_takes_metadata_from_yt_dlp(seattle_home: tuple[Path, str]) -> None:
    home, url = seattle_home
    meetings = json.loads(run(home, "meetings", "--json").output)["meetings"]
    assert len(meetings) == 1
    meeting = meetings[0]
    assert meeting["title"] == "seattle-council-special-2017-10-05"
    assert meeting["date"] == "2017-10-05"  # read from the title, not the file's mtime
    assert meeting["status"] == "indexed"
    assert 180 < meeting["duration"] < 182
    assert meeting["source_url"] == url
    assert meeting["body"] == "Seattle City Council"


def test_playback_copy_is_kept_as_compressed_audio(seattle_home: tuple[Path, str]) -> None:
    home, _ = seattle_home
    catalog = catalog_for(home)
    meeting = catalog.meetings()[0]
    audio = Path(meeting.audio_path or "")
    assert audio.suffix == ".m4a" and audio.parent == home / "audio"
    source = shared("meetings/seattle-council-special-2017-10-05.mp4")
    assert 0 < audio.stat().st_size < source.stat().st_size / 4
    assert not scratch_left(home), "scratch downloads must be cleaned up"


def test_ingesting_the_same_meeting_twice_adds_nothing(seattle_home: tuple[Path, str]) -> None:
    home, url = seattle_home
    catalog = catalog_for(home)
    before = len(catalog.segments(1))
    result = run(home, "ingest", url)
    assert result.exit_code == 0, result.output
    assert "Already ingested, nothing added" in result.output
    assert len(catalog.meetings()) == 1
    assert len(catalog.segments(1)) == before


def test_transcript_formats(seattle_home: tuple[Path, str]) -> None:
    home, _ = seattle_home
    txt = run(home, "transcript", "1").output
    assert "call the roll" in txt.lower()
    vtt = run(home, "transcript", "1", "--format", "vtt").output
    assert vtt.startswith("WEBVTT") and " --> " in vtt
    srt = run(home, "transcript", "1", "--format", "srt").output
    assert srt.startswith("1\n00:00:") and "," in srt.splitlines()[1]
    data = json.loads(run(home, "transcript", "1", "--format", "json").output)
    assert data["meeting"]["id"] == 1
    first = data["segments"][0]
    assert first["words"] and {"start", "end", "word"} <= set(first["words"][0])
    assert first["avg_logprob"] is not None
    missing = run(home, "transcript", "99")
    assert missing.exit_code == 1 and "No meeting 99" in missing.output


def test_search_filters(seattle_home: tuple[Path, str]) -> None:
    home, _ = seattle_home

    def results(*args: str) -> list[dict]:
        result = run(home, "search", "executive session", "--json", *args)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)["results"]

    assert results("--body", "Seattle City Council", "--since", "2017-10-01", "--until", "2017-10-31")
    assert results("--since", "2018-01-01") == []
    assert results("--meeting", "2") == []
    assert len(results("--limit", "2")) == 2


def test_local_file_with_overrides(home: Path) -> None:
    jfk = shared("speech/jfk.flac")
    result = run(
        home,
        "ingest",
        str(jfk),
        "--body",
        "Inaugural",
        "--date",
        "1961-01-20",
        "--title",
        "Inaugural address",
        "--json",
    )
    assert result.exit_code == 0, result.output
    meeting = json.loads(result.output)["meetings"][0]
    assert meeting["title"] == "Inaugural address"
    assert meeting["date"] == "1961-01-20"
    assert meeting["body"] == "Inaugural"
    assert meeting["source_url"].startswith("file://")
    top = json.loads(run(home, "search", "ask not what your country can do", "--json").output)
    assert "your country" in top["results"][0]["text"].lower()
    # The link opens the recording at the quote's first word.
    hit = top["results"][0]
    assert "ask not" in hit["text"].lower() and hit["start"] < 11
    assert hit["url"].endswith(f"/meetings/1#t={int(hit['start'])}")


FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Test Council</title><link>{base}</link><description>Audio</description>
<item><title>Regular Meeting</title><enclosure url="{base}jfk.flac" type="audio/flac" length="1"/>
  <guid>m1</guid><pubDate>Fri, 05 Jan 2024 18:00:00 GMT</pubDate></item>
<item><title>Special Meeting 2024-02-05</title><enclosure url="{base}two-speakers.wav" type="audio/wav"
  length="1"/><guid>m2</guid></item>
</channel></rss>"""


def test_a_feed_ingests_each_recording_once(home: Path, loopback: LoopbackServer) -> None:
    for name in ("jfk.flac", "two-speakers.wav"):
        shutil.copy(shared(f"speech/{name}"), loopback.root / name)
    (loopback.root / "feed.xml").write_text(FEED.format(base=loopback.url("")))
    result = run(home, "ingest", loopback.url("feed.xml"), "--body", "Test Council", "--json")
    assert result.exit_code == 0, result.output
    meetings = json.loads(result.output)["meetings"]
    assert [(m["title"], m["date"]) for m in meetings] == [
        ("Regular Meeting", "2024-01-05"),  # the item's pubDate
        ("Special Meeting 2024-02-05", "2024-02-05"),  # the date in its title
    ]
    assert meetings[0]["source_url"] == loopback.url("jfk.flac")
    again = run(home, "ingest", loopback.url("feed.xml"), "--body", "Test Council")
    assert again.output.count("Already ingested, nothing added") == 2


def test_diarizing_beside_transcription_gives_what_one_after_the_other_does(home: Path) -> None:
    """The pipeline runs the diarizer in a thread beside the transcriber; the
    same stages run one after the other through their own seams give the
    same segments and speakers on a real two-speaker call."""
    from catalog import Catalog, load_settings
    from ingest import decode_audio
    from onrecord.pipeline import Pipeline
    from onrecord.sources import Overrides
    from transcribe import transcribe_cached
    from transcribe.diarize import diarize_cached, get_diarizer
    from transcribe.guards import apply_guards
    from transcribe.turns import assign_speakers

    call = shared("speech/two-speakers.wav")
    pipeline = Pipeline(load_settings(home))
    [result] = pipeline.ingest(str(call), Overrides(body="Phone"))
    together = pipeline.catalog.segments(result.meeting.id or 0)
    meeting = result.meeting
    assert meeting.audio_path and meeting.audio_hash

    # The engines read the recording itself, decoded once (the playback copy
    # is made beside them).
    load = decode_audio(call, home.parent / "call.pcm").load
    apart = Catalog(home.parent / "apart.db")
    segments = apply_guards(transcribe_cached(apart, pipeline.transcriber, meeting.audio_hash, load))
    found = diarize_cached(apart, get_diarizer(), meeting.audio_hash, load)
    one_after_the_other = assign_speakers(segments, found.turns)

    assert len({s.speaker for s in together}) == 2
    assert [(s.start, s.end, s.text, s.speaker) for s in together] == [
        (s.start, s.end, s.text, s.speaker) for s in one_after_the_other
    ]
    assert {"transcribe", "diarize", "vad", "decode", "coverage pass", "embedding"} <= set(pipeline.timings)
    pipeline.close()
    apart.close()


def test_models_load_once_for_every_source_of_one_ingest(home: Path, monkeypatch) -> None:  # noqa: ANN001
    """Two recordings and a folder of captions in one `ingest`: Whisper, the
    voice encoder and MiniLM each load once, for the first meeting that
    needs them (the real models, counted as they load)."""
    import faster_whisper
    import resemblyzer

    import search.embed
    import search.index
    from transcribe.voices import load_encoder

    loads: list[str] = []

    def counted(name: str, real):  # noqa: ANN001, ANN202
        def load(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            loads.append(name)
            return real(*args, **kwargs)

        return load

    class CountedWhisper(faster_whisper.WhisperModel):
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            loads.append("whisper")
            super().__init__(*args, **kwargs)

    class CountedVoices(resemblyzer.VoiceEncoder):
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            loads.append("voices")
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(faster_whisper, "WhisperModel", CountedWhisper)
    monkeypatch.setattr(resemblyzer, "VoiceEncoder", CountedVoices)
    for module in (search.embed, search.index):
        monkeypatch.setattr(module, "get_embedder", counted("minilm", search.embed.get_embedder))
    load_encoder.cache_clear()

    folder = home.parent / "archive"
    folder.mkdir()
    shutil.copy(shared("captions/oakland_captions.vtt"), folder / "oakland-2022-08-09.vtt")
    (folder / "README.txt").write_text("not a recording: left out")
    sources = [str(shared("speech/jfk.flac")), str(shared("speech/two-speakers.wav")), str(folder)]
    result = run(home, "ingest", *sources, "--body", "Test Council", "--json")
    assert result.exit_code == 0, result.output
    meetings = json.loads(result.output)["meetings"]
    assert [m["status"] for m in meetings] == ["indexed"] * 3
    assert meetings[2]["date"] == "2022-08-09"
    assert sorted(loads) == ["minilm", "voices", "whisper"]
    load_encoder.cache_clear()


def test_a_folder_without_recordings_is_refused(home: Path) -> None:
    empty = home.parent / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a recording")
    result = run(home, "ingest", str(empty))
    assert result.exit_code == 1 and "no recordings or caption files" in result.output
