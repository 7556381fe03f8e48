"""Retrieval quality on a small real index: phrase, semantic and hostile
queries through the real chunker, real MiniLM and real SQLite FTS5, plus
fusion, folding and quote picking on hand-judged passages."""

from __future__ import annotations

import random
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from catalog import Catalog, Meeting, OnRecordError, Segment, Word
from search import SearchIndex, SearchQuery
from search.chunking import sentences
from search.embed import Embedder
from search.fusion import fuse, rrf
from search.query import fts_expression, is_strict, query_terms
from search.quotes import chunk_sentences, pick_quote

# One council meeting, written for these tests: each turn is long enough to
# be a chunk of its own, and the judged topics use distinct words.
TURNS = [
    (
        "Chair",
        "Good evening. The regular meeting of the Springfield City Council will come to order. "
        "Madam Clerk, would you please call the roll so that we can establish a quorum "
        "for tonight's business.",
    ),
    (
        "Councilmember Ruiz",
        "I want to speak to the 287(g) agreement between the county sheriff and ICE. "
        "Under that agreement deputies in the jail screen everyone who is booked, and I have heard from many "
        "families who are now afraid to report crimes. I move that we ask the county to end the agreement.",
    ),
    (
        "Councilmember Okafor",
        "On the library budget, the branch libraries have cut their opening hours "
        "twice in three years. We are asking for two more librarians and for Sunday hours "
        "at the east branch, which serves the most students after school. "
        "We should also roll back the late fees.",
    ),
    (
        "Chief Alvarez",
        "Let me be clear about our department's practice. Our officers will not cooperate "
        "with federal immigration agents who want to detain residents at the courthouse, and we do not ask "
        "anyone about their status during a traffic stop. That has been our policy since 2019.",
    ),
    (
        "Director Park",
        "Street maintenance crews filled more than four thousand potholes this spring. "
        "The snow removal contract comes up for renewal in October, and we are recommending a shorter term "
        "with penalties when the plows do not reach residential streets within twenty four hours.",
    ),
    (
        "Councilmember Webb",
        "The housing levy is the most important vote we will take this year. "
        "The housing levy pays for affordable apartments, for rental assistance and for emergency shelter. "
        "Without the housing levy, four hundred families lose their rental assistance in January. "
        "I have read every page of the housing levy renewal and I support it. "
        "The housing levy renewal keeps property taxes level, because the old levy expires. "
        "Seniors on fixed incomes told us that the housing levy kept them in their homes. "
        "Builders told us the housing levy brings in matching state money. "
        "Tenants told us the housing levy paid for lawyers when they faced eviction. "
        "The housing levy has an oversight board that publishes every grant it makes. "
        "So I will vote yes on the housing levy, and I urge my colleagues to do the same, "
        "because the housing levy is how this city keeps its promise to renters.",
    ),
    (
        "Chair",
        "Thank you. Public comment is now open. Each speaker will have two minutes, and please "
        "state your name for the record before you begin. We will take speakers in the order they signed up.",
    ),
]

# Hand-judged: query, and a word that only its relevant turn holds.
JUDGED = [
    ("287(g) agreement", "287(g)"),
    ("library opening hours", "librarians"),
    ("police refusing to aid deportations", "courthouse"),  # no shared word
    ("fixing holes in the road", "potholes"),  # meaning, not words
    ("snow removal contract", "plows"),
    ("housing levy", "levy"),
    ("public comment", "signed"),
    ("establish a quorum", "quorum"),
]


def council_segments(turns: list[tuple[str, str]] = TURNS) -> list[Segment]:
    """One segment per turn with word timings, 0.4 s a word."""
    segments, t = [], 0.0
    for speaker, text in turns:
        words, start = [], t
        for token in text.split():
            words.append(Word(t, t + 0.3, " " + token))
            t += 0.4
        segments.append(Segment(start, t, text, words, speaker=speaker))
        t += 1.0
    return segments


@pytest.fixture(scope="module")
def council(tmp_path_factory: pytest.TempPathFactory, minilm: Embedder) -> Iterator[SearchIndex]:
    root: Path = tmp_path_factory.mktemp("retrieval")
    catalog = Catalog(root / "onrecord.db")
    index = SearchIndex(catalog, "all-MiniLM-L6-v2", "http://app.example", embedder=minilm)
    segments = council_segments()
    meeting = catalog.add_meeting(
        Meeting(
            title="Regular meeting",
            body="Springfield City Council",
            source_url="file:///m.mp4",
            status="indexed",
        ),
        None,
        segments,
    )
    assert meeting.id is not None
    index.index_meeting(meeting.id, segments)
    yield index
    catalog.close()


def texts(index: SearchIndex, query: str, limit: int = 10) -> list[str]:
    return [hit.text for hit in index.search(SearchQuery(query, limit=limit))]


def test_a_semantic_query_with_none_of_the_words_finds_the_passage(council: SearchIndex) -> None:
    query = "police refusing to aid deportations"
    passage = {w.lower() for w in re.findall(r"\w+", TURNS[3][1])}
    assert not set(query_terms(query)[0]) & passage
    assert "courthouse" in texts(council, query)[0]


def test_keywords_still_win_when_they_match(council: SearchIndex) -> None:
    assert "287(g)" in texts(council, "287(g)")[0]
    assert "Sunday hours" in texts(council, "Sunday hours at the east branch")[0]


def test_a_quoted_phrase_finds_only_the_exact_phrase(council: SearchIndex) -> None:
    # Both "call" and "roll" are in Okafor's turn too ("roll back"), and a
    # plain query also brings in passages by meaning.
    assert len(texts(council, "call the roll")) > 1
    found = texts(council, '"call the roll"')
    assert found and all("call the roll" in t for t in found)
    assert texts(council, '"the roll call"') == []
    assert is_strict('"call the roll"') and not is_strict("call the roll")


def test_not_and_and_are_honoured(council: SearchIndex) -> None:
    assert all("ICE" not in t for t in texts(council, "agreement NOT ICE"))
    found = texts(council, "library AND librarians")
    assert found and all("librarians" in t for t in found)


def test_near_duplicate_hits_fold_into_one(council: SearchIndex) -> None:
    levy = [t for t in texts(council, "housing levy renewal") if "levy" in t]
    chunks = council.store.chunks(list(range(1, 100)))
    assert sum("levy" in c.text for c in chunks.values()) > 1, "the long turn spans several chunks"
    assert len(levy) == 1


def test_fusion_beats_or_equals_either_retriever(council: SearchIndex) -> None:
    def reciprocal_rank(ranking: list[tuple[int, float]], word: str) -> float:
        chunks = council.store.chunks([c for c, _ in ranking[:10]])
        for rank, (cid, _) in enumerate(ranking[:10], 1):
            if word in chunks[cid].text:
                return 1 / rank
        return 0.0

    totals = {"bm25": 0.0, "dense": 0.0, "rrf": 0.0, "fused": 0.0}
    for query, word in JUDGED:
        vector = council.embedder.embed_batch([query])[0]
        ranked = council.store.search(SearchQuery(query), vector)
        candidates = council.store.chunks(list({c for lst in ranked.values() for c, _ in lst}))
        totals["bm25"] += reciprocal_rank(ranked["bm25"], word)
        totals["dense"] += reciprocal_rank(ranked["dense"], word)
        totals["rrf"] += reciprocal_rank(rrf(ranked), word)
        totals["fused"] += reciprocal_rank(fuse(ranked, candidates), word)
    assert totals["fused"] >= max(totals["bm25"], totals["dense"]), totals
    assert totals["fused"] == len(JUDGED), totals  # every judged passage first


def test_fusion_on_a_tiny_pool_keeps_a_lone_keyword_match_first() -> None:
    # One keyword match among thirty passages: the dense ranking alone would
    # put it in the middle.
    dense = [(i, 0.5 - i * 0.01) for i in range(30)]
    assert fuse({"bm25": [(17, 3.2)], "dense": dense})[0][0] == 17
    assert fuse({"bm25": [], "dense": dense})[0][0] == 0
    assert [c for c, _ in fuse({"bm25": [(3, 1.0)], "dense": []})] == [3]  # no query vector
    assert fuse({"bm25": [], "dense": []}) == []
    assert [c for c, _ in fuse({"bm25": [(5, 2.0)], "dense": dense}, keyword_only=True)] == [5]


OPERATOR_SOUP = [
    '"',
    "'",
    "(",
    ")",
    "*",
    "^",
    ":",
    "-",
    "+",
    "AND",
    "OR",
    "NOT",
    "NEAR",
    "{",
    "}",
    "\\",
    "\x00",
    "é",
    "日本",
    "🙂",
    "287(g)",
    "won't",
    "a",
    "roll",
    "call",
    " ",
    "  ",
    "\t",
    ",",
    ".",
]


def test_fts_expression_never_breaks_on_operator_and_quote_soup() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize='porter unicode61')")
    conn.execute("INSERT INTO t (text) VALUES ('please call the roll on item 287(g)')")
    rng = random.Random(4)
    for _ in range(3000):
        typed = "".join(rng.choice(OPERATOR_SOUP) + rng.choice(["", " "]) for _ in range(rng.randint(1, 12)))
        expression = fts_expression(typed)
        is_strict(typed)
        if expression is not None:
            conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,)).fetchall()


def test_hostile_queries_search_without_error(council: SearchIndex) -> None:
    rng = random.Random(9)
    for _ in range(40):
        typed = "".join(rng.choice(OPERATOR_SOUP) for _ in range(rng.randint(1, 10))).strip()
        if typed and "\x00" not in typed:
            council.search(SearchQuery(typed))


def test_natural_questions_drop_their_scaffolding() -> None:
    assert fts_expression("Summarize the discussion about the library budget") == '"library" OR "budget"'
    assert fts_expression("the") == '"the"'  # nothing else to search for
    assert fts_expression("the AND budget") == '"the" AND "budget"'  # as typed
    assert fts_expression('"what did they say"') == '"what did they say"'


def test_the_quote_is_the_sentence_that_answers(council: SearchIndex, minilm: Embedder) -> None:
    segments = council_segments()
    chunk = council.store.chunks([c for c, _ in council.store.search(SearchQuery("libraries"), None)["bm25"]])
    [library] = [c for c in chunk.values() if "librarians" in c.text]
    found = chunk_sentences(library, segments)
    assert [s.text for s in found] == [s.text for s in sentences(segments[2:3])]
    quote = pick_quote(found, "more librarians on Sunday")
    assert quote is not None
    assert quote.text.startswith("We are asking for two more librarians")
    # Exact times: the first word of the sentence to its last.
    words = segments[2].words
    first = next(w for w in words if w.word.strip() == "We")
    assert quote.start == first.start
    assert quote.end == next(w.end for w in words if w.word.strip() == "school.")
    # A quoted phrase must appear whole in the quote.
    assert "roll back" in pick_quote(found, '"roll back"').text  # type: ignore[union-attr]
    # No word in common: the sentence closest in meaning.
    chief = chunk_sentences(
        next(c for c in council.store.chunks(list(range(1, 50))).values() if "courthouse" in c.text), segments
    )
    vector = minilm.embed_batch(["stopping people at a red light"])[0]
    by_meaning = pick_quote(chief, "stopping people at a red light", vector, minilm.embed_batch)
    assert by_meaning is not None and "traffic stop" in by_meaning.text
    assert np.isfinite(by_meaning.score)


def test_each_hit_quotes_its_best_sentence_with_exact_times(council: SearchIndex) -> None:
    [hit, *_] = council.search(SearchQuery("two more librarians for Sunday"))
    words = council_segments()[2].words
    assert hit.text.startswith("We are asking for two more librarians")
    assert hit.start == next(w.start for w in words if w.word.strip() == "We")
    assert hit.end == next(w.end for w in words if w.word.strip() == "school.")
    # The whole passage stays as context around the quote.
    assert hit.context.startswith("On the library budget") and hit.text in hit.context
    assert hit.context_start is not None and hit.context_end is not None
    assert hit.context_start < hit.start < hit.end <= hit.context_end
    # The link opens the recording at the quote, not at the passage.
    assert hit.url.endswith(f"#t={int(hit.start)}") and int(hit.start) > int(hit.context_start)
    # Found by meaning alone: quoted by meaning.
    [chief, *_] = council.search(SearchQuery("stopping people at a red light"))
    assert "traffic stop" in chief.text and chief.text != chief.context


def test_a_speakers_name_finds_their_passages(council: SearchIndex) -> None:
    # "Ruiz" is never said; it is who spoke.
    [hit, *_] = council.search(SearchQuery("Ruiz"))
    assert hit.speaker == "Councilmember Ruiz" and "Ruiz" not in hit.context
    assert council.search(SearchQuery("Okafor AND budget"))[0].speaker == "Councilmember Okafor"


def test_a_statement_read_at_every_meeting_is_one_hit(tmp_path: Path, minilm: Embedder) -> None:
    catalog = Catalog(tmp_path / "onrecord.db")
    index = SearchIndex(catalog, "all-MiniLM-L6-v2", "http://app.example", embedder=minilm)
    for day, topic in [("2024-01-08", 2), ("2024-01-22", 4)]:
        segments = council_segments([TURNS[topic], TURNS[6]])
        meeting = catalog.add_meeting(
            Meeting(title=day, body="Springfield City Council", source_url=f"file:///{day}.mp4", date=day),
            None,
            segments,
        )
        assert meeting.id is not None
        index.index_meeting(meeting.id, segments)
    hits = index.search(SearchQuery("public comment speakers"))
    assert sum("Public comment is now open" in h.context for h in hits) == 1
    # Each meeting's own passage still comes back.
    contexts = " ".join(h.context for h in hits)
    assert "librarians" in contexts and "potholes" in contexts
    catalog.close()


@pytest.mark.parametrize(
    ("typed", "filters", "message"),
    [
        ("", {}, "Empty query"),
        ("   \t ", {}, "Empty query"),
        ("levy " * 2000, {}, "keep it under"),
        ("levy", {"body": "Atlantis"}, "No body named 'Atlantis'; known bodies: Springfield City Council"),
        ("levy", {"speaker": "Nobody"}, "No speaker named 'Nobody'"),
        ("levy", {"since": "2024-05-01", "until": "2024-01-01"}, "swap them"),
        ("levy", {"since": "last tuesday"}, "use YYYY-MM-DD"),
        ("levy", {"limit": 0}, "between 1 and 100"),
    ],
)
def test_bad_queries_say_how_to_fix_them(
    council: SearchIndex, typed: str, filters: dict[str, object], message: str
) -> None:
    with pytest.raises(OnRecordError, match=re.escape(message)) as caught:
        council.search(SearchQuery(typed, **filters))  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)


def test_filters_narrow_the_hits(council: SearchIndex) -> None:
    found = council.search(SearchQuery("levy", speaker="councilmember webb"))
    assert found and {h.speaker for h in found} == {"Councilmember Webb"}
    assert council.search(SearchQuery("levy", since="2030-01-01")) == []
    everything = council.search(SearchQuery("council", limit=100))
    page = council.search(SearchQuery("council", limit=2, offset=2))
    assert [h.context for h in page] == [h.context for h in everything[2:4]]


def test_a_question_nobody_discussed_gets_only_weak_matches(council: SearchIndex) -> None:
    # Nothing in the meeting is about fireworks or bitcoin: the closest
    # passages still come back, marked weak, so the page can say so.
    for absent in ("setting off fireworks on the Fourth of July", "cryptocurrency and bitcoin mining"):
        hits = council.search(SearchQuery(absent))
        assert hits and {h.match for h in hits} == {"weak"}, absent
    # A remark described in other words, and a code typed alone, match strongly.
    assert council.search(SearchQuery("police refusing to aid deportations"))[0].match == "strong"
    assert council.search(SearchQuery("287(g)"))[0].match == "strong"
    assert council.search(SearchQuery("287(g)"))[0].to_dict()["match"] == "strong"


def test_words_count_as_far_as_the_best_keyword_passages_hold_the_query(council: SearchIndex) -> None:
    from search.fusion import words_count

    def count(text: str) -> float:
        vector = council.embedder.embed_batch([text])[0]
        ranking = council.rank(SearchQuery(text), vector)
        return words_count(ranking.ranked["bm25"], ranking.chunks, ranking.words)

    # Typed keywords are held whole by their passage: BM25 counts fully.
    assert count("Sunday hours at the east branch") == 1.0
    assert count("housing levy") == 1.0
    # A remark in other words shares only common words with any passage.
    assert count("the top cop said his staff will never hand people over to the feds at court") < 0.5
