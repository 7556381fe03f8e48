"""Words as Whisper writes them, and transcripts that loop: a code typed one
way finds it written every other way, a name finds its misspellings, a
common word keeps its meaning, and a repetition loop never reaches the
first page. Real MiniLM, real SQLite FTS5, and the same spellings on a real
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog import Catalog, Meeting
from search import SearchIndex, SearchQuery
from search.embed import Embedder
from search.fusion import LOOP_SHARE, loop_share
from search.pg_schema import PG_MIGRATIONS
from search.pg_store import PgStore
from search.schema import SQLITE_MIGRATIONS
from search.store import SQLiteStore
from search.variants import code_keys, sounds_like
from tests.test_retrieval import TURNS, council_segments

# A second meeting as a machine transcript writes it: the same agreement
# three ways, the sheriff's name three ways, the agency dotted, and a
# passage about a palace that a search for the police must not pull in.
WHISPERED = [
    (
        "Councilmember Ruiz",
        "The sheriff signed the 287G agreement in March, and the jail now holds people for federal agents "
        "for up to forty eight hours after they would otherwise be released.",
    ),
    (
        "Councilmember Okafor",
        "Under the 28-7G program the county pays for the training of deputies, but the federal government "
        "pays nothing toward the cost of the extra beds at the jail.",
    ),
    (
        "Public commenter",
        "My neighbour was detained after a traffic stop because of the 287-G deal, and her children waited "
        "at the school gate for hours before anyone came for them.",
    ),
    (
        "Chief Alvarez",
        "Sheriff Hutchins told the board that deputies only ask about status after someone is booked, "
        "never on the street.",
    ),
    (
        "Councilmember Webb",
        "I asked Sheriff Hutchings twice for the numbers of people handed over, and we are still waiting "
        "for an answer from his office.",
    ),
    (
        "Public commenter",
        "The I.C.E. agents waited in the courthouse hallway in plain clothes, and people missed their "
        "hearings because they were afraid to walk past them.",
    ),
    (
        "Director Park",
        "The palace theatre renovation is on schedule, and the historic ceiling will be restored by the "
        "end of next year with money from the state arts council.",
    ),
]
# Whisper stuck on a line over a noisy stretch of the recording.
LOOP = ("Clerk", "The jail and the agreement. " * 12)


def _meeting(catalog: Catalog, index: SearchIndex, title: str, turns: list[tuple[str, str]]) -> int:
    segments = council_segments(turns)
    meeting = catalog.add_meeting(
        Meeting(title=title, body="Springfield City Council", source_url=f"file:///{title}.mp4"),
        None,
        segments,
    )
    assert meeting.id is not None
    index.index_meeting(meeting.id, segments)
    return meeting.id


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, minilm: Embedder) -> Iterator[SearchIndex]:
    root: Path = tmp_path_factory.mktemp("variants")
    catalog = Catalog(root / "onrecord.db")
    index = SearchIndex(catalog, "all-MiniLM-L6-v2", "http://app.example", embedder=minilm)
    _meeting(catalog, index, "regular", TURNS)
    _meeting(catalog, index, "whispered", [*WHISPERED, LOOP])
    yield index
    catalog.close()


def keyword_texts(index: SearchIndex, typed: str) -> list[str]:
    found = index.store.search(SearchQuery(typed), None)["bm25"]
    chunks = index.store.chunks([cid for cid, _ in found])
    return [chunks[cid].text for cid, _ in found]


def test_a_code_is_one_key_however_it_is_written() -> None:
    for written in ("287(g)", "287G", "287-G", "28-7G", "287 (g)"):
        assert [key for key, _ in code_keys(f"the {written} agreement")] == ["#287g"], written
    assert code_keys("AR-15 and Bill C-7")[0][0] == "#ar15"
    assert [k for k, _ in code_keys("I.C.E. agents")] == ["#ice"]
    assert code_keys("the 2018-19 budget at 3 pm") == []


def test_typing_287g_finds_every_spelling(index: SearchIndex) -> None:
    for typed in ("287(g)", "287G", "287-g"):
        found = keyword_texts(index, typed)
        for written in ("287(g)", "287G", "28-7G", "287-G"):
            assert any(written in text for text in found), (typed, written)
    # And in the served hits, the quote is the sentence that says it.
    quotes = [hit.text for hit in index.search(SearchQuery("287(g)"))[:5]]
    assert any("28-7G" in q for q in quotes)


def test_a_name_finds_its_misspellings_and_a_common_word_keeps_its_meaning(index: SearchIndex) -> None:
    assert sounds_like("hutchens", "hutchins") and sounds_like("hutchens", "hutchings")
    found = keyword_texts(index, "Sheriff Hutchens")
    assert any("Hutchins" in t for t in found) and any("Hutchings" in t for t in found)
    # "police" and "palace" sound alike, but both are common words, not a
    # name and its misspelling.
    assert not sounds_like("police", "palace") and sounds_like("garcia", "garsia")
    assert not any("palace" in t for t in keyword_texts(index, "police"))


def test_ice_finds_the_agency_dotted(index: SearchIndex) -> None:
    found = keyword_texts(index, "ICE agents")
    assert any("I.C.E." in t for t in found) and any("ICE" in t for t in found)


def test_a_repetition_loop_never_reaches_the_first_page(index: SearchIndex) -> None:
    assert loop_share(LOOP[1]) >= LOOP_SHARE
    assert all(loop_share(text) < LOOP_SHARE for _, text in TURNS + WHISPERED)
    # BM25 alone puts the loop first: it says "jail" and "agreement" twelve times.
    assert "The jail and the agreement. The jail" in keyword_texts(index, "jail agreement")[0]
    assert index.store.vector_count() > 11
    hits = index.search(SearchQuery("jail agreement", limit=10))
    assert len(hits) == 10 and not any(h.context.startswith("The jail and the agreement.") for h in hits)


def test_an_older_store_learns_its_spellings_on_upgrade(
    tmp_path: Path, minilm: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = Catalog(tmp_path / "old.db")
    with monkeypatch.context() as patch:
        patch.setattr("search.store.SQLITE_MIGRATIONS", SQLITE_MIGRATIONS[:2])
        old = SearchIndex(catalog, "all-MiniLM-L6-v2", "http://app.example", embedder=minilm)
        _meeting(catalog, old, "whispered", WHISPERED)
        assert not any("28-7G" in t for t in keyword_texts(old, "287(g)"))
    # The upgrade says how far it has read (``onrecord db upgrade`` shows a bar).
    heard: list[tuple[int, int]] = []
    store = SQLiteStore.beside(catalog, "all-MiniLM-L6-v2", progress=lambda *done: heard.append(done))
    assert heard == [(1, 1)]
    upgraded = SearchIndex(catalog, "all-MiniLM-L6-v2", "http://app.example", embedder=minilm, store=store)
    assert any("28-7G" in t for t in keyword_texts(upgraded, "287(g)"))
    catalog.close()


def pg_index(catalog: Catalog, url: str, minilm: Embedder) -> SearchIndex:
    model = "all-MiniLM-L6-v2"
    return SearchIndex(catalog, model, "http://app.example", embedder=minilm, store=PgStore(url, model))


@pytest.fixture
def on_pg(tmp_path: Path, pg_url: str, minilm: Embedder) -> Iterator[SearchIndex]:
    catalog = Catalog(tmp_path / "onrecord.db")
    index = pg_index(catalog, pg_url, minilm)
    yield index
    index.close()
    catalog.close()


def test_postgresql_matches_the_same_spellings(on_pg: SearchIndex, index: SearchIndex) -> None:
    _meeting(on_pg.catalog, on_pg, "regular", TURNS)
    _meeting(on_pg.catalog, on_pg, "whispered", [*WHISPERED, LOOP])
    for typed in ("287(g)", "287G"):
        found = keyword_texts(on_pg, typed)
        for written in ("287(g)", "287G", "28-7G", "287-G"):
            assert any(written in text for text in found), (typed, written)
    found = keyword_texts(on_pg, "Sheriff Hutchens")
    assert any("Hutchins" in t for t in found) and any("Hutchings" in t for t in found)
    assert any("I.C.E." in t for t in keyword_texts(on_pg, "ICE agents"))
    # A word's spellings are one term: AND still needs both words.
    both = keyword_texts(on_pg, "Hutchens AND deputies")
    assert both == keyword_texts(index, "Hutchens AND deputies") and len(both) == 1
    assert "Hutchins told the board that deputies" in both[0]


def test_a_postgresql_store_learns_its_spellings_on_upgrade(
    tmp_path: Path, pg_url: str, minilm: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = Catalog(tmp_path / "onrecord.db")
    with monkeypatch.context() as patch:
        patch.setattr("search.pg_store.PG_MIGRATIONS", PG_MIGRATIONS[:2])
        patch.setattr(PgStore, "_add_variants", lambda self, texts, roster: None)  # as the old code did
        patch.setattr(PgStore, "_fill_variants", lambda self, progress=None: None)
        old = pg_index(catalog, pg_url, minilm)
        _meeting(catalog, old, "whispered", WHISPERED)
        old.close()
    heard: list[tuple[int, int]] = []
    store = PgStore(pg_url, "all-MiniLM-L6-v2", progress=lambda *done: heard.append(done))
    assert heard == [(1, 1)]
    upgraded = SearchIndex(catalog, "all-MiniLM-L6-v2", "http://app.example", embedder=minilm, store=store)
    assert any("28-7G" in t for t in keyword_texts(upgraded, "287(g)"))
    upgraded.close()
    catalog.close()


def test_a_members_name_finds_its_misspellings_however_often_it_is_said(
    tmp_path: Path, minilm: Embedder
) -> None:
    """Misspellings widen only a rare word, unless it is a known name: the
    body's roster (and a source's vocabulary) make "Herbold" one, though the
    clerk says it in every roll call."""
    catalog = Catalog(tmp_path / "onrecord.db")
    index = SearchIndex(catalog, "all-MiniLM-L6-v2", "http://app.example", embedder=minilm)
    roll = []
    for n in range(60):
        roll += [
            (
                "Clerk",
                f"On item {n} of the consent agenda, Councilmember Herbold votes aye, and so do the other"
                " members present in the chamber this afternoon, with none opposed and none abstaining.",
            ),
            (
                "Chair",
                f"Thank you, madam clerk. Item {n} passes unanimously, and the clerk will now read the next"
                " item into the record so that we can keep moving through this long agenda.",
            ),
        ]
    misheard = ("Chair Okafor", "I second what Councilmember Herbald said about the levy.")
    meeting_id = _meeting(catalog, index, "roll calls", [*roll, misheard])
    assert not any("Herbald" in t for t in keyword_texts(index, "Herbold"))  # a common word, unwidened
    catalog.persons.seat(catalog.persons.add_person("Lisa Herbold"), "Springfield City Council", None)
    index.index_meeting(meeting_id, catalog.segments(meeting_id))
    assert any("Herbald" in t for t in keyword_texts(index, "Herbold"))
    catalog.close()
