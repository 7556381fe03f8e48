"""The Flask app over the real indexed Seattle meeting, through its test client:
every route, filters, exports, API shapes, 404s and hostile input."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from catalog import Meeting, Segment, load_settings
from tests.conftest import catalog_for
from web import create_app


@pytest.fixture
def client(seattle_home: tuple[Path, str]) -> Iterator[FlaskClient]:
    home, _ = seattle_home
    app = create_app(load_settings(home))
    app.testing = True
    with app.test_client() as client:
        yield client


def top_hit(client: FlaskClient, q: str = "call the roll") -> dict:
    return client.get("/api/search", query_string={"q": q}).get_json()["results"][0]


def test_search_page_shows_the_quote_with_play_source_and_cite(client: FlaskClient) -> None:
    top = top_hit(client)
    html = client.get("/?q=call+the+roll").get_data(as_text=True)
    start, end = top["start"], top["end"]
    assert f'class="play" href="/meetings/1?hit={start:.1f}-{end:.1f}#t={int(start)}"' in html
    assert f'class="source" href="{top["url"]}"' in html
    assert "<mark>call</mark> the <mark>roll</mark>" in html  # matching words highlighted
    assert 'class="cite" data-cite="“' in html and "Seattle City Council" in html
    assert "&gt; " in html  # the Markdown citation's blockquote, escaped in the attribute


def test_security_headers(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_api_search_matches_the_cli_contract(client: FlaskClient) -> None:
    data = client.get("/api/search?q=call+the+roll&body=Seattle+City+Council&limit=3").get_json()
    assert data["query"] == "call the roll"
    assert 1 <= len(data["results"]) <= 3
    top = data["results"][0]
    assert {
        "meeting_id",
        "meeting_title",
        "meeting_date",
        "body",
        "start",
        "end",
        "speaker",
        "text",
        "score",
        "url",
    } <= set(top)
    assert top["start"] <= 38 and top["end"] >= 48


def test_pages_and_order(client: FlaskClient) -> None:
    first = client.get("/api/search?q=council&limit=2").get_json()["results"]
    second = client.get("/api/search?q=council&limit=2&page=2").get_json()["results"]
    assert first and second and first[0]["start"] != second[0]["start"]
    by_date = client.get("/api/search?q=council&order=date").get_json()["results"]
    assert by_date  # one meeting: in the order it was said
    assert [h["start"] for h in by_date] == sorted(h["start"] for h in by_date)
    html = client.get("/?q=council&limit=2").get_data(as_text=True)
    assert 'rel="next"' in html and "page=2" in html


def test_search_exports(client: FlaskClient) -> None:
    response = client.get("/api/search?q=executive+session&format=csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert rows and rows[0]["body"] == "Seattle City Council" and float(rows[0]["start"]) >= 0
    assert "attachment" in response.headers["Content-Disposition"]


@pytest.mark.parametrize(
    "fmt, marker", [("txt", "[00:00:"), ("vtt", "WEBVTT"), ("srt", " --> "), ("json", '"segments"')]
)
def test_transcript_exports(client: FlaskClient, fmt: str, marker: str) -> None:
    response = client.get(f"/meetings/1/transcript.{fmt}")
    assert response.status_code == 200 and marker in response.get_data(as_text=True)
    assert client.get("/meetings/1/transcript.docx").status_code == 404


def test_openapi_describes_the_api(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/search", "/api/meetings", "/api/meetings/{id}"} <= set(spec["paths"])


@pytest.mark.parametrize("q", ['"', "NOT", "((", "x" * 10_000, "", "287(g) AND", "<script>alert(1)</script>"])
def test_hostile_queries_never_500(client: FlaskClient, q: str) -> None:
    api = client.get("/api/search", query_string={"q": q})
    assert api.status_code in (200, 400)
    assert "error" in api.get_json() or "results" in api.get_json()
    page = client.get("/", query_string={"q": q})
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "args",
    [
        {"q": "roll", "since": "soon"},
        {"q": "roll", "body": "Nowhere"},
        {"q": "roll", "limit": "x"},
        {"q": "roll", "speaker": "Nobody"},
        {"q": "roll", "since": "2020-01-01", "until": "2019-01-01"},
        {"q": "roll", "order": "loudest"},
        {"q": "roll", "page": "-1"},
    ],
)
def test_api_bad_filters_are_400_with_a_message(client: FlaskClient, args: dict) -> None:
    response = client.get("/api/search", query_string=args)
    assert response.status_code == 400 and response.get_json()["error"]


def test_meetings_and_meeting_pages(client: FlaskClient) -> None:
    listing = client.get("/meetings").get_data(as_text=True)
    assert "Seattle City Council" in listing and "indexed" in listing
    assert "Seattle" in client.get("/meetings?body=Seattle+City+Council").get_data(as_text=True)
    page = client.get("/meetings/1").get_data(as_text=True)
    assert '<audio id="player"' in page and "call the roll" in page.lower()
    api = client.get("/api/meetings/1").get_json()
    assert api["meeting"]["id"] == 1 and api["segments"]
    assert client.get("/api/meetings").get_json()["meetings"][0]["title"]
    assert client.get("/meetings/999").status_code == 404
    assert client.get("/api/meetings/999").get_json() == {"error": "Not found"}
    assert client.get("/nowhere").status_code == 404


def test_meeting_page_marks_the_hit_and_searches_within(client: FlaskClient) -> None:
    top = top_hit(client)
    page = client.get(f"/meetings/1?hit={top['start']}-{top['end']}").get_data(as_text=True)
    assert 'class="line hit' in page
    within = client.get("/meetings/1?q=executive+session").get_data(as_text=True)
    assert "found" in within and "<mark>executive</mark>" in within


def test_audio_is_served_with_range_requests(client: FlaskClient) -> None:
    whole = client.get("/meetings/1/audio")
    assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes"
    part = client.get("/meetings/1/audio", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and len(part.data) == 1000


def _app_with(tmp_path: Path, title: str, segments: list[Segment], **settings: object) -> FlaskClient:
    home = tmp_path / "home"
    catalog = catalog_for(home)
    catalog.add_meeting(
        Meeting(title=title, body="<b>Council</b>", source_url="http://x/y.mp4", status="indexed"),
        None,
        segments,
    )
    app = create_app(load_settings(home).with_overrides(**settings))
    return app.test_client()


def test_untrusted_text_renders_inert(tmp_path: Path) -> None:
    hostile = "<script>alert(1)</script>"
    client = _app_with(tmp_path, hostile, [Segment(0, 2, f"He said {hostile} loudly")])
    for path in ("/meetings", "/meetings/1"):
        html = client.get(path).get_data(as_text=True)
        assert hostile not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_doubtful_passages_are_marked(tmp_path: Path) -> None:
    client = _app_with(
        tmp_path,
        "Budget hearing",
        [
            Segment(0, 2, "Clear words.", avg_logprob=-0.2, no_speech_prob=0.01),
            Segment(2, 4, "mumbled words", avg_logprob=-1.6, no_speech_prob=0.2),
        ],
    )
    html = client.get("/meetings/1").get_data(as_text=True)
    assert html.count('class="flag"') == 1 and "doubtful" in html


def test_search_is_rate_limited(tmp_path: Path) -> None:
    client = _app_with(tmp_path, "Budget hearing", [], search_rate_limit=4)
    codes = [client.get("/api/search?q=budget").status_code for _ in range(3)]
    assert codes[-1] == 429
    limited = client.get("/api/search?q=budget")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "Too many searches" in limited.get_json()["error"]
