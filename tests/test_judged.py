"""The judged retrieval set (benchmarks/judged): it loads, it is as large as
issue 12 asks, its halves are balanced, its passages lie inside their
transcripts, its absent topics truly never come up, and its paraphrases do
not give away the words of the remark they describe. The benchmark itself
(``python -m benchmarks judged``) runs the real search over it."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from functools import cache

import pytest

from benchmarks.judged import (
    KINDS,
    MINIMUM,
    SLACK,
    Document,
    Query,
    Result,
    Span,
    documents,
    load_queries,
    scores,
    turn_span,
)
from search.query import NOISE
from tests.conftest import shared

# A word of a paraphrase may also be in its remark only if it is common:
# in at least this share of all the corpus's segments.
RARE = 0.005


@cache
def corpus() -> tuple[Document, ...]:
    shared("qmsum-committee/queries.jsonl")  # skips (or, under CI, fails) without ../shared/data
    shared("captions/boston_captions.vtt")
    return tuple(documents())


@pytest.fixture(scope="module")
def docs() -> dict[str, Document]:
    return {d.id: d for d in corpus()}


@pytest.fixture(scope="module")
def queries(docs: dict[str, Document]) -> list[Query]:
    return load_queries(docs.values())


def test_the_set_is_as_large_as_the_issue_asks(queries: list[Query]) -> None:
    counts = Counter(q.kind for q in queries)
    assert set(counts) == set(KINDS)
    for kind, least in MINIMUM.items():
        assert counts[kind] >= least, f"{counts[kind]} {kind} queries, at least {least} wanted"
    assert len({q.id for q in queries}) == len(queries)
    sources = Counter(s for q in queries if q.kind == "quote" for s in q.sources)
    assert set(sources) == {"qmsum", "boston", "oakland", "seattle", "cdp"}


def test_each_kind_and_source_is_split_evenly(queries: list[Query]) -> None:
    def source(q: Query) -> str:
        return q.sources[0] if len(q.sources) == 1 else "several or none"

    halves = Counter((q.kind, source(q), q.split) for q in queries)
    for kind, sources, _ in halves:
        tune, report = halves[(kind, sources, "tune")], halves[(kind, sources, "report")]
        assert abs(tune - report) <= 1, f"{kind} from {sources}: {tune} tune, {report} report"
    for kind in KINDS:
        split = Counter(q.split for q in queries if q.kind == kind)
        assert abs(split["tune"] - split["report"]) <= 1


def test_every_passage_lies_inside_its_transcript(queries: list[Query], docs: dict[str, Document]) -> None:
    for q in queries:
        assert (q.kind == "absent") == (not q.spans), q.id
        for span in q.spans:
            assert 0 <= span.start < span.end <= docs[span.doc].end, (q.id, span)
    topics = [q for q in queries if q.kind == "topic"]
    assert sum(len({s.doc for s in q.spans}) > 1 for q in topics) >= 0.9 * len(topics), "topics span meetings"


def test_absent_topics_never_come_up(queries: list[Query], docs: dict[str, Document]) -> None:
    text = "\n".join(s.text for d in docs.values() for s in d.segments).lower()
    for q in queries:
        if q.kind == "absent":
            assert q.absent_terms, q.id
            for term in q.absent_terms:
                assert not re.search(rf"\b{re.escape(term.lower())}\b", text), f"{q.id}: {term!r} occurs"


def test_paraphrases_share_no_rare_word_with_their_remark(
    queries: list[Query], docs: dict[str, Document]
) -> None:
    """Stems as the keyword index sees them (FTS5's porter tokenizer): a
    reporter's paraphrase may repeat "council" or "pandemic", never the
    remark's names or rare nouns."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='porter unicode61')")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'row')")
    segments = [s for d in docs.values() for s in d.segments]
    conn.executemany("INSERT INTO t VALUES (?)", [(s.text,) for s in segments])
    share = {term: n / len(segments) for term, n in conn.execute("SELECT term, doc FROM v")}
    probe = sqlite3.connect(":memory:")
    probe.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='porter unicode61')")
    probe.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")

    def stems(text: str) -> set[str]:
        probe.execute("DELETE FROM t")
        probe.execute("INSERT INTO t VALUES (?)", (text,))
        return {term for (term,) in probe.execute("SELECT term FROM v")}

    noise = stems(" ".join(NOISE))
    for q in queries:
        if q.kind != "quote":
            continue
        remark = " ".join(
            s.text
            for span in q.spans
            for s in docs[span.doc].segments
            if s.start < span.end and s.end > span.start
        )
        shared_rare = {t for t in (stems(q.text) - noise) & stems(remark) if share.get(t, 0.0) < RARE}
        assert not shared_rare, f"{q.id} repeats {sorted(shared_rare)} from its remark"


def test_qmsum_turns_are_timed_as_the_retrieval_benchmark_times_them(docs: dict[str, Document]) -> None:
    doc = docs["qmsum/covid_4"]
    assert doc.hearing is not None
    start, end = turn_span(doc, 113, 114)
    assert start == doc.hearing.starts[113] == doc.segments[113].start
    assert end == doc.segments[114].end < doc.hearing.starts[115]
    assert doc.slack == 0.0 and docs["boston"].slack == SLACK


def test_a_result_counts_where_its_quote_overlaps_and_each_passage_once() -> None:
    q = Query("t1", "topic", "tune", "fishing", ["boston"], [Span("a", 100, 120), Span("b", 10, 20)])
    slack = {"a": SLACK, "b": 0.0}.__getitem__
    results = [
        Result("a", 124, 130, 1.0),  # within the 5 s slack of a's passage
        Result("a", 105, 110, 0.9),  # the same passage again: no more credit
        Result("b", 20, 25, 0.8),  # touches b's end, but b has no slack
        Result("b", 15, 16, 0.7),
    ]
    got = scores(q, results, slack)
    assert got["hit@10"] == 1.0 and got["MRR@10"] == 1.0
    assert got["nDCG@10"] == pytest.approx((1 + 1 / 2.3219) / (1 + 1 / 1.585), rel=1e-3)
    assert scores(q, [Result("c", 100, 120, 1.0)], slack)["hit@10"] == 0.0
