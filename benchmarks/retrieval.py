"""Retrieval quality on qmsum-committee: 647 judged queries (specific and
topic) over 36 real committee hearings, all searched at once through the
production path: the hearings go in through ``SearchIndex.index_meeting``
(catalog, chunker, MiniLM, SQLite FTS5 and vectors) and the hybrid row is
what ``SearchIndex.search`` returns. The single-retriever rows are the
store's own BM25 and dense rankings for the same queries.

A result is a hit when the speaker turns its chunk spans overlap a relevant
turn range of the query's own hearing. Fusion weights were tuned on the
train and val queries; the test split is reported on its own.

Embeddings are cached under ``benchmarks/.cache/`` by model, chunker
version and text, so a rerun embeds only what changed.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, ROOT, shared, write_results
from catalog import Catalog, Chunk, Hit, Meeting, Segment, Word
from search.embed import Embedder, get_embedder
from search.fusion import DEFAULT, Ranked, Weights, fuse, rrf
from search.index import CHUNKER_VERSION, SearchIndex
from search.match import QueryWord
from search.query import SearchQuery, is_strict

CACHE = ROOT / ".cache"
MODEL = "all-MiniLM-L6-v2"
WORD_SECONDS = 0.3
TURN_GAP = 2.0
DEPTH = 10


class CachedEmbedder(Embedder):
    """The real embedder behind an on-disk cache keyed by model, chunker
    version and text; the model loads only when something is missing."""

    def __init__(self, model: str = MODEL) -> None:
        self.model_name = model
        self.model_id = model
        self.dim = 384
        self._inner: Embedder | None = None
        self.path = CACHE / f"embeddings-{model.replace('/', '_')}-{CHUNKER_VERSION}.npz"
        self.cache: dict[str, np.ndarray] = {}
        self.used: set[str] = set()
        if self.path.exists():
            with np.load(self.path) as data:
                self.cache = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
        self.dirty = False

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self.cache))
        if missing:
            if self._inner is None:
                self._inner = get_embedder(self.model_name)
                self.dim = self._inner.dim
            for text, vector in zip(missing, self._inner.embed(missing, batch_size=32), strict=True):
                self.cache[hashlib.sha1(text.encode()).hexdigest()] = vector
            self.dirty = True
        self.used.update(keys)
        return np.vstack([self.cache[k] for k in keys]).astype(np.float32)

    def save(self, prune: bool = False) -> None:
        if prune and set(self.cache) - self.used:
            self.cache = {k: v for k, v in self.cache.items() if k in self.used}
            self.dirty = True
        if self.dirty and self.cache:
            CACHE.mkdir(parents=True, exist_ok=True)
            np.savez(self.path, keys=np.array(list(self.cache)), vectors=np.vstack(list(self.cache.values())))
            self.dirty = False


@dataclass
class Hearing:
    name: str
    split: str
    turns: list[dict[str, str]]
    starts: list[float] = field(default_factory=list)
    meeting_id: int = 0

    def segments(self) -> list[Segment]:
        """One segment per speaker turn, with synthetic word timings, so that
        a chunk's start and end map back to the turns it spans."""
        out, t = [], 0.0
        self.starts = []
        for turn in self.turns:
            self.starts.append(t)
            words = []
            for token in turn["content"].split():
                words.append(Word(t, t + WORD_SECONDS * 0.8, " " + token))
                t += WORD_SECONDS
            text = " ".join(turn["content"].split())
            out.append(Segment(self.starts[-1], t, text, words, speaker=turn["speaker"] or "unknown"))
            t += TURN_GAP
        return out

    def span(self, start: float, end: float) -> tuple[int, int]:
        return bisect_right(self.starts, start + 1e-6) - 1, bisect_right(self.starts, end - 1e-6) - 1


@dataclass
class Judged:
    text: str
    hearing: str
    split: str
    kind: str
    ranges: list[tuple[int, int]]


@dataclass
class Located:
    """Where a chunk sits: its hearing and the turns it spans."""

    hearing: str
    first: int
    last: int


def load() -> tuple[list[Hearing], list[Judged]]:
    root = shared("qmsum-committee")
    hearings = []
    for path in sorted(root.glob("*/*.json")):
        data = json.loads(path.read_text())
        hearings.append(Hearing(path.stem, path.parent.name, data["meeting_transcripts"]))
    queries = []
    for line in (root / "queries.jsonl").read_text().splitlines():
        q = json.loads(line)
        if q["kind"] != "general":  # general queries judge the whole meeting
            ranges = [(a, b) for a, b in q["relevant_turn_ranges_inclusive"]]
            queries.append(Judged(q["query"], q["meeting_id"], q["split"], q["kind"], ranges))
    return hearings, queries


def build(root: Path, hearings: list[Hearing], embedder: Embedder) -> tuple[Catalog, SearchIndex]:
    catalog = Catalog(root / "catalog.db")
    index = SearchIndex(catalog, MODEL, "http://127.0.0.1:8000", embedder=embedder)
    for h in hearings:
        segments = h.segments()
        meeting = catalog.add_meeting(
            Meeting(
                title=h.name, body=h.name.split("_")[0], source_url=f"file:///{h.name}", status="indexed"
            ),
            h.name,
            segments,
        )
        assert meeting.id is not None
        h.meeting_id = meeting.id
        index.index_meeting(meeting.id, segments)
        if isinstance(embedder, CachedEmbedder):
            embedder.save()  # an interrupted first run keeps what it embedded
    return catalog, index


def locate(index: SearchIndex, hearings: list[Hearing]) -> dict[int, Located]:
    by_id = {h.meeting_id: h for h in hearings}
    rows = index.catalog.conn.execute("SELECT id, meeting_id, start_time, end_time FROM chunks")
    return {cid: Located(by_id[mid].name, *by_id[mid].span(start, end)) for cid, mid, start, end in rows}


def judge(q: Judged, where: Located) -> bool:
    return where.hearing == q.hearing and any(where.first <= b and a <= where.last for a, b in q.ranges)


def metrics(queries: list[Judged], results: list[list[int]], located: dict[int, Located]) -> dict[str, float]:
    by_hearing: dict[str, list[Located]] = {}
    for where in located.values():
        by_hearing.setdefault(where.hearing, []).append(where)
    hits = rr = ndcg = 0.0
    for q, ids in zip(queries, results, strict=True):
        gains = [judge(q, located[c]) for c in ids[:DEPTH]]
        if any(gains):
            hits += 1
            rr += 1 / (gains.index(True) + 1)
        relevant = sum(judge(q, w) for w in by_hearing.get(q.hearing, []))
        ideal = sum(1 / math.log2(r + 2) for r in range(min(DEPTH, relevant)))
        ndcg += sum(g / math.log2(r + 2) for r, g in enumerate(gains)) / ideal if ideal else 0.0
    n = len(queries) or 1
    return {"hit@10": hits / n, "MRR@10": rr / n, "nDCG@10": ndcg / n}


@dataclass
class Run:
    """One query's rankings from the store, the records of its candidates,
    and the chunks ``SearchIndex.search`` returned for it."""

    query: Judged
    ranked: Ranked
    chunks: dict[int, Chunk]
    served: list[int]
    words: list[QueryWord]


def run(index: SearchIndex, queries: list[Judged]) -> list[Run]:
    vectors = index.embedder.embed_batch([q.text for q in queries])
    spans = _spans(index)
    out = []
    for q, vector in zip(queries, vectors, strict=True):
        ranked = index.store.search(SearchQuery(q.text), vector)
        ids = list({cid for results in ranked.values() for cid, _ in results})
        hits = index.search(SearchQuery(q.text, limit=DEPTH))
        served = [_chunk_of(h, spans) for h in hits]
        out.append(Run(q, ranked, index.store.chunks(ids), served, index.query_words(q.text)))
    return out


def _spans(index: SearchIndex) -> dict[int, list[tuple[float, float, int]]]:
    rows = index.catalog.conn.execute("SELECT id, meeting_id, start_time, end_time FROM chunks ORDER BY seq")
    out: dict[int, list[tuple[float, float, int]]] = {}
    for cid, meeting, start, end in rows:
        out.setdefault(meeting, []).append((start, end, cid))
    return out


def _chunk_of(hit: Hit, spans: dict[int, list[tuple[float, float, int]]]) -> int:
    """The chunk a hit quotes from: the hit's context is that chunk."""
    for start, end, cid in spans[hit.meeting_id]:
        if (start, end) == (hit.context_start, hit.context_end):
            assert start <= hit.start <= hit.end <= end, "the quote lies inside its chunk"
            return cid
    raise AssertionError(f"no chunk spans {hit.context_start}-{hit.context_end} of meeting {hit.meeting_id}")


def hybrid(
    weights: Weights = DEFAULT, words: Callable[[Run], list[QueryWord] | None] = lambda r: r.words
) -> Callable[[Run], list[int]]:
    def rank(r: Run) -> list[int]:
        fused = fuse(
            r.ranked, r.chunks, keyword_only=is_strict(r.query.text), weights=weights, words=words(r)
        )
        return [cid for cid, _ in fused]

    return rank


RETRIEVERS: dict[str, Callable[[Run], list[int]]] = {
    "BM25 alone (store)": lambda r: [cid for cid, _ in r.ranked["bm25"]],
    "dense alone, MiniLM (store)": lambda r: [cid for cid, _ in r.ranked["dense"]],
    "plain RRF (k=60)": lambda r: [cid for cid, _ in rrf(r.ranked)],
    "hybrid: SearchIndex.search": lambda r: r.served,
}
ABLATIONS: dict[str, Callable[[Run], list[int]]] = {
    "hybrid, scores mixed only (no chunk records)": lambda r: [cid for cid, _ in fuse(r.ranked)],
    "hybrid, keywords always count fully (issue 11's fusion)": hybrid(words=lambda r: None),
    "hybrid without the meeting pull": hybrid(replace(DEFAULT, meeting=0.0)),
    "hybrid without folding": hybrid(replace(DEFAULT, fold=0)),
    "hybrid without short-chunk damping": hybrid(replace(DEFAULT, short_words=0)),
    "hybrid + neighbour borrowing 0.2": hybrid(replace(DEFAULT, neighbour=0.2)),
}
SPLITS: dict[str, Callable[[Judged], bool]] = {
    "all": lambda q: True,
    "train+val": lambda q: q.split != "test",
    "test": lambda q: q.split == "test",
}


def row(name: str, ranking: Callable[[Run], list[int]], runs: list[Run], located: dict) -> dict:
    results = [ranking(r)[:DEPTH] for r in runs]
    out: dict[str, object] = {"retrieval": name}
    for label, keep in SPLITS.items():
        picked = [i for i, r in enumerate(runs) if keep(r.query)]
        m = metrics([runs[i].query for i in picked], [results[i] for i in picked], located)
        for key, value in m.items():
            if label != "train+val" or key != "nDCG@10":
                out[f"{key} {label}"] = round(value, 3)
    return out


def main() -> None:
    hearings, queries = load()
    embedder = CachedEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        catalog, index = build(Path(tmp), hearings, embedder)
        located = locate(index, hearings)
        runs = run(index, queries)
        embedder.save(prune=True)
        same = sum(r.served == hybrid()(r)[:DEPTH] for r in runs)
        rows = [row(name, ranking, runs, located) for name, ranking in RETRIEVERS.items()]
        rows += [row(name, ranking, runs, located) for name, ranking in ABLATIONS.items()]
        chunks = len(located)
        catalog.close()
    n_test = sum(q.split == "test" for q in queries)
    write_results(
        "retrieval",
        "Retrieval: qmsum-committee, 647 specific + topic queries across 36 hearings",
        rows,
        [
            f"{len(queries)} queries ({len(queries) - n_test} train+val, {n_test} test); {chunks} chunks"
            f" ({CHUNKER_VERSION}) from {len(hearings)} hearings; MiniLM {MODEL}",
            "hit: a returned chunk's turns overlap a relevant turn range of the query's own hearing",
            "the hybrid row is SearchIndex.search itself; the ablations re-fuse the store's rankings"
            f" with one setting changed (re-fusing with the defaults matches search() on {same} of"
            f" {len(runs)} queries)",
            "fusion weights were tuned on train+val only; the test columns are held out",
            "README baselines (120-word windows across turns): BM25 0.810 / 0.590,"
            " dense 0.709 / 0.442, RRF 0.798 / 0.573 (hit@10 / MRR@10)",
        ],
    )
    _append_judged()


def _append_judged() -> None:
    """The judged set's tables (benchmarks/judged: paraphrased quotes, names
    as mis-heard, topics, absent topics) under qmsum's in retrieval.md."""
    from benchmarks import judged

    docs = judged.documents()
    queries = judged.load_queries(docs)
    slack = {d.id: d.slack for d in docs}.__getitem__
    embedder = judged.JudgedEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        index = judged.build(Path(tmp), docs, embedder)
        results = judged.run(index, queries, docs)
        embedder.save()
        index.catalog.close()
    table = judged.rows(queries, results, slack)
    absent = judged.absent_rows(queries, results)
    data = json.loads((RESULTS / "retrieval.json").read_text())
    data["judged"], data["judged_absent"] = table, absent
    (RESULTS / "retrieval.json").write_text(json.dumps(data, indent=2))
    lines = ["", "## The judged set, by kind of question (benchmarks/judged)", ""]
    lines += _markdown(table)
    lines += [
        "",
        f"- {len(queries)} queries over {len(docs)} real transcripts, marked by reading before any tuning;"
        " tune: the half the ranking was tuned on; report: held out",
        "- a hit: the returned quote overlaps a marked passage (5 s of slack on real recordings)",
        "",
        "## The judged set: absent topics' top hits",
        "",
        *_markdown(absent),
    ]
    with (RESULTS / "retrieval.md").open("a") as md:
        md.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def _markdown(rows: list[dict]) -> list[str]:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    out = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    return out + [
        "| " + " | ".join("" if r.get(c) is None else str(r.get(c)) for c in columns) + " |" for r in rows
    ]


if __name__ == "__main__":
    main()
