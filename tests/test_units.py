"""The small pieces, each on real inputs: FTS5 query translation against a
real FTS5 table, chunking, deep links, dates and JSON round trips."""

from __future__ import annotations

import json
import sqlite3

import pytest

from catalog import Chunk, Hit, Meeting, OnRecordError, Segment, Word, parse_date
from catalog.formats import clock
from ingest import date_in_text
from search.chunking import chunk_segments
from search.links import deep_link
from search.query import fts_expression, reported_remark

HOSTILE = [
    "call the roll",
    '"call the roll"',
    '"unclosed phrase',
    "NOT",
    "AND OR NOT",
    "police NOT",
    "NOT police",
    "287(g)",
    "won't",
    "ICE*",
    "*",
    '"',
    '""',
    "(((",
    ")",
    "a:b",
    "col:term",
    "NEAR(a b)",
    "^start",
    "x OR",
    "{a b}",
    "-minus",
    "+plus",
    "'; DROP TABLE chunks; --",
    "émigré café",
    "日本語",
    "🙂",
    'a"b"c',
    "\\",
    "%_",
    "OR OR OR police",
]


@pytest.fixture
def fts() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize='porter unicode61')")
    conn.executemany(
        "INSERT INTO t (text) VALUES (?)",
        [
            ("Madam Clerk, will you please call the roll?",),
            ("The 287(g) agreement with ICE was discussed.",),
            ("Police won't help immigration agents.",),
        ],
    )
    return conn


@pytest.mark.parametrize("typed", HOSTILE)
def test_anything_typed_is_a_valid_fts5_query(fts: sqlite3.Connection, typed: str) -> None:
    expression = fts_expression(typed)
    if expression is not None:
        fts.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,)).fetchall()


def test_fts_expressions_keep_the_users_intent(fts: sqlite3.Connection) -> None:
    def rows(typed: str) -> list[int]:
        return [r[0] for r in fts.execute("SELECT rowid FROM t WHERE t MATCH ?", (fts_expression(typed),))]

    assert rows('"call the roll"') == [1]
    assert rows("287(g)") == [2]
    assert rows("won't") == [3]
    assert rows("immigr*") == [3]
    assert sorted(rows("roll ICE")) == [1, 2]  # plain words are OR-ed
    assert rows("police NOT immigration") == []
    assert rows("roll AND clerk") == [1]


def test_a_described_remark_is_read_apart_from_who_said_it() -> None:
    """The dense side weighs the remark itself (SearchIndex.query_vector)."""
    assert reported_remark("police chief says officers won't help immigration agents") == (
        "officers won't help immigration agents"
    )
    assert reported_remark("a pastor said that the raids kept families home from church") == (
        "the raids kept families home from church"
    )
    # Questions about what someone said, typed keywords and short leftovers are left whole.
    assert reported_remark("What did the mayor say about the police budget and overtime?") is None
    assert reported_remark('the chief said "no cooperation with ICE agents at all"') is None
    assert reported_remark("the clerk said yes") is None
    assert reported_remark("affordable housing near the new transit station") is None


def _segment(start: float, text: str, speaker: str | None = None) -> Segment:
    words, t = [], start
    for token in text.split():
        words.append(Word(t, t + 0.4, " " + token))
        t += 0.5
    return Segment(start, t, text, words, speaker=speaker)


def test_chunks_follow_sentences_and_speakers() -> None:
    long_turn = (
        "We have reviewed the budget line by line with the finance committee, and the police overtime"
        " grew again this year, by more than the council allowed in the spring."
    )
    segments = [
        _segment(0, "Good morning. Madam Clerk, please call the roll.", "Chair"),
        _segment(5, "Juarez. Here. Gonzalez. Here.", "Clerk"),
        _segment(9, "Thank you. The agenda is adopted.", "Chair"),
        _segment(14, long_turn, "Budget Director"),
        _segment(30, "Thank you, director.", "Chair"),
    ]
    chunks = chunk_segments(7, segments)
    # The clerk's short roll call stays with the question it answers (and the
    # chair's thanks with the answer); a real turn starts its own chunk.
    assert [c.speaker for c in chunks] == ["Chair", "Budget Director"]
    assert chunks[0].text.startswith("Good morning. Madam Clerk, please call the roll. Juarez.")
    assert chunks[1].text == long_turn + " Thank you, director."
    assert (chunks[1].start, chunks[1].meeting_id, chunks[1].seq) == (14, 7, 1)


def test_caption_turns_split_chunks_like_speakers() -> None:
    first = _segment(0, "This is a long statement from the first person who speaks at the meeting today " * 2)
    second = _segment(9, "And this is a long answer from a second person who was marked by the captions " * 2)
    first.turn, second.turn = 0, 1
    assert len(chunk_segments(1, [first, second])) == 2


def test_chunks_stay_quote_sized_and_end_on_sentences() -> None:
    sentence = "This sentence has exactly eight words in it."
    segments = [_segment(i * 5, sentence) for i in range(40)]
    chunks = chunk_segments(1, segments, max_words=50)
    assert all(len(c.text.split()) <= 50 for c in chunks)
    assert all(c.text.endswith(".") for c in chunks)
    assert sum(len(c.text.split()) for c in chunks) == 40 * 8


@pytest.mark.parametrize(
    "source, expected",
    [
        ("https://www.youtube.com/watch?v=abc123", "https://www.youtube.com/watch?v=abc123&t=95s"),
        ("https://youtu.be/abc123", "https://youtu.be/abc123?t=95s"),
        ("https://archive.org/details/council-2024", "https://archive.org/details/council-2024?start=95"),
        ("https://city.example.gov/media/council.mp4", "https://city.example.gov/media/council.mp4#t=95"),
        ("https://city.example.gov/video/1234", "http://app.example/meetings/3#t=95"),
        ("file:///tmp/council.mp4", "http://app.example/meetings/3#t=95"),
    ],
)
def test_deep_links_point_at_the_second(source: str, expected: str) -> None:
    assert deep_link(source, 95.7, 3, "http://app.example/") == expected


def test_dates() -> None:
    assert parse_date(" 2024-03-05 ") == "2024-03-05"
    with pytest.raises(OnRecordError, match="YYYY-MM-DD"):
        parse_date("March 5")
    assert date_in_text("Council Meeting - March 5, 2024") == "2024-03-05"
    assert date_in_text("council_20240305") == "2024-03-05"
    assert date_in_text("Regular Meeting 3/5/2024") == "2024-03-05"
    assert date_in_text("Item 12345678") is None
    assert clock(3723.5) == "01:02:03.500"


def test_records_round_trip_through_json() -> None:
    records = [
        Meeting(title="t", body="b", source_url="u", date="2024-01-02", id=4),
        Segment(1.0, 2.0, "hi", [Word(1.0, 1.5, " hi", 0.9)], speaker="SPEAKER_1", avg_logprob=-0.2),
        Chunk(meeting_id=1, seq=0, start=1.0, end=2.0, text="hi", speaker=None, id=9),
        Hit(1, "t", None, "b", 1.0, 2.0, None, "hi", 0.5, "u"),
    ]
    for record in records:
        assert type(record).from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_the_example_sources_file_is_valid() -> None:
    from pathlib import Path

    from onrecord.config import load_config

    config = load_config(Path(__file__).resolve().parents[1] / "sources.example.toml")
    [pittsburgh] = config.sources
    assert pittsburgh.body == "Pittsburgh City Council" and "287(g)" in pittsburgh.vocabulary
    assert config.ytdlp == {"sleep_interval_requests": 5.0, "sleep_interval": 5.0}


# Stores that own a connection; everyone else reaches the books through
# ``Catalog`` (catalog.speakers, .votes, ...) and ``search.alerts.alerts_book``.
CONNECTION_OWNERS = {
    "search/store.py",
    "search/sqlite_words.py",
    "search/sqlite_variants.py",
    "search/pg_store.py",
    "search/pg_words.py",
    "search/pg_variants.py",
    "search/alerts.py",
    "onrecord/jobs.py",  # the job queue is a store of its own
    "web/services.py",  # hands each request its read-only catalog, and rolls it back
}


def test_nobody_outside_a_store_touches_a_connection() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    found = [
        f"{path.relative_to(root)}:{n}: {line.strip()}"
        for package in ("onrecord", "web", "search")
        for path in sorted((root / package).rglob("*.py"))
        if str(path.relative_to(root)) not in CONNECTION_OWNERS
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"(?<!self)\.conn\b", line)
    ]
    assert not found, "\n".join(found)


# Each store is one class in parts; its own modules are not its callers.
STORE_MODULES = (
    "store.py",
    "sqlite_words.py",
    "sqlite_variants.py",
    "pg_store.py",
    "pg_words.py",
    "pg_variants.py",
)


def test_the_store_interface_lists_every_method_its_callers_use() -> None:
    """Fusion, the CLI, the web and the workers reach a store only through
    ``search.storage.Store``, so a PostgreSQL store that implements it serves
    all of them; both stores implement every method."""
    import inspect
    import re
    from pathlib import Path

    from search.pg_store import PgStore
    from search.storage import Store
    from search.store import SQLiteStore

    root = Path(__file__).resolve().parents[1]
    called = {
        name
        for package in ("onrecord", "web", "search")
        for path in sorted((root / package).rglob("*.py"))
        if path.name not in STORE_MODULES
        for name in re.findall(r"\bstore\.([a-z]\w*)\(", path.read_text())
    }
    declared = {name for name, _ in inspect.getmembers(Store, inspect.isfunction)}
    assert called, "the scan found no calls: the pattern is stale"
    assert called <= declared, f"called but not in Store: {sorted(called - declared)}"
    for store in (SQLiteStore, PgStore):
        assert not store.__abstractmethods__, f"{store.__name__} lacks {sorted(store.__abstractmethods__)}"
