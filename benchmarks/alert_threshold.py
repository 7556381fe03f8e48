"""Choosing the semantic alert threshold on QMSum's judged queries.

A saved search fires on a passage whose MiniLM cosine similarity to the
query reaches the threshold. For each candidate threshold this measures,
over all 647 specific and topic queries against passages of all 36
meetings:

- precision: of the passages above the threshold that are judged (relevant
  turns of the query's own meeting) or surely unrelated (any passage of a
  meeting of the other committee), the share that is relevant;
- false alarms: the share of queries that would fire on the other
  committee's meetings (COVID-19 questions firing on Welsh education
  hearings, and the reverse), which is what an advocate would see as noise;
- recall: the share of queries that would fire on a relevant passage.

Passages of the query's own meeting outside its judged turns are left out:
many are on topic without being judged.
"""

from __future__ import annotations

import json

import numpy as np

from benchmarks.common import ROOT, shared, write_results
from catalog import Segment, Word
from search.chunking import chunk_segments
from search.embed import get_embedder

THRESHOLDS = [0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70]
CACHE = ROOT / ".cache" / "alert-threshold"


def meeting_chunks() -> tuple[list[str], list[str], list[tuple[int, int]]]:
    """Chunk text, its meeting, and the span of turns it covers."""
    texts, meetings, spans = [], [], []
    for split in ("train", "val", "test"):
        for path in sorted(shared(f"qmsum-committee/{split}").glob("*.json")):
            turns = json.loads(path.read_text())["meeting_transcripts"]
            segments = []
            for i, turn in enumerate(turns):
                tokens = turn["content"].split() or ["…"]
                step = 9.0 / len(tokens)
                words = [
                    Word(i * 10 + k * step, i * 10 + (k + 1) * step, " " + t) for k, t in enumerate(tokens)
                ]
                segments.append(
                    Segment(i * 10.0, i * 10 + 9.0, turn["content"], words, speaker=turn["speaker"])
                )
            for chunk in chunk_segments(0, segments):
                texts.append(chunk.text)
                meetings.append(path.stem)
                spans.append((int(chunk.start // 10), int(chunk.end // 10)))
    return texts, meetings, spans


def main() -> None:
    texts, meetings, spans = meeting_chunks()
    queries = [json.loads(line) for line in shared("qmsum-committee/queries.jsonl").open()]
    queries = [q for q in queries if q["kind"] in ("specific", "topic")]
    embedder = get_embedder("all-MiniLM-L6-v2")
    CACHE.mkdir(parents=True, exist_ok=True)
    cached = CACHE / f"chunks-{len(texts)}.npy"
    if not cached.exists():
        np.save(cached, embedder.embed(texts, batch_size=128))
    chunk_vectors = np.load(cached)
    query_vectors = embedder.embed([q["query"] for q in queries], batch_size=128)
    scores = query_vectors @ chunk_vectors.T
    committee = np.array([m.split("_")[0] for m in meetings])
    meeting_of = np.array(meetings)

    starts = np.array([a for a, _ in spans])
    ends = np.array([b for _, b in spans])
    masks = []
    for q in queries:
        overlaps = np.zeros(len(spans), dtype=bool)
        for lo, hi in q["relevant_turn_ranges_inclusive"]:
            overlaps |= (starts <= hi) & (ends >= lo)
        masks.append((overlaps & (meeting_of == q["meeting_id"]), committee != q["meeting_id"].split("_")[0]))
    rows = []
    for t in THRESHOLDS:
        relevant_above = unrelated_above = fired_right = false_alarm = 0
        for qi, (relevant, unrelated) in enumerate(masks):
            above = scores[qi] >= t
            relevant_above += int((above & relevant).sum())
            unrelated_above += int((above & unrelated).sum())
            fired_right += bool((above & relevant).any())
            false_alarm += bool((above & unrelated).any())
        judged = relevant_above + unrelated_above
        rows.append(
            {
                "threshold": t,
                "precision": round(relevant_above / judged, 3) if judged else None,
                "queries with a false alarm": round(false_alarm / len(queries), 3),
                "recall (queries firing on a relevant passage)": round(fired_right / len(queries), 3),
            }
        )
    write_results(
        "alert_threshold",
        "Semantic alert threshold (MiniLM cosine) on QMSum",
        rows,
        [
            f"{len(queries)} specific + topic queries; {len(texts)} passages, 36 meetings of two committees",
            "false alarm: the query fires on a meeting of the other committee (surely unrelated)",
            "passages of the query's own meeting outside its judged turns are not counted either way",
        ],
    )


if __name__ == "__main__":
    main()
