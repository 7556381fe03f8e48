"""What keeps a large store fast without changing its answers: the int8
copy of the vectors (rescored in float32) and filters as chunk-id ranges.
Both are checked against the exact path on a small real store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from catalog import Catalog, Meeting
from search import SearchIndex, SearchQuery
from search.embed import Embedder
from search.sqlite_filters import _rowid_in
from search.vectors import int8_path
from tests.conftest import shared
from transcribe.captions import read_captions

QUESTIONS = [
    "call the roll",
    "public comment on the police budget",
    "affordable housing and homelessness",
    "who voted against the motion",
]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, minilm: Embedder) -> Iterator[SearchIndex]:
    """Four meetings cut from the real Boston and Oakland captions, two bodies."""
    root: Path = tmp_path_factory.mktemp("scale")
    catalog = Catalog(root / "onrecord.db")
    index = SearchIndex(catalog, "all-MiniLM-L6-v2", "http://app.example", embedder=minilm)
    for name, body in (("oakland", "Oakland City Council"), ("boston", "Boston City Council")):
        segments = read_captions(shared(f"captions/{name}_captions.vtt"))
        for part, date in enumerate(("2021-05-04", "2023-09-12")):
            meeting = catalog.add_meeting(
                Meeting(title=f"{name} {part}", body=body, source_url=f"file:///{name}{part}.mp4", date=date),
                None,
                segments[part * 66 : (part + 1) * 66],
            )
            assert meeting.id is not None
            index.index_meeting(meeting.id, catalog.segments(meeting.id))
    yield index
    catalog.close()


def test_the_int8_copy_is_written_beside_the_vectors(index: SearchIndex) -> None:
    [f32] = index.store.vectors_dir.glob("*.f32")
    rows = f32.stat().st_size // (4 * 384)
    assert int8_path(f32).stat().st_size == rows * 384


@pytest.mark.parametrize("filters", [{}, {"body": "Boston City Council"}, {"since": "2022-01-01"}])
def test_the_int8_scan_returns_the_exact_scans_candidates(
    index: SearchIndex, filters: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = index.store
    for text in QUESTIONS:
        query = SearchQuery(text, **filters)  # type: ignore[arg-type]
        vector = index.embedder.embed_batch([text])[0]
        # 20 candidates, of which the int8 copy picks 40 rows to rescore:
        # fewer than the store holds, so the copy really decides.
        monkeypatch.setattr("search.store.CANDIDATES", 20)
        exact = store.dense(query, vector)
        monkeypatch.setattr(store, "exact_below", 0)
        monkeypatch.setattr("search.vectors.RERANK", 40)
        coarse = store.dense(query, vector)
        monkeypatch.undo()
        assert store.vector_count() > 60 and len(exact) == 20
        assert [c for c, _ in coarse[:10]] == [c for c, _ in exact[:10]], text
        assert len({c for c, _ in coarse} & {c for c, _ in exact}) >= 19
        assert np.allclose([s for _, s in coarse[:10]], [s for _, s in exact[:10]])


def test_filters_as_chunk_ranges_match_the_joined_filters(
    index: SearchIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = index.store
    for filters in ({"body": "Oakland City Council"}, {"since": "2022-01-01"}, {"meeting_id": 2}):
        for text in QUESTIONS:
            query = SearchQuery(text, **filters)  # type: ignore[arg-type]
            ranges = store._bm25(query)
            monkeypatch.setattr("search.sqlite_words.MAX_RANGES", 0)  # the join, as before
            joined = store._bm25(query)
            monkeypatch.undo()
            assert ranges == joined, (filters, text)
    found = index.search(SearchQuery("council", body="Oakland City Council", since="2022-01-01", limit=20))
    assert found and {(h.body, h.meeting_date) for h in found} == {("Oakland City Council", "2023-09-12")}


def test_a_filter_over_many_meetings_tests_each_match_against_few_ranges() -> None:
    """A body's hundred meetings are a hundred ranges; the SQL finds a
    match's range by halving, and holds exactly where a range holds."""
    ranges = [(10 * i, 10 * i + 3 + i % 5) for i in range(37)][::-1]  # newest first, as filters give
    clause, params = _rowid_in(ranges, "n")
    assert clause.count("CASE") == 36 and clause.count("(n >=") == 37
    numbers = "WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < 400)"
    held = sqlite3.connect(":memory:").execute(f"{numbers} SELECT n FROM s WHERE {clause}", params)
    assert [n for (n,) in held] == sorted(n for first, end in ranges for n in range(first, end))


def test_keyword_matches_fall_into_their_own_meetings(
    index: SearchIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timeline's exact count: each passage holding every word, in its
    own meeting, by the meetings' chunk-id ranges, or looked up where a
    meeting has no range (one not contiguous, or not yet mapped)."""
    from search.query import all_words_expression

    store = index.store
    for text in ("council", "thank you"):
        joined: dict[int, set[int]] = {}
        for meeting_id, chunk_id in index.catalog.conn.execute(
            "SELECT c.meeting_id, c.id FROM chunks_fts f JOIN chunks c ON c.id = f.rowid"
            " WHERE chunks_fts MATCH ?",
            (all_words_expression(text),),
        ):
            joined.setdefault(meeting_id, set()).add(chunk_id)
        assert 2 in joined and len(joined) >= 2 and store.matching_chunks(SearchQuery(text)) == joined, text
        store.dense(SearchQuery(text), index.embedder.embed_batch([text])[0])  # maps the ranges
        for unmapped in (store._id_table[store._id_table[:, 2] != 2], store._id_table[:0]):
            monkeypatch.setattr(store, "_id_table", unmapped)
            assert store.matching_chunks(SearchQuery(text)) == joined, text
            monkeypatch.undo()
