"""Keeping the index: vectors keyed by model, incremental indexing, rebuilds,
filters, order and pages, over real caption transcripts and real MiniLM."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog import Catalog, Meeting, QueryError
from search import SearchIndex, SearchQuery
from search.embed import Embedder, _bundled_minilm
from search.index import CHUNKER_VERSION
from search.schema import SQLITE_MIGRATIONS
from tests.conftest import shared
from transcribe.captions import read_captions


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    """Two real meetings from captions: Oakland (2022) and Boston (2023)."""
    catalog = Catalog(tmp_path / "onrecord.db")
    for name, body, date in [
        ("oakland", "Oakland City Council", "2022-08-09"),
        ("boston", "Boston City Council", "2023-03-01"),
    ]:
        # A few hundred passages of each keep the test quick.
        segments = read_captions(shared(f"captions/{name}_captions.vtt"))[:120]
        for seg in segments:
            seg.speaker = "Clerk" if "roll" in seg.text.lower() else None
        catalog.add_meeting(
            Meeting(
                title=f"{name} meeting",
                body=body,
                source_url=f"https://example.org/{name}.mp4",
                date=date,
                status="indexed",
                transcript_source="captions",
            ),
            None,
            segments,
        )
    yield catalog
    catalog.close()


@pytest.fixture
def index(catalog: Catalog, minilm: Embedder) -> SearchIndex:
    index = SearchIndex(catalog, "all-MiniLM-L6-v2", "http://app.example", embedder=minilm)
    assert index.reindex() == 2
    return index


def test_reindex_is_incremental(index: SearchIndex) -> None:
    assert index.reindex() == 0, "nothing changed, nothing redone"
    assert index.store.vector_count() > 40


def test_a_new_chunker_version_reindexes(index: SearchIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("search.index.CHUNKER_VERSION", CHUNKER_VERSION + "-next")
    assert len(index.stale_meetings()) == 2


def test_vectors_are_keyed_by_model(catalog: Catalog, index: SearchIndex) -> None:
    # The same weights named by their folder count as another model: its
    # vectors are built separately and the first model's stay as they were.
    other = SearchIndex(catalog, str(_bundled_minilm()), "http://app.example")
    assert other.model_id != index.model_id
    assert len(other.stale_meetings()) == 2
    assert other.reindex() == 2
    assert index.reindex() == 0
    assert other.store.vector_count() == index.store.vector_count()


def test_rebuild_reclaims_space_and_keeps_answers(index: SearchIndex, catalog: Catalog) -> None:
    before = [h.text for h in index.search(SearchQuery("call the roll"))]
    # Re-indexing one meeting leaves its old rows behind in the file…
    index.index_meeting(1, catalog.segments(1))
    files = list(index.store.vectors_dir.glob("*.f32"))
    grown = sum(f.stat().st_size for f in files)
    # …and a rebuild writes a fresh, compact file.
    assert index.reindex(rebuild=True) == 2
    rebuilt = sum(f.stat().st_size for f in index.store.vectors_dir.glob("*.f32"))
    assert rebuilt < grown
    assert [h.text for h in index.search(SearchQuery("call the roll"))] == before


def test_filters_by_body_date_meeting_and_speaker(index: SearchIndex) -> None:
    def bodies(**kw: object) -> set[str]:
        return {h.body for h in index.search(SearchQuery("council meeting", limit=20, **kw))}  # type: ignore[arg-type]

    assert bodies() == {"Oakland City Council", "Boston City Council"}
    assert bodies(body="oakland city council") == {"Oakland City Council"}
    assert bodies(since="2023-01-01") == {"Boston City Council"}
    assert bodies(until="2022-12-31") == {"Oakland City Council"}
    assert bodies(meeting_id=2) == {"Boston City Council"}
    clerk = index.search(SearchQuery("council meeting", speaker="clerk", limit=20))
    assert clerk and all(h.speaker == "Clerk" for h in clerk)


def test_unknown_names_in_filters_are_errors(index: SearchIndex) -> None:
    with pytest.raises(QueryError, match="No body named"):
        index.search(SearchQuery("roll", body="Atlantis"))
    with pytest.raises(QueryError, match="No speaker named"):
        index.search(SearchQuery("roll", speaker="Nobody"))


def test_pages_do_not_overlap(index: SearchIndex) -> None:
    first = index.search(SearchQuery("budget", limit=5))
    second = index.search(SearchQuery("budget", limit=5, offset=5))
    assert len(first) == len(second) == 5
    assert not {(h.meeting_id, h.start) for h in first} & {(h.meeting_id, h.start) for h in second}


def test_an_older_store_upgrades_and_finds_passages_by_speaker(
    tmp_path: Path, minilm: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A store created before the speaker column existed: only migration 1.
    catalog = Catalog(tmp_path / "old.db")
    segments = read_captions(shared("captions/oakland_captions.vtt"))[:40]
    for seg in segments:
        seg.speaker = "Clerk Simmons" if "roll" in seg.text.lower() else None
    meeting = catalog.add_meeting(
        Meeting(title="old", body="Oakland City Council", source_url="file:///o.mp4", status="indexed"),
        None,
        segments,
    )
    with monkeypatch.context() as patch:
        patch.setattr("search.store.SQLITE_MIGRATIONS", SQLITE_MIGRATIONS[:1])
        old = SearchIndex(catalog, "all-MiniLM-L6-v2", "http://app.example", embedder=minilm)
        assert old.reindex() == 1
        assert old.store.search(SearchQuery("Simmons"), None)["bm25"] == []
    assert meeting.id is not None
    upgraded = SearchIndex(catalog, "all-MiniLM-L6-v2", "http://app.example", embedder=minilm)
    assert upgraded.reindex() == 0, "the upgrade keeps every chunk and vector"
    found = upgraded.store.search(SearchQuery("Simmons"), None)["bm25"]
    chunks = upgraded.store.chunks([cid for cid, _ in found])
    assert found and {c.speaker for c in chunks.values()} == {"Clerk Simmons"}
    # Renaming a speaker keeps the keyword index in step.
    upgraded.store.rename_speaker(meeting.id, "Clerk Simmons", "Clerk Ortega")
    assert upgraded.store.search(SearchQuery("Simmons"), None)["bm25"] == []
    assert len(upgraded.store.search(SearchQuery("Ortega"), None)["bm25"]) == len(found)
    catalog.close()


def test_a_big_store_scores_only_the_rarer_words_of_a_long_question(
    index: SearchIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    # BM25 scores every passage holding any OR-ed word; past the posting
    # budget a question keeps its rarest words and meaning does the rest.
    import search.sqlite_words as words_module
    from search.query import or_terms

    question = "council members vote on the budget and the roll call"
    terms = or_terms(question)
    assert terms is not None
    passages = {t: index.store._passages_with(t) for t in terms}
    rarest = min((t for t in terms if passages[t]), key=passages.__getitem__)

    def bm25_ids(text: str) -> set[int]:
        return {cid for cid, _ in index.store.search(SearchQuery(text), None)["bm25"]}

    everything = bm25_ids(question)
    monkeypatch.setattr(words_module, "POSTING_BUDGET", passages[rarest])
    pruned = bm25_ids(question)
    assert pruned and pruned <= bm25_ids(rarest) < everything
    # Typed operators and phrases are kept exactly as written.
    assert bm25_ids('"roll call" OR council') == bm25_ids('"roll call" OR council')
    assert or_terms('"roll call" council') is None


def test_past_the_budget_keywords_rank_the_newest_passages(
    index: SearchIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    import search.sqlite_words as words_module

    everything = [cid for cid, _ in index.store.search(SearchQuery("council"), None)["bm25"]]
    assert len(everything) > 3
    monkeypatch.setattr(words_module, "POSTING_BUDGET", 3)
    newest = [cid for cid, _ in index.store.search(SearchQuery("council"), None)["bm25"]]
    assert sorted(newest) == sorted(everything)[-3:]


def test_past_the_budget_a_filter_still_finds_older_passages(
    index: SearchIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    import search.sqlite_words as words_module

    older = SearchQuery("council", body="Oakland City Council")
    everything = [cid for cid, _ in index.store.search(older, None)["bm25"]]
    assert len(everything) > 3
    monkeypatch.setattr(words_module, "POSTING_BUDGET", 3)
    # A filter narrow enough is searched whole, every match in it scored…
    assert [cid for cid, _ in index.store.search(older, None)["bm25"]] == everything
    # …a wide one through the budget, counted within the filter.
    monkeypatch.setattr(words_module, "RANGE_SCAN", 0)
    newest = [cid for cid, _ in index.store.search(older, None)["bm25"]]
    # Boston was indexed after Oakland: the newest three overall are Boston's.
    assert sorted(newest) == sorted(everything)[-3:]


def test_the_index_owns_its_chunks_table(tmp_path: Path, minilm: Embedder) -> None:
    """The catalog alone makes no ``chunks`` table: the index creates it.
    A database from before, whose catalog made it, keeps its rows."""
    import sqlite3

    def tables(path: Path) -> set[str]:
        with sqlite3.connect(path) as conn:
            return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    catalog = Catalog(tmp_path / "new.db")
    assert "chunks" not in tables(tmp_path / "new.db")
    SearchIndex(catalog, "all-MiniLM-L6-v2", "http://app.example", embedder=minilm)
    assert "chunks" in tables(tmp_path / "new.db")
    catalog.close()

    older = tmp_path / "older.db"
    with sqlite3.connect(older) as conn:  # as catalog migration 1 used to leave it
        conn.executescript(
            "CREATE TABLE chunks (id INTEGER PRIMARY KEY, meeting_id INTEGER NOT NULL,"
            " seq INTEGER NOT NULL, start_time REAL NOT NULL, end_time REAL NOT NULL,"
            " text TEXT NOT NULL, speaker TEXT, UNIQUE (meeting_id, seq));"
            " INSERT INTO chunks VALUES (7, 1, 0, 0.0, 5.0, 'kept from before', NULL);"
        )
    catalog = Catalog(older)
    index = SearchIndex(catalog, "all-MiniLM-L6-v2", "http://app.example", embedder=minilm)
    assert [c.text for c in index.store.chunks([7]).values()] == ["kept from before"]
    catalog.close()
