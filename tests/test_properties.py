"""Properties of the parsers that read what strangers write: caption files,
search queries and dates. Hypothesis makes up the input; every run tries the
same examples (derandomized, bounded), so CI is stable."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from catalog.errors import OnRecordError, QueryError, SourceError
from catalog.formats import clock, render
from catalog.types import Meeting, Segment, Word, parse_date
from search.query import SearchQuery, fts_expression, is_strict, or_terms, query_terms
from transcribe.captions import captions_to_segments, cues_to_segments, parse_cues, read_captions

BOUNDED = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# -- captions -----------------------------------------------------------------

stamp = st.builds(
    lambda h, m, s, ms, sep, hours: (f"{h}:" if hours else "") + f"{m:02d}:{s:02d}{sep}{ms:03d}",
    st.one_of(st.integers(0, 99), st.integers(0, 10**400)),
    st.integers(0, 99),
    st.integers(0, 99),
    st.integers(0, 999),
    st.sampled_from([".", ","]),
    st.booleans(),
)
caption_line = st.one_of(
    st.builds(lambda a, b: f"{a} --> {b}", stamp, stamp),
    st.text(max_size=60),
    st.sampled_from(["WEBVTT", "", "NOTE a note", ">> ", "<c>word</c>", "<00:00:01.500>", "1", "&amp;"]),
)
caption_file = st.lists(caption_line, max_size=30).map("\n".join)


@BOUNDED
@given(caption_file)
@example("00:00:01.000 --> 00:00:02.000\n" + "9" * 5000 + ":00:00.000 --> 00:00:03.000\nhi")
def test_any_caption_text_parses_without_an_unhandled_error(text: str) -> None:
    for segment in cues_to_segments(parse_cues(text)):
        assert segment.start <= segment.end
        assert all(w.start <= w.end for w in segment.words)


@BOUNDED
@given(st.binary(max_size=2000) | caption_file.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_caption_file_is_read_or_refused_with_a_message(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "minutes.vtt"
    path.write_bytes(data)
    try:
        segments = read_captions(path)
    except SourceError as exc:
        assert str(exc).startswith("minutes.vtt: ")
    else:
        assert segments


WORD = st.one_of(
    st.sampled_from(["Aye.", "aye", "the", "roll", "call", "287(g)", "won't", "Present.", "chair,", "agree"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC'", min_size=1, max_size=8),
)


@st.composite
def transcripts(draw: st.DrawFn) -> list[Segment]:
    """Segments as Whisper leaves them: in order, each a few words long,
    lasting at least a tenth of a second."""
    segments = []
    clock_ms = draw(st.integers(0, 10_000))
    for _ in range(draw(st.integers(1, 12))):
        clock_ms += draw(st.integers(0, 3000))
        length = draw(st.integers(100, 8000))
        words = draw(st.lists(WORD, min_size=1, max_size=12))
        start, end = clock_ms / 1000, (clock_ms + length) / 1000
        segments.append(Segment(start, end, " ".join(words), [Word(start, end, f" {w}") for w in words]))
        clock_ms += length
    return segments


@BOUNDED
@given(transcripts())
@example([Segment(0.0, 1.0, "Aye."), Segment(1.0, 2.0, "Aye."), Segment(2.0, 3.0, "Aye.")])
@example([Segment(0.0, 1.0, "we agree"), Segment(1.0, 2.5, "agree with the chair")])
def test_a_transcript_exported_as_vtt_imports_back_to_the_same_words_and_times(
    segments: list[Segment],
) -> None:
    meeting = Meeting(title="T", body="B", source_url="x")
    vtt = render(meeting, segments, "vtt")
    cues = parse_cues(vtt)
    assert [(clock(c.start), clock(c.end), c.text) for c in cues] == [
        (clock(s.start), clock(s.end), s.text) for s in segments
    ]
    words = [w for s in captions_to_segments(vtt) for w in s.words]
    assert [w.word.strip() for w in words] == [t for s in segments for t in s.text.split()]
    # Each exported segment's words start at its start and end at its end.
    at = 0
    for segment in segments:
        mine = words[at : at + len(segment.text.split())]
        at += len(mine)
        assert round(mine[0].start, 3) == round(segment.start, 3)
        assert round(mine[-1].end, 3) == round(segment.end, 3)
        assert all(segment.start - 0.001 <= w.start <= w.end <= segment.end + 0.001 for w in mine)


def test_roll_up_captions_are_still_merged() -> None:
    """What the merging is for: broadcast roll-up captions, where each cue
    repeats the line before it, and YouTube's 10 ms filler cues."""
    vtt = (
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nthe clerk will\ncall the roll\n\n"
        "00:00:03.000 --> 00:00:05.000\ncall the roll\ncouncilmember fife\n\n"
        "00:00:05.000 --> 00:00:05.010\ncouncilmember fife\n\n"
        "00:00:05.010 --> 00:00:07.000\ncouncilmember fife\npresent\n"
    )
    words = [w.word.strip() for s in cues_to_segments(parse_cues(vtt)) for w in s.words]
    assert words == "the clerk will call the roll councilmember fife present".split()


# -- queries ------------------------------------------------------------------

query_text = st.one_of(
    st.text(max_size=80),
    st.lists(
        st.one_of(
            st.sampled_from(['"', "*", "(", ")", "AND", "OR", "NOT", "NEAR", "^", ":", "-", "+", "287(g)"]),
            st.from_regex(r"[\w']{1,8}\*?", fullmatch=True),
            st.text(alphabet=st.characters(categories=["L", "N", "P", "S", "Zs"]), max_size=6),
        ),
        max_size=12,
    ).map(" ".join),
)


@pytest.fixture(scope="module")
def fts() -> sqlite3.Connection:
    """A real FTS5 table, tokenized as the index's is."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(text, speaker, tokenize='porter unicode61')")
    conn.execute("INSERT INTO t VALUES ('the police chief said 287(g) agreements end', 'Chief Ruiz')")
    return conn


@BOUNDED
@given(query_text)
@example('"_"*')
@example("NOT")
@example("a OR OR b")
def test_the_fts_expression_is_always_valid_fts5(fts: sqlite3.Connection, text: str) -> None:
    expression = fts_expression(text)
    if expression is not None:
        fts.execute("SELECT count(*) FROM t WHERE t MATCH ?", (expression,)).fetchone()
    or_terms(text)
    is_strict(text)
    query_terms(text)


@BOUNDED
@given(
    query_text,
    st.none() | st.text(max_size=12),
    st.none() | st.text(max_size=12),
    st.integers(-5, 200),
    st.integers(-5, 2000),
    st.sampled_from(["relevance", "date", "random"]),
)
def test_a_search_request_is_accepted_or_refused_with_a_query_error(
    text: str, since: str | None, until: str | None, limit: int, offset: int, order: str
) -> None:
    try:
        q = SearchQuery(text, since=since, until=until, limit=limit, offset=offset, order=order)
    except QueryError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert q.text == q.text.strip() and 1 <= q.limit <= 100


# -- dates --------------------------------------------------------------------


@BOUNDED
@given(st.text(max_size=20))
@example("2024-02-30")
@example("20240305")
@example(" 2024-03-05\n")
def test_any_date_text_is_a_date_or_a_clean_error(text: str) -> None:
    try:
        value = parse_date(text, "--since")
    except OnRecordError as exc:
        assert "use YYYY-MM-DD" in str(exc)
    else:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)
        assert dt.date.fromisoformat(value)


@BOUNDED
@given(st.dates())
def test_every_date_round_trips(day: dt.date) -> None:
    assert parse_date(day.isoformat()) == day.isoformat()
    assert parse_date(f"  {day.isoformat()} ") == day.isoformat()
