"""Fixed costs and bulk work, through the real CLI in child processes, side
by side in one run:

- a real three-minute council meeting (Seattle, 181 s) from a loopback URL
  to searchable, with the default engine and with openai-whisper: each a
  fresh ``onrecord ingest URL`` process, so model loading, imports and
  everything a user waits for are in the time;
- two recordings in one ``ingest``: the second reuses the loaded models;
- a caption archive (the real Boston and Oakland captions, copied under
  several names and dates): one ``ingest FOLDER`` process for all of them,
  against one process per file as a script calling ``ingest`` would run;
- search latency over the indexed meeting, query embedding included.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import percentile, shared, write_results
from benchmarks.long_meeting import ingest

SEATTLE = "meetings/seattle-council-special-2017-10-05.mp4"
CAPTIONS = ["captions/boston_captions.vtt", "captions/oakland_captions.vtt"]
COPIES = 6  # each caption file under this many names and dates
QUERIES = [
    "call the roll",
    "executive session",
    "adopt the agenda",
    "candidates for elective office",
    "email the council",
    "city attorney legal monitor",
    "vacancy in position eight",
    "when will the session end",
    "public comment",
    "special meeting tomorrow",
]


def _chunks(home: Path) -> int:
    with sqlite3.connect(home / "onrecord.db") as conn:
        return conn.execute("SELECT count(*) FROM chunks").fetchone()[0]


def _load(r: dict[str, Any]) -> str:
    return f"{r['load'][0]:.1f}/{r['load'][-1]:.1f}"


def _row(what: str, r: dict[str, Any], audio_s: float | None, **extra: Any) -> dict[str, Any]:
    t = r["timings"]
    return {
        "what": what,
        "wall s": round(r["wall"], 1),
        "x real time": round(audio_s / r["wall"], 1) if audio_s else None,
        "CPU s": round(r["cpu"], 1),
        "peak RSS MB": round(r["peak_mb"]),
        "load models s": round(t.get("load models", 0), 1),
        "transcribe s": round(t["transcribe"], 1) if "transcribe" in t else None,
        "diarize s": round(t["diarize"], 1) if "diarize" in t else None,
        "index s": round(t.get("index", 0), 1),
        **extra,
        "load avg before/after": _load(r),
    }


def search_latency(home: Path) -> tuple[float, float]:
    from catalog import load_settings
    from onrecord.pipeline import Pipeline
    from search import SearchQuery

    pipeline = Pipeline(load_settings(home))
    pipeline.index.search(SearchQuery(QUERIES[0]))  # loads MiniLM
    latencies = []
    for query in QUERIES * 5:
        t = time.perf_counter()
        pipeline.index.search(SearchQuery(query))
        latencies.append((time.perf_counter() - t) * 1000)
    pipeline.close()
    return percentile(latencies, 50), percentile(latencies, 95)


def main() -> None:
    from tests.loopback import LoopbackServer

    video = shared(SEATTLE)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        www = Path(tmp) / "www"
        www.mkdir()
        shutil.copy(video, www / video.name)
        shutil.copy(shared("speech/two-speakers.wav"), www / "two-speakers.wav")
        archive = Path(tmp) / "captions"
        archive.mkdir()
        for n in range(COPIES):
            for name in CAPTIONS:
                src = shared(name)
                # A note block (which readers skip) makes each copy its own
                # file: the same bytes twice are one meeting, found by hash.
                text = src.read_text() + f"\n\nNOTE copy {n + 1} for the benchmark\n"
                (archive / f"{src.stem}-2023-{n + 1:02d}-15{src.suffix}").write_text(text)
        with LoopbackServer(www) as server:
            url = server.url(video.name)
            print("… 3-minute meeting, default and openai-whisper", file=sys.stderr)
            ours = ingest(url, Path(tmp) / "ours", body="Seattle City Council")
            anchor = ingest(url, Path(tmp) / "anchor", "openai-whisper", body="Seattle City Council")
            duration = ours["meeting"]["duration"]
            ratio = anchor["wall"] / ours["wall"]
            rows.append(_row("3-min meeting, URL to searchable (default)", ours, duration))
            rows.append(_row("same, openai-whisper", anchor, duration, **{"vs openai": round(ratio, 2)}))
            print("… two recordings in one ingest", file=sys.stderr)
            both = ingest([url, server.url("two-speakers.wav")], Path(tmp) / "both", body="Seattle")
            rows.append(_row("3-min meeting + 30 s call, one ingest", both, duration + 30.0))
        print("… caption archive", file=sys.stderr)
        files = sorted(archive.iterdir())
        bulk = ingest(str(archive), Path(tmp) / "bulk", body="Caption Council")
        chunks = _chunks(Path(tmp) / "bulk")
        rows.append(
            _row(
                f"{len(files)} caption files, one ingest of the folder",
                bulk,
                None,
                chunks=chunks,
                **{"chunks/s": round(chunks / bulk["wall"], 1)},
            )
        )
        each = [ingest(str(f), Path(tmp) / "each", body="Caption Council") for f in files[:4]]
        wall = sum(r["wall"] for r in each)
        each_chunks = _chunks(Path(tmp) / "each")
        rows.append(
            {
                "what": f"first {len(each)} of them, one ingest process each",
                "wall s": round(wall, 1),
                "CPU s": round(sum(r["cpu"] for r in each), 1),
                "peak RSS MB": round(max(r["peak_mb"] for r in each)),
                "chunks": each_chunks,
                "chunks/s": round(each_chunks / wall, 1),
                "load avg before/after": f"{each[0]['load'][0]:.1f}/{each[-1]['load'][-1]:.1f}",
            }
        )
        p50, p95 = search_latency(Path(tmp) / "ours")
    write_results(
        "pipeline",
        "Pipeline: fixed costs and bulk work, through the CLI",
        rows,
        [
            f"Seattle special meeting ({duration:.0f} s) from a loopback URL; each row is one"
            " `onrecord ingest … --json` child process: wall time includes Python start, imports, model"
            " loads, yt-dlp, audio, transcription, diarization and indexing",
            f"whole-ingest ratio, openai-whisper wall / default wall: {ratio:.2f}",
            "defaults: faster-whisper tiny.en int8, batched 8, beam 5, VAD, packed windows, word timestamps,"
            " coverage pass; resemblyzer diarization beside transcription; MiniLM loaded beside too",
            f"captions: the real Boston (73 min) and Oakland (26 min) captions, each copied {COPIES} times"
            " under different names and dates (a trailing NOTE block makes each copy a distinct file)",
            f"search over the 3-min meeting: p50 {p50:.0f} ms, p95 {p95:.0f} ms (50 queries, query"
            " embedding included)",
            f"{os.cpu_count()} cores shared with other work: compare rows within this run",
        ],
    )


if __name__ == "__main__":
    main()
