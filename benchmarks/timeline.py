"""Timeline counting at 10k-1M passages, beside the SQL anyone would write.

``python -m benchmarks timeline`` writes results/timeline.{md,json}. It uses
the stores ``python -m benchmarks scale`` builds (benchmarks/.cache/scale:
real transcript passages, repeated across 2,500 synthetic meetings of 20
bodies over ten years), building any that is missing.

Measured, side by side in one run: ``search.timeline.timeline`` end to end
(query embedding, the meaning scan and the keyword count), its keyword
count alone, and the anchor: one SQL statement joining every FTS5 match
to its chunk, meeting and body and grouping by month and body. Two kinds
of query: the QMSum queries (sentences: few passages hold all their words)
and single topic words that many passages hold (the worst case for
counting). The anchor's counts are checked against ours.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from benchmarks.common import percentile, shared, write_results
from benchmarks.scale import build, passages, unique_vectors
from catalog import Catalog
from search import SearchIndex, SearchQuery
from search.embed import get_embedder
from search.query import all_words_expression
from search.timeline import timeline

SIZES = [10_000, 100_000, 1_000_000]
TOPICS = [
    "budget",
    "housing",
    "police",
    "school",
    "committee",
    "health",
    "vote",
    "minister",
    "council",
    "funding",
]
QUERIES = 30


def anchor(catalog: Catalog, text: str) -> dict[tuple[str, str], int]:
    """What one would write first: join every match to its meeting and group."""
    rows = catalog.conn.execute(
        "SELECT substr(m.meeting_date, 1, 7), b.name, count(*) FROM chunks_fts f"
        " JOIN chunks c ON c.id = f.rowid JOIN meetings m ON m.id = c.meeting_id"
        " JOIN bodies b ON b.id = m.body_id WHERE chunks_fts MATCH ? GROUP BY 1, 2",
        (all_words_expression(text),),
    )
    return {(r[0], r[1]): r[2] for r in rows}


def timed(action: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def measure(size: int, queries: dict[str, list[str]], embedder: Any) -> list[dict[str, Any]]:
    home = build(size, *_material())
    catalog = Catalog(home / "onrecord.db")
    index = SearchIndex(catalog, "all-MiniLM-L6-v2", "http://127.0.0.1:8000", embedder=embedder)
    first, _ = timed(lambda: timeline(index, SearchQuery("warm up the maps")))
    rows = []
    for kind, texts in queries.items():
        times: dict[str, list[float]] = {"timeline": [], "keyword count": [], "anchor SQL": [], "search": []}
        matched, agree = [], 0
        for text in texts:
            q = SearchQuery(text)
            spent, found = timed(lambda q=q: timeline(index, q, "month"))
            times["timeline"].append(spent)
            spent, _ = timed(lambda q=q: index.store.matching_chunks(q))
            times["keyword count"].append(spent)
            spent, counted = timed(lambda text=text: anchor(catalog, text))
            times["anchor SQL"].append(spent)
            spent, _ = timed(lambda q=q: index.search(q))
            times["search"].append(spent)
            matched.append(found.total)
            keyword_total = sum(len(ids) for ids in index.store.matching_chunks(q).values())
            agree += keyword_total == sum(counted.values())
        row: dict[str, Any] = {"chunks": size, "queries": f"{kind} ({len(texts)})"}
        for name, values in times.items():
            row[f"{name} p50 ms"] = round(percentile(values, 50) * 1000, 1)
            row[f"{name} p95 ms"] = round(percentile(values, 95) * 1000, 1)
        row["anchor / keyword count (p50)"] = round(
            row["anchor SQL p50 ms"] / max(row["keyword count p50 ms"], 0.01), 1
        )
        row["matches p50"] = percentile([float(m) for m in matched], 50)
        row["matches max"] = max(matched)
        row["keyword counts = anchor's"] = f"{agree}/{len(texts)}"
        row["first call ms"] = round(first * 1000)
        rows.append(row)
    catalog.close()
    return rows


_cached: tuple[list[str], Any] | None = None


def _material() -> tuple[list[str], Any]:
    global _cached
    if _cached is None:
        texts = passages()
        _cached = (texts, unique_vectors(texts))
    return _cached


def main() -> None:
    sizes = [int(s) for s in os.environ.get("SCALE_SIZES", "").split(",") if s] or SIZES
    sentences = [json.loads(line)["query"] for line in shared("qmsum-committee/queries.jsonl").open()][
        :QUERIES
    ]
    queries = {"QMSum sentences": sentences, "topic words": TOPICS}
    embedder = get_embedder("all-MiniLM-L6-v2")
    rows = [row for size in sizes for row in measure(size, queries, embedder)]
    write_results(
        "timeline",
        "Timeline counting: FTS5 rowids into per-meeting id ranges, against a join-and-group SQL",
        rows,
        [
            "timeline = search.timeline.timeline end to end: query embedding, the meaning scan (the dense "
            "retriever, as a search runs it) and the keyword count; search = SearchIndex.search, for scale",
            "keyword count = the matching rowids from FTS5 (no ranking), put into meetings by a binary "
            "search over each meeting's chunk-id range; anchor SQL = one statement joining every match "
            "to chunk, meeting and body, grouped by month and body",
            "first call = the first timeline after opening (reads every meeting's chunk-id range once; "
            "again after each index change)",
            "topic words are single words many passages hold, the worst case for counting",
            f"{os.cpu_count()} cores; load average at the end {open('/proc/loadavg').read().split()[:3]}",
        ],
    )


if __name__ == "__main__":
    main()
