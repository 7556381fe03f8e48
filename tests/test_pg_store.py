"""The PostgreSQL + pgvector store against the SQLite one, on a real
PostgreSQL 18 with pgvector 0.8, real caption transcripts and real MiniLM:
the same meetings give the same keyword matches, the same filters and the
same exact-vector neighbours; a broad filter still fills a page through
the HNSW index; and a refused write leaves nothing behind."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
import pytest

from catalog import Catalog, Chunk, Meeting, OnRecordError
from catalog.pg import check_schema, connect
from search import SearchIndex, SearchQuery
from search.chunking import chunk_segments
from search.embed import Embedder
from search.pg_schema import PG_MIGRATIONS
from search.pg_store import PgStore
from search.storage import CANDIDATES
from tests.conftest import shared
from tests.pg import LocalPostgres
from transcribe.captions import read_captions

MODEL = "all-MiniLM-L6-v2"
MEETINGS = [
    ("oakland", "Oakland City Council", "2022-08-09"),
    ("boston", "Boston City Council", "2023-03-01"),
]


@dataclass
class Indexed:
    meeting_id: int
    body: str
    date: str
    chunks: list[Chunk]
    vectors: np.ndarray


@pytest.fixture(scope="module")
def meetings(minilm: Embedder) -> list[Indexed]:
    """Two real meetings' first 150 caption segments, chunked and embedded once."""
    out = []
    for meeting_id, (name, body, date) in enumerate(MEETINGS, 1):
        segments = read_captions(shared(f"captions/{name}_captions.vtt"))[:150]
        for seg in segments:
            seg.speaker = "Clerk" if "roll" in seg.text.lower() else None
        chunks = chunk_segments(meeting_id, segments)
        out.append(Indexed(meeting_id, body, date, chunks, minilm.embed([c.text for c in chunks])))
    return out


@pytest.fixture
def pg(pg_url: str) -> Iterator[PgStore]:
    store = PgStore(pg_url, MODEL)
    yield store
    store.close()


def fill(pg: PgStore, meetings: list[Indexed]) -> None:
    for m in meetings:
        pg.index_meeting(
            m.meeting_id, [_copy(c) for c in m.chunks], m.vectors, "v1", body=m.body, date=m.date
        )


@pytest.fixture
def sqlite(tmp_path: Path, meetings: list[Indexed], minilm: Embedder) -> Iterator[SearchIndex]:
    catalog = Catalog(tmp_path / "onrecord.db")
    for m in meetings:
        meeting = Meeting(title=m.body, body=m.body, source_url="https://example.org", date=m.date)
        catalog.add_meeting(meeting, None)
    index = SearchIndex(catalog, MODEL, "http://app.example", embedder=minilm)
    for m in meetings:
        index.store.index_meeting(m.meeting_id, [_copy(c) for c in m.chunks], m.vectors, "v1")
    yield index
    catalog.close()


def _copy(chunk: Chunk) -> Chunk:
    return Chunk.from_dict({**chunk.to_dict(), "id": None})


def _places(store: object, ids: list[int]) -> list[tuple[int, int]]:
    records = store.chunks(ids)  # type: ignore[attr-defined]
    return [(records[i].meeting_id, records[i].seq) for i in ids if i in records]


QUERIES = [
    SearchQuery('"public comment"'),
    SearchQuery("housing OR homelessness"),
    SearchQuery("council* NOT president"),
    SearchQuery("docket appointment", body="boston city council"),
    SearchQuery("homeless", since="2023-01-01"),
    SearchQuery("roll", speaker="clerk"),
    SearchQuery("consent calendar", meeting_id=1),
]


@pytest.mark.parametrize(
    "query", QUERIES, ids=lambda q: f"{q.text}|{q.body or q.since or q.speaker or q.meeting_id}"
)
def test_same_keyword_matches_and_filters(
    pg: PgStore, sqlite: SearchIndex, meetings: list[Indexed], minilm: Embedder, query: SearchQuery
) -> None:
    fill(pg, meetings)
    vector = minilm.embed_batch([query.text])[0]
    ours, theirs = pg.search(query, vector), sqlite.store.search(query, vector)
    assert theirs["bm25"], "the query matches something on SQLite"
    # Porter (SQLite) and Snowball (PostgreSQL) stem a few words apart, so
    # the matched passages agree almost, not exactly; their order differs.
    a, b = (
        set(_places(pg, [i for i, _ in ours["bm25"]])),
        set(_places(sqlite.store, [i for i, _ in theirs["bm25"]])),
    )
    assert len(a & b) >= 0.9 * max(len(a), len(b)), (sorted(a - b), sorted(b - a))
    # Every passage either store returns for meaning passes the filters.
    for store, found in ((pg, ours), (sqlite.store, theirs)):
        for meeting_id, _ in _places(store, [i for i, _ in found["dense"]]):
            assert query.meeting_id in (None, meeting_id)
            body = next(m.body for m in meetings if m.meeting_id == meeting_id)
            assert query.body is None or body.lower() == query.body.lower()


def test_exact_vector_neighbours_agree(
    pg: PgStore, sqlite: SearchIndex, meetings: list[Indexed], minilm: Embedder
) -> None:
    """A filter leaving few rows is scanned exactly: the neighbours are the
    float32 scan's, up to halfvec rounding between near ties."""
    fill(pg, meetings)
    for text in ["money for homeless families", "the consent calendar"]:
        query = SearchQuery(text, body="Oakland City Council")
        vector = minilm.embed_batch([text])[0]
        ours = _places(pg, [i for i, _ in pg.search(query, vector)["dense"]])
        theirs = _places(sqlite.store, [i for i, _ in sqlite.store.search(query, vector)["dense"]])
        assert len(ours) == len(theirs) == min(CANDIDATES, len(meetings[0].chunks))
        assert ours[:3] == theirs[:3]
        assert len(set(ours[:20]) & set(theirs[:20])) >= 18


def test_a_broad_filter_still_fills_a_page(
    pg: PgStore, meetings: list[Indexed], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the exact-scan threshold, a filter goes through the HNSW index,
    which alone would return ef_search rows before filtering and so a short
    page; the iterative scan keeps walking until the page is full."""
    rng = np.random.default_rng(7)
    source = np.vstack([m.vectors for m in meetings])
    texts = [c.text for m in meetings for c in m.chunks]
    for copy in range(12):  # 12 meetings over 3 bodies, real passages, vectors nudged
        picks = rng.integers(0, len(texts), 250)
        vectors = source[picks] + rng.normal(0, 0.02, (len(picks), source.shape[1])).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        chunks = [Chunk(100 + copy, i, i * 10.0, i * 10.0 + 9, texts[p]) for i, p in enumerate(picks)]
        pg.index_meeting(100 + copy, chunks, vectors, "v1", body=f"Body {copy % 3}", date="2024-01-01")
    monkeypatch.setattr("search.pg_store.EXACT_ROWS", 100)
    query = SearchQuery("housing", body="Body 1")
    found = pg.search(query, source[0])["dense"]
    assert len(found) == CANDIDATES
    assert {c.meeting_id % 3 for c in pg.chunks([i for i, _ in found]).values()} == {101 % 3}
    monkeypatch.setattr("search.pg_store.EXACT_ROWS", 10_000)
    exact = pg.search(query, source[0])["dense"]
    overlap = len({i for i, _ in found} & {i for i, _ in exact})
    assert overlap >= 0.9 * CANDIDATES, "the index walk finds nearly the exact neighbours"


def test_a_refused_write_leaves_the_meeting_as_it_was(pg: PgStore, meetings: list[Indexed]) -> None:
    fill(pg, meetings)
    before = pg.vector_count()

    def stale(conn: psycopg.Connection) -> None:
        raise OnRecordError("another worker holds this meeting now")

    m = meetings[0]
    with pytest.raises(OnRecordError, match="another worker"):
        pg.index_meeting(
            m.meeting_id, [_copy(c) for c in m.chunks[:3]], m.vectors[:3], "v2", body=m.body, fence=stale
        )
    assert pg.vector_count() == before
    assert pg.indexed_versions() == {1: "v1", 2: "v1"}


def test_reindex_rename_and_delete_keep_counts_right(pg: PgStore, meetings: list[Indexed]) -> None:
    fill(pg, meetings)
    fill(pg, meetings)  # a rerun replaces, never duplicates
    total = sum(len(m.chunks) for m in meetings)
    assert pg.vector_count() == total
    rows = pg.conn.execute(
        "SELECT count(*), count(DISTINCT (model_id, meeting_id, seq)) FROM chunks"
    ).fetchone()
    assert rows == (total, total)
    assert pg.has_speaker("clerk") and not pg.has_speaker("Jason Lando")
    pg.rename_speaker(1, "Clerk", "Jason Lando")
    assert pg.has_speaker("jason lando")
    assert pg.search(SearchQuery("lando"), None)["bm25"], "the new name is searchable"
    pg.delete_meeting(1)
    assert pg.vector_count() == len(meetings[1].chunks)
    assert pg.indexed_versions() == {2: "v1"}
    stats = pg.conn.execute("SELECT count(*) FROM term_stats WHERE lexeme = 'lando'").fetchone()
    assert stats == (0,), "a deleted meeting's words leave the document counts"
    pg.start_rebuild()
    assert pg.vector_count() == 0 and pg.indexed_versions() == {}


def test_many_writers_at_once(pg_url: str, meetings: list[Indexed]) -> None:
    """Workers publishing different meetings at once neither deadlock on the
    shared term counts nor lose a meeting."""
    errors: list[BaseException] = []

    def publish(offset: int) -> None:
        store = PgStore(pg_url, MODEL)
        try:
            for m in meetings:
                chunks = [
                    Chunk.from_dict({**c.to_dict(), "id": None, "meeting_id": 10 * offset + m.meeting_id})
                    for c in m.chunks
                ]
                store.index_meeting(10 * offset + m.meeting_id, chunks, m.vectors, "v1", body=m.body)
        except BaseException as exc:  # noqa: BLE001  reported below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(1, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    store = PgStore(pg_url, MODEL)
    assert len(store.indexed_versions()) == 6
    store.close()


def test_bad_database_urls_say_what_to_do(pg_server: object) -> None:
    with pytest.raises(
        OnRecordError, match="Cannot reach the database at postgresql://onrecord:\\*\\*\\*@"
    ) as info:
        connect("postgresql://onrecord:secret@/onrecord?host=/nonexistent&port=1")
    assert "secret" not in str(info.value) and "\n" not in str(info.value)


def test_a_database_without_pgvector_rights_says_so(pg_url: str) -> None:
    role = f"reader_{uuid.uuid4().hex[:8]}"  # roles outlive the test's database
    admin = connect(pg_url)
    admin.execute(f"CREATE ROLE {role} LOGIN")
    admin.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
    admin.close()
    with pytest.raises(OnRecordError, match="CREATE EXTENSION vector"):
        PgStore(pg_url.replace("postgres@", f"{role}@"), MODEL)


def test_a_schema_older_than_the_code_asks_for_an_upgrade(pg_url: str) -> None:
    conn = connect(pg_url)
    with pytest.raises(OnRecordError, match="run: onrecord db upgrade"):
        check_schema(conn, "search_pg", PG_MIGRATIONS)
    PgStore(pg_url, MODEL).close()
    check_schema(conn, "search_pg", PG_MIGRATIONS)
    conn.close()


def test_the_store_recovers_after_the_database_restarts(pg_server: LocalPostgres, pg: PgStore) -> None:
    """The call that finds the server gone says to try again; the next one
    reconnects by itself."""
    pg.index_meeting(1, [Chunk(1, 0, 0.0, 4.0, "the budget hearing")], np.eye(1, 384, dtype=np.float32), "v1")
    pg_server.restart()
    with pytest.raises(OnRecordError, match="not answering .*try again in a moment"):
        pg.search(SearchQuery("budget"), None)
    assert pg.search(SearchQuery("budget"), None)["bm25"]


OPERATOR_TEXTS = [
    "the police chief spoke about immigration agents",
    "immigration enforcement and the sheriff",
    "a motion on the 287(g) agreement with the sheriff",
    "parks budget hearing tonight",
    "the budget for police overtime",
    "agents of change in the parks department",
]


@pytest.mark.parametrize(
    "text",
    [
        "police OR parks",
        "police AND budget",
        "budget NOT police",
        "sheriff OR parks NOT budget",
        "immigration AND sheriff OR hearing",
        '"police chief"',
        "287(g)",
        "immigration*",
        "agent*",
    ],
)
def test_operators_match_as_on_sqlite(tmp_path: Path, pg: PgStore, text: str) -> None:
    """Phrases, prefixes and AND / OR / NOT (NOT binding tightest, then
    AND) match the same passages in both stores."""
    vectors = np.eye(len(OPERATOR_TEXTS), 384, dtype=np.float32)
    catalog = Catalog(tmp_path / "onrecord.db")
    catalog.add_meeting(Meeting(title="t", body="Body", source_url="https://example.org"), None)
    index = SearchIndex(catalog, MODEL, "http://app.example")
    chunks = [Chunk(1, i, i * 5.0, i * 5.0 + 4, t) for i, t in enumerate(OPERATOR_TEXTS)]
    index.store.index_meeting(1, [_copy(c) for c in chunks], vectors, "v1")
    pg.index_meeting(1, [_copy(c) for c in chunks], vectors, "v1", body="Body")
    query = SearchQuery(text)
    theirs = _places(index.store, [i for i, _ in index.store.search(query, None)["bm25"]])
    ours = _places(pg, [i for i, _ in pg.search(query, None)["bm25"]])
    catalog.close()
    assert theirs, "the case matches something"
    assert sorted(ours) == sorted(theirs)


def test_what_the_index_asks_of_a_store_beyond_search(pg: PgStore, meetings: list[Indexed]) -> None:
    """Searches drawn deeper than a page (a section filter above the store),
    the chunks inside a meeting's spans, a generation that moves with every
    change, and how many passages hold each term."""
    before = pg.generation()
    fill(pg, meetings)
    after = pg.generation()
    assert after > before
    query = SearchQuery("council")
    vector = meetings[0].vectors[0]
    for copy in range(1, 4):  # past CANDIDATES passages: only a deeper draw returns them all
        for m in meetings:
            chunks = [
                Chunk.from_dict({**c.to_dict(), "id": None, "meeting_id": 10 * copy + m.meeting_id})
                for c in m.chunks
            ]
            pg.index_meeting(10 * copy + m.meeting_id, chunks, m.vectors, "v1", body=m.body)
    every = pg.vector_count()
    assert every > CANDIDATES
    shallow, deep = pg.search(query, vector, depth=3), pg.search(query, vector, depth=every)
    assert len(shallow["dense"]) == 3 and len(shallow["bm25"]) <= 3
    assert len(deep["dense"]) == every, "an iterative scan walks past ef_search"
    assert [round(d, 3) for _, d in deep["dense"][:3]] == [round(d, 3) for _, d in shallow["dense"]]
    first = meetings[0]
    start, end = first.chunks[2].start, first.chunks[5].start
    inside = pg.chunks_within({first.meeting_id: [(start, end)]})
    assert sorted(pg.chunks(list(inside))[i].seq for i in inside) == [2, 3, 4]
    assert pg.chunks_within({}) == frozenset()
    total, counts = pg.term_counts(['"council"', '"roll call"', '"roll" OR "rolls"', '"zyzzyva"'])
    assert total == pg.vector_count()
    assert (
        counts['"council"'] > counts['"roll" OR "rolls"'] >= counts['"roll call"'] > 0 == counts['"zyzzyva"']
    )
    pg.delete_meeting(first.meeting_id)
    assert pg.generation() > after
