"""The Flask app over the real indexed Seattle meeting, through its test client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from catalog import Meeting, load_settings
from tests.conftest import catalog_for
from web import create_app


@pytest.fixture
def client(seattle_home: tuple[Path, str]) -> Iterator[FlaskClient]:
    home, _ = seattle_home
    app = create_app(load_settings(home))
    app.testing = True
    with app.test_client() as client:
        yield client


def test_search_page_shows_the_quote_with_play_and_source_links(client: FlaskClient) -> None:
    top = client.get("/api/search?q=call+the+roll").get_json()["results"][0]
    page = client.get("/?q=call+the+roll")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "call the roll" in html
    assert f'class="play" href="/meetings/1#t={int(top["start"])}"' in html
    assert f'class="source" href="{top["url"]}"' in html
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_api_search_matches_the_cli_contract(client: FlaskClient) -> None:
    data = client.get("/api/search?q=call+the+roll&body=Seattle+City+Council&limit=3").get_json()
    assert data["query"] == "call the roll"
    assert 1 <= len(data["results"]) <= 3
    top = data["results"][0]
    assert top["start"] <= 38 and top["end"] >= 48


@pytest.mark.parametrize("q", ['"', "NOT", "((", "x" * 10_000, "", "287(g) AND"])
def test_hostile_queries_never_500(client: FlaskClient, q: str) -> None:
    api = client.get("/api/search", query_string={"q": q})
    assert api.status_code in (200, 400)
    assert "error" in api.get_json() or "results" in api.get_json()
    page = client.get("/", query_string={"q": q})
    assert page.status_code == 200


def test_api_bad_filters_are_400_with_a_message(client: FlaskClient) -> None:
    bad = ({"q": "roll", "since": "soon"}, {"q": "roll", "body": "Nowhere"}, {"q": "roll", "limit": "x"})
    for args in bad:
        response = client.get("/api/search", query_string=args)
        assert response.status_code == 400 and response.get_json()["error"]


def test_meetings_and_meeting_pages(client: FlaskClient) -> None:
    listing = client.get("/meetings").get_data(as_text=True)
    assert "Seattle City Council" in listing and "indexed" in listing
    page = client.get("/meetings/1").get_data(as_text=True)
    assert '<audio id="player"' in page and "call the roll" in page.lower()
    api = client.get("/api/meetings/1").get_json()
    assert api["meeting"]["id"] == 1 and api["segments"]
    assert client.get("/api/meetings").get_json()["meetings"][0]["title"]
    assert client.get("/meetings/999").status_code == 404
    assert client.get("/api/meetings/999").get_json() == {"error": "Not found"}


def test_audio_is_served_with_range_requests(client: FlaskClient) -> None:
    whole = client.get("/meetings/1/audio")
    assert whole.status_code == 200 and whole.headers["Accept-Ranges"] == "bytes"
    part = client.get("/meetings/1/audio", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and len(part.data) == 1000


def test_untrusted_titles_render_inert(tmp_path: Path) -> None:
    home = tmp_path / "home"
    catalog = catalog_for(home)
    catalog.add_meeting(
        Meeting(
            title="<script>alert(1)</script>",
            body="<b>Council</b>",
            source_url="http://x/y.mp4",
            status="indexed",
        ),
        None,
    )
    app = create_app(load_settings(home))
    html = app.test_client().get("/meetings").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
