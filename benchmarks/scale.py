"""Search latency and memory at 10k, 100k and 1M chunks in the embedded store.

The passages are real transcript text: QMSum committee turns and the Boston
and Oakland captions, cut into quote-sized windows and embedded with the
bundled MiniLM. Embedding a million passages would take hours on two cores,
so the unique passages (about 10k) are repeated across synthetic meetings and
bodies, each copy's vector nudged by a little noise; exact search costs the
same whatever the vectors hold. Queries are the QMSum queries, embedded live.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import ROOT, percentile, shared, write_results
from catalog import Catalog, Chunk, Meeting
from search import SearchIndex, SearchQuery
from search.embed import get_embedder
from transcribe.captions import read_captions

CACHE = ROOT / ".cache" / "scale"
SIZES = [10_000, 100_000, 1_000_000]
CHUNKS_PER_MEETING = 400
WINDOW_WORDS = 80
QUERIES = 60
# Other QMSum queries searched before the measured ones, as on a server that
# has been answering for a while (see ``measure``).
WARM_QUERIES = 100
FILTER = {"body": "Council 3", "since": "2018-01-01"}


def passages() -> list[str]:
    words: list[list[str]] = []
    for split in ("train", "val", "test"):
        for path in sorted(shared(f"qmsum-committee/{split}").glob("*.json")):
            turns = json.loads(path.read_text())["meeting_transcripts"]
            words.append(" ".join(t["content"] for t in turns).split())
    for name in ("boston", "oakland"):
        segments = read_captions(shared(f"captions/{name}_captions.vtt"))
        words.append(" ".join(s.text for s in segments).split())
    out = []
    for stream in words:
        out += [" ".join(stream[i : i + WINDOW_WORDS]) for i in range(0, len(stream), WINDOW_WORDS)]
    return [p for p in out if len(p.split()) > 20]


def unique_vectors(texts: list[str]) -> np.ndarray:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"minilm-{len(texts)}.npy"
    if not path.exists():
        vectors = get_embedder("all-MiniLM-L6-v2").embed(texts, batch_size=128)
        np.save(path, vectors)
    return np.load(path)


def build(size: int, texts: list[str], vectors: np.ndarray) -> Path:
    home = CACHE / f"home-{size}"
    if (home / "done").exists():
        return home
    shutil.rmtree(home, ignore_errors=True)
    catalog = Catalog(home / "onrecord.db")
    index = SearchIndex(catalog, "all-MiniLM-L6-v2", "http://127.0.0.1:8000")
    rng = np.random.default_rng(size)
    for m in range(size // CHUNKS_PER_MEETING):
        date = f"{2015 + m % 10}-{1 + m % 12:02d}-{1 + m % 28:02d}"
        meeting = catalog.add_meeting(
            Meeting(
                title=f"Meeting {m}",
                body=f"Council {m % 20}",
                source_url=f"https://example.org/{m}",
                date=date,
                status="indexed",
            ),
            None,
        )
        assert meeting.id is not None
        picks = rng.integers(0, len(texts), CHUNKS_PER_MEETING)
        chunks = [
            Chunk(meeting.id, i, i * 30.0, i * 30.0 + 28, texts[p], f"SPEAKER_{i % 7}")
            for i, p in enumerate(picks)
        ]
        noisy = vectors[picks] + rng.normal(0, 0.02, (len(picks), vectors.shape[1])).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        index.store.index_meeting(meeting.id, chunks, noisy, index.version)
        if m % 250 == 0:
            print(f"  {size}: {(m + 1) * CHUNKS_PER_MEETING} chunks", file=sys.stderr)
    catalog.close()
    (home / "done").touch()
    return home


def disk_mb(home: Path) -> float:
    return sum(f.stat().st_size for f in home.rglob("*") if f.is_file()) / 2**20


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(home: Path, queries: list[str], warming: list[str], embedder: object) -> dict[str, float]:
    """Each query end to end with the int8 scan (the default) and with the
    exact float32 scan, side by side, plus each retriever alone and how much
    of the exact scan's top 200 the int8 scan returns. The warming queries
    go first: the indexes' upper pages are then in memory, the measured
    queries' own postings and rows are not."""
    catalog = Catalog(home / "onrecord.db")
    index = SearchIndex(catalog, "all-MiniLM-L6-v2", "http://127.0.0.1:8000", embedder=embedder)  # type: ignore[arg-type]
    store = index.store
    fast = store.exact_below
    for q in warming:
        index.search(SearchQuery(q))
        index.search(SearchQuery(q, **FILTER))
    timings: dict[str, list[float]] = {k: [] for k in TIMED}
    overlap: list[float] = []
    filtered_overlap: list[float] = []

    def timed(name: str, call: Callable[..., Any], *args: object) -> Any:
        t = time.perf_counter()
        out = call(*args)
        timings[name].append(time.perf_counter() - t)
        return out

    for q in queries:
        plain, narrow = SearchQuery(q), SearchQuery(q, **FILTER)
        # The first search of a query reads its postings cold: take turns.
        for exact in (False, True) if len(timings["hybrid"]) % 2 else (True, False):
            store.exact_below = EXACT if exact else fast
            suffix = " exact" if exact else ""
            timed("hybrid" + suffix, index.search, plain)
            timed("filtered" + suffix, index.search, narrow)
        store.exact_below = fast
        timed("bm25", store._bm25, plain)
        vector = index.embedder.embed_batch([q])[0]
        found = {}
        for exact in (False, True):
            store.exact_below = EXACT if exact else fast
            found[exact] = timed("dense exact" if exact else "dense", store.dense, plain, vector)
            found[exact, "filtered"] = store.dense(narrow, vector)
        store.exact_below = fast
        overlap.append(_overlap(found[False], found[True]))
        filtered_overlap.append(_overlap(found[False, "filtered"], found[True, "filtered"]))
    out = {f"{k} p50 ms": percentile(v, 50) * 1000 for k, v in timings.items()}
    out |= {f"{k} p95 ms": percentile(v, 95) * 1000 for k, v in timings.items()}
    out["dense top-200 = exact's"] = sum(overlap) / len(overlap)
    out["filtered top-200 = exact's"] = sum(filtered_overlap) / len(filtered_overlap)
    out["RSS MB"] = rss_mb()
    catalog.close()
    return out


TIMED = ["hybrid", "hybrid exact", "filtered", "filtered exact", "bm25", "dense", "dense exact"]
EXACT = 10**12  # exact_below: never narrow with the int8 copy


def _overlap(found: list[tuple[int, float]], exact: list[tuple[int, float]]) -> float:
    """Share of the exact scan's candidates that the int8 scan also returned."""
    ours = {cid for cid, _ in found}
    truth = {cid for cid, _ in exact}
    return len(ours & truth) / len(truth) if truth else 1.0


def main() -> None:
    sizes = [int(s) for s in os.environ.get("SCALE_SIZES", "").split(",") if s] or SIZES
    texts = passages()
    vectors = unique_vectors(texts)
    every = [json.loads(line)["query"] for line in shared("qmsum-committee/queries.jsonl").open()]
    queries, warming = every[:QUERIES], every[QUERIES : QUERIES + WARM_QUERIES]
    embedder = get_embedder("all-MiniLM-L6-v2")
    rows = []
    for size in sizes:
        t = time.perf_counter()
        home = build(size, texts, vectors)
        built = time.perf_counter() - t
        result = measure(home, queries, warming, embedder)
        rows.append(
            {
                "chunks": size,
                **{k: round(v, 3 if "=" in k else 1) for k, v in result.items()},
                "disk MB": round(disk_mb(home)),
                "build s": round(built),
            }
        )
    write_results(
        "scale",
        "Search latency and memory in the embedded store (SQLite FTS5, memory-mapped float32 + int8 vectors)",
        rows,
        [
            f"{len(texts)} unique real passages of about {WINDOW_WORDS} words, repeated with vector noise;"
            f" {len(queries)} QMSum queries; {os.cpu_count()} cores",
            "hybrid = SearchIndex.search end to end, query embedding and hit assembly included;"
            f" filtered = the same with a body and a date filter ({FILTER})",
            f"before the measured queries, {WARM_QUERIES} other QMSum queries (plain and filtered) warm"
            " the store; the default and the exact scan take turns at a query's first (cold) search",
            "each is run with the default vector scan (int8 copy, then the best 1,000 rescored in"
            " float32; exact float32 below 50,000 allowed rows) and, side by side on the same queries,"
            " with the exact float32 scan of every allowed row ('exact')",
            "bm25 / dense = each retriever alone, dense without the query embedding; 'top-200 ="
            " exact's' is the share of the exact scan's 200 dense candidates the default scan returns",
            "RSS is the process's resident memory after the queries, model weights included",
            "build s is 0 when the index came from benchmarks/.cache",
        ],
    )


if __name__ == "__main__":
    main()
