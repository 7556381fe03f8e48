"""Retrieval on a judged set of the kind that fails: paraphrased quotes,
keywords and names as machine transcripts mis-hear them, broad topics, and
questions about things that never come up.

The truth in ``benchmarks/judged/queries.jsonl`` was marked by reading the
transcripts, before any tuning (see ``benchmarks/judged/README.md``). Every
document of the set goes into one OnRecord index the way the product takes it
in: the Boston and Oakland captions through the caption importer, the
qmsum-committee hearings as one segment per speaker turn with its speaker
(timed as ``benchmarks.retrieval`` times them), and the Council Data Project
transcripts as sentences with their word timings and speakers. The hybrid
row is ``SearchIndex.search`` itself; the single-retriever rows rank by the
store's own BM25 or dense list and quote each chunk the same way.

A result counts when its quote (document, start to end) overlaps a relevant
span, with ``SLACK`` seconds of slack on real recordings (caption and Whisper
word times are approximate) and none on qmsum, whose times bound turns
exactly by construction. Each relevant span earns credit once, so a topic
query's nDCG rewards finding several of its passages. For the absent
queries the top hit's score (and ``match``, once hits carry one) is recorded.

    python -m benchmarks judged
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, ROOT, shared, write_results
from benchmarks.retrieval import CACHE, MODEL, CachedEmbedder, Hearing
from catalog import Catalog, Meeting, Segment, Word
from search.index import CHUNKER_VERSION, SearchIndex
from search.query import SearchQuery

SET = ROOT / "judged"
QUERIES = SET / "queries.jsonl"
KINDS = ("quote", "keyword", "topic", "absent")
SPLITS = ("tune", "report")
MINIMUM = {"quote": 60, "keyword": 20, "topic": 20, "absent": 10}
SLACK = 5.0  # seconds, on real recordings only
DEPTH = 10
WHEEL = "cdp-backend==4.1.3"
RESOURCES = "cdp_backend/tests/resources/"


@dataclass
class Document:
    """One transcript of the set, in its own time base."""

    id: str
    source: str  # qmsum | boston | oakland | seattle | cdp
    title: str
    body: str
    segments: list[Segment]
    date: str | None = None
    transcript_source: str = "whisper"
    hearing: Hearing | None = None  # qmsum: the turns the times stand for
    meeting_id: int = 0

    @property
    def end(self) -> float:
        return max(s.end for s in self.segments)

    @property
    def slack(self) -> float:
        return 0.0 if self.hearing else SLACK


@dataclass
class Span:
    doc: str
    start: float
    end: float


@dataclass
class Query:
    id: str
    kind: str
    split: str
    text: str
    sources: list[str]
    spans: list[Span] = field(default_factory=list)
    absent_terms: list[str] = field(default_factory=list)


@dataclass
class Result:
    """One returned passage: where its quote lies, and its score."""

    doc: str
    start: float
    end: float
    score: float
    match: str | None = None


# -- the material -----------------------------------------------------------

CDP = {
    # document id: (file in the wheel, title, date as the transcript states it)
    "cdp-briefing-july-22": (
        "expected-seattle-briefing-transcript.json",
        "Seattle City Council briefing (July 22)",
        None,
    ),
    "cdp-briefing-2021-08-02": (
        "generated_transcript_from_brief_080221_2012161.json",
        "Seattle City Council briefing",
        "2021-08-02",
    ),
    "cdp-briefing-2019-07-15": (
        "generated_transcript_from_fake_captions.json",
        "Seattle City Council briefing",
        "2019-07-15",
    ),
}
SEATTLE = "seattle-special-2017-10-05"  # the same transcript ships in the wheel; read ../shared's copy
QMSUM_BODIES = {"covid": "House of Commons COVID-19 committee", "education": "Senedd education committee"}


def cdp_resources() -> Path:
    """The cdp-backend wheel's test transcripts, unpacked under the cache
    (fetched from PyPI with pip once; never copied into the repository)."""
    folder = CACHE / "cdp-backend-4.1.3"
    if not all((folder / file).exists() for file, _, _ in CDP.values()):
        folder.mkdir(parents=True, exist_ok=True)
        if not list(CACHE.glob("cdp_backend-4.1.3-*.whl")):
            pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", WHEEL, "-d", str(CACHE)]
            subprocess.run(pip, check=True)
        wheel = next(CACHE.glob("cdp_backend-4.1.3-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            for file, _, _ in CDP.values():
                (folder / file).write_bytes(zf.read(RESOURCES + file))
    return folder


def cdp_segments(path: Path) -> list[Segment]:
    """A Council Data Project transcript: one segment per sentence, its words
    timed as CDP timed them (spread evenly where CDP split the words apart
    from the text, as around a dash), its speaker where CDP knows one."""
    out = []
    for s in json.loads(path.read_text())["sentences"]:
        tokens, timed = s["text"].split(), s["words"]
        if len(timed) == len(tokens):
            times = [(w["start_time"], w["end_time"]) for w in timed]
        else:
            step = (s["end_time"] - s["start_time"]) / len(tokens)
            times = [
                (s["start_time"] + i * step, s["start_time"] + (i + 1) * step) for i in range(len(tokens))
            ]
        words = [Word(round(a, 3), round(b, 3), " " + t) for t, (a, b) in zip(tokens, times, strict=True)]
        index = s.get("speaker_index")
        speaker = s.get("speaker_name") or (f"speaker {index}" if index is not None else None)
        out.append(Segment(words[0].start, words[-1].end, s["text"], words, speaker=speaker))
    return out


def documents() -> list[Document]:
    from transcribe.captions import read_captions

    docs = []
    for path in sorted(shared("qmsum-committee").glob("*/*.json")):
        hearing = Hearing(path.stem, path.parent.name, json.loads(path.read_text())["meeting_transcripts"])
        body = QMSUM_BODIES[path.stem.split("_")[0]]
        docs.append(
            Document(
                f"qmsum/{path.stem}", "qmsum", path.stem, body, hearing.segments(), None, "record", hearing
            )
        )
    for name, title, date in (
        ("boston", "Boston City Council", None),
        ("oakland", "Oakland City Council special meeting", "2022-08-09"),
    ):
        segments = read_captions(shared(f"captions/{name}_captions.vtt"))
        docs.append(
            Document(name, name, title, title.removesuffix(" special meeting"), segments, date, "captions")
        )
    special = shared("meetings/seattle-council-special-2017-10-05.cdp-whisper-transcript.json")
    docs.append(
        Document(
            SEATTLE,
            "seattle",
            "Seattle City Council special meeting",
            "Seattle City Council",
            cdp_segments(special),
            "2017-10-05",
        )
    )
    wheel = cdp_resources()
    for doc_id, (file, title, date) in CDP.items():
        docs.append(Document(doc_id, "cdp", title, "Seattle City Council", cdp_segments(wheel / file), date))
    return docs


def turn_span(doc: Document, first: int, last: int) -> tuple[float, float]:
    """Turns ``first``–``last`` (inclusive) of a qmsum hearing in its
    synthetic time: from the first word of the one to the end of the other,
    as ``Hearing.segments`` laid them out (one segment per turn)."""
    assert doc.hearing is not None, f"{doc.id} has no turns"
    return doc.segments[first].start, doc.segments[last].end


def load_queries(docs: Iterable[Document], path: Path = QUERIES) -> list[Query]:
    by_id = {d.id: d for d in docs}
    out = []
    for line in path.read_text().splitlines():
        q = json.loads(line)
        spans = []
        for s in q["relevant"]:
            doc = by_id[s["doc"]]
            if "turns" in s:
                spans.append(Span(doc.id, *turn_span(doc, *s["turns"])))
            else:
                spans.append(Span(doc.id, float(s["start"]), float(s["end"])))
        out.append(
            Query(q["id"], q["kind"], q["split"], q["query"], q["sources"], spans, q.get("absent_terms", []))
        )
    return out


# -- judging ------------------------------------------------------------------


def overlaps(result: Result, span: Span, slack: float) -> bool:
    return result.doc == span.doc and result.start < span.end + slack and result.end > span.start - slack


def gains(query: Query, results: list[Result], slack: Callable[[str], float]) -> list[int]:
    """1 for each result that finds a relevant span not found higher up."""
    found: set[int] = set()
    out = []
    for r in results[:DEPTH]:
        hit = {i for i, s in enumerate(query.spans) if overlaps(r, s, slack(s.doc))}
        out.append(1 if hit - found else 0)
        found |= hit
    return out


def scores(query: Query, results: list[Result], slack: Callable[[str], float]) -> dict[str, float]:
    g = gains(query, results, slack)
    first = next((rank for rank, v in enumerate(g, 1) if v), None)
    ideal = sum(1 / math.log2(r + 2) for r in range(min(DEPTH, len(query.spans))))
    dcg = sum(v / math.log2(r + 2) for r, v in enumerate(g))
    return {"hit@10": float(first is not None), "MRR@10": 1 / first if first else 0.0, "nDCG@10": dcg / ideal}


def summary(
    queries: list[Query], results: list[list[Result]], slack: Callable[[str], float]
) -> dict[str, float]:
    per = [scores(q, r, slack) for q, r in zip(queries, results, strict=True)]
    return {k: sum(p[k] for p in per) / len(per) for k in ("hit@10", "MRR@10", "nDCG@10")} if per else {}


# -- the index and the retrievers ----------------------------------------------


class JudgedEmbedder(CachedEmbedder):
    """The retrieval benchmark's embedding cache, kept in a file of its own
    (it starts from qmsum's vectors, which this corpus shares)."""

    def __init__(self) -> None:
        super().__init__(MODEL)
        self.path = CACHE / f"judged-embeddings-{MODEL.replace('/', '_')}-{CHUNKER_VERSION}.npz"
        if self.path.exists():
            with np.load(self.path) as data:
                self.cache.update(zip(data["keys"].tolist(), data["vectors"], strict=True))


def build(root: Path, docs: list[Document], embedder: CachedEmbedder) -> SearchIndex:
    catalog = Catalog(root / "catalog.db")
    index = SearchIndex(catalog, MODEL, "http://127.0.0.1:8000", embedder=embedder)
    for doc in docs:
        meeting = Meeting(
            title=doc.title,
            body=doc.body,
            source_url=f"file:///judged/{doc.id}",
            date=doc.date,
            status="indexed",
            transcript_source=doc.transcript_source,
        )
        meeting = catalog.add_meeting(meeting, doc.id, doc.segments)
        assert meeting.id is not None
        doc.meeting_id = meeting.id
        index.index_meeting(meeting.id, doc.segments)
        embedder.save()  # an interrupted first run keeps what it embedded
    return index


def _served(
    index: SearchIndex, text: str, vector: object, docs: dict[int, str], whole: bool = False
) -> list[Result]:
    hits = index.search(SearchQuery(text, limit=DEPTH))
    out = []
    for h in hits:
        start, end = (
            (h.context_start, h.context_end) if whole and h.context_start is not None else (h.start, h.end)
        )
        out.append(Result(docs[h.meeting_id], start, end, h.score, getattr(h, "match", None)))
    return out


def _alone(which: str) -> Callable[[SearchIndex, str, object, dict[int, str]], list[Result]]:
    def rank(index: SearchIndex, text: str, vector: object, docs: dict[int, str]) -> list[Result]:
        ranked = index.store.search(SearchQuery(text), vector)[which][:DEPTH]
        chunks = index.store.chunks([cid for cid, _ in ranked])
        found = [(chunks[cid], score) for cid, score in ranked if cid in chunks]
        quotes = index.quotes([c for c, _ in found], text, vector)
        return [
            Result(docs[c.meeting_id], q.start, q.end, s) for (c, s), q in zip(found, quotes, strict=True)
        ]

    return rank


RETRIEVERS = {
    "BM25 alone (store)": _alone("bm25"),
    "dense alone, MiniLM (store)": _alone("dense"),
    "hybrid: SearchIndex.search": _served,
}
# The diagnostic: the same hybrid hits judged by their whole chunk;
# and the dense side alone on the vector search uses (a described remark's
# reporting clause weighed down, SearchIndex.query_vector).
DIAGNOSTIC = {
    "hybrid, whole chunk judged": lambda i, t, v, d: _served(i, t, v, d, whole=True),
    "dense alone, search's query vector": lambda i, t, v, d: _alone("dense")(i, t, i.query_vector(t), d),
}


def run(index: SearchIndex, queries: list[Query], docs: list[Document]) -> dict[str, list[list[Result]]]:
    by_meeting = {d.meeting_id: d.id for d in docs}
    vectors = index.embedder.embed_batch([q.text for q in queries])
    out: dict[str, list[list[Result]]] = {name: [] for name in {**RETRIEVERS, **DIAGNOSTIC}}
    for q, vector in zip(queries, vectors, strict=True):
        for name, retriever in {**RETRIEVERS, **DIAGNOSTIC}.items():
            out[name].append(retriever(index, q.text, vector, by_meeting))
    return out


# -- the report -----------------------------------------------------------------


def rows(
    queries: list[Query], results: dict[str, list[list[Result]]], slack: Callable[[str], float]
) -> list[dict]:
    table = []
    for name, per_query in results.items():
        for kind in ("quote", "keyword", "topic", "answerable"):
            row: dict[str, object] = {"retrieval": name, "kind": kind}
            for split in SPLITS:
                picked = [
                    i
                    for i, q in enumerate(queries)
                    if q.split == split and (q.kind == kind or (kind == "answerable" and q.kind != "absent"))
                ]
                m = summary([queries[i] for i in picked], [per_query[i] for i in picked], slack)
                row[f"n {split}"] = len(picked)
                row.update({f"{k} {split}": round(v, 3) for k, v in m.items()})
            table.append(row)
    return table


def absent_rows(queries: list[Query], results: dict[str, list[list[Result]]]) -> list[dict]:
    """The top hit of each absent query against the top hits of the
    answerable ones: nothing should look like a match."""
    table = []
    for name, per_query in results.items():
        tops = {q.id: (r[0] if r else None) for q, r in zip(queries, per_query, strict=True)}
        answerable = [tops[q.id].score for q in queries if q.kind != "absent" and tops[q.id]]
        median = statistics.median(answerable) if answerable else 0.0
        for split in SPLITS:
            absent = [q for q in queries if q.kind == "absent" and q.split == split]
            top = [tops[q.id] for q in absent if tops[q.id]]
            table.append(
                {
                    "retrieval": name,
                    "split": split,
                    "absent queries": len(absent),
                    "top scores": ", ".join(f"{t.score:.3g}" for t in top),
                    "median answerable top score": round(median, 3),
                    "above that median": sum(t.score > median for t in top),
                    "strong top hits": sum(t.match == "strong" for t in top)
                    if any(t.match for t in top)
                    else None,
                }
            )
    return table


def main() -> None:
    docs = documents()
    queries = load_queries(docs)
    slack = {d.id: d.slack for d in docs}.__getitem__
    embedder = JudgedEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        index = build(Path(tmp), docs, embedder)
        results = run(index, queries, docs)
        embedder.save(prune=True)
        chunks = index.store.vector_count()
        index.catalog.close()
    counts = {k: sum(q.kind == k for q in queries) for k in KINDS}
    table = rows(queries, results, slack)
    absent = absent_rows(queries, results)
    write_results(
        "judged",
        "Retrieval: the judged set (paraphrases, names as mis-heard, topics, absent topics)",
        table,
        [
            f"{len(queries)} queries: "
            + ", ".join(f"{n} {k}" for k, n in counts.items())
            + f"; {len(docs)} transcripts, {chunks} chunks ({CHUNKER_VERSION}); MiniLM {MODEL}",
            "tune/report: the set's fixed halves (tune on 'tune' only);"
            " 'answerable' = quote + keyword + topic",
            "a result counts when its quote overlaps a relevant span of the same transcript,"
            f" with {SLACK:.0f} s of slack on real recordings and none on qmsum"
            " (synthetic times that bound turns exactly);"
            " each relevant span earns credit once",
            "'hybrid, whole chunk judged' scores the same hits by their whole chunk, not the quote",
        ],
    )
    _append_absent(absent)


def _append_absent(absent: list[dict]) -> None:
    path = RESULTS / "judged.json"
    data = json.loads(path.read_text())
    data["absent"] = absent
    path.write_text(json.dumps(data, indent=2))
    columns = list(absent[0])
    lines = ["", "## Absent topics: the top hit", ""]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("| " + " | ".join("---" for _ in columns) + " |")
    lines += ["| " + " | ".join("" if r[c] is None else str(r[c]) for c in columns) + " |" for r in absent]
    with (RESULTS / "judged.md").open("a") as md:
        md.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
