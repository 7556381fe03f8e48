"""URL to searchable: the three-minute Seattle meeting through the whole
pipeline (yt-dlp from loopback, faster-whisper tiny.en, MiniLM, SQLite),
with the wall time of each stage and query latency over the result."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import peak_rss_mb, percentile, shared, write_results
from catalog import load_settings
from onrecord.pipeline import Overrides, Pipeline
from search import SearchQuery
from tests.loopback import LoopbackServer

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


def main() -> None:
    video = shared("meetings/seattle-council-special-2017-10-05.mp4")
    with tempfile.TemporaryDirectory() as tmp:
        www = Path(tmp) / "www"
        www.mkdir()
        shutil.copy(video, www / video.name)
        with LoopbackServer(www) as server:
            pipeline = Pipeline(load_settings(Path(tmp) / "home"))
            started = time.perf_counter()
            [result] = pipeline.ingest(server.url(video.name), Overrides(body="Seattle City Council"))
            wall = time.perf_counter() - started
            duration = result.meeting.duration or 0
            rows = [{"stage": stage, "seconds": round(secs, 2)} for stage, secs in pipeline.timings.items()]
            rows.append(
                {
                    "stage": "total, URL to searchable",
                    "seconds": round(wall, 2),
                    "x real time": round(duration / wall, 1),
                }
            )
            latencies = []
            for query in QUERIES * 5:
                t = time.perf_counter()
                pipeline.index.search(SearchQuery(query))
                latencies.append((time.perf_counter() - t) * 1000)
            rows.append(
                {
                    "stage": "search, p50 / p95 ms",
                    "seconds": f"{percentile(latencies, 50):.0f} / {percentile(latencies, 95):.0f} ms",
                }
            )
            pipeline.close()
    write_results(
        "pipeline",
        "Pipeline: Seattle special meeting (181 s) from a loopback URL to searchable",
        rows,
        [
            f"audio: {duration:.0f} s; peak RSS {peak_rss_mb():.0f} MB",
            "defaults: faster-whisper tiny.en int8, batched (8), beam 5, VAD, word timestamps; MiniLM",
            "'load models' is the Whisper load; the embedding model loads inside 'index'",
            f"search latency over {len(latencies)} queries, query embedding included",
        ],
    )


if __name__ == "__main__":
    main()
