"""Votes in the web app, through Flask's test client, over the real Oakland
captions: the meeting page shows the vote where it was taken, /votes and
/api/votes give the CLI's JSON, a member's page lists their votes, a search
hit just before a vote says so, and a saved search can watch votes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from catalog import load_settings
from tests.conftest import run, shared
from tests.test_browser import browser  # noqa: F401  (the real chromium, as the browser tests use it)
from web import create_app


@pytest.fixture(scope="module")
def oakland_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("oakland-web")
    vtt = shared("captions/oakland_captions.vtt")
    # Saved before the meeting arrives, so the meeting's vote is news to it.
    assert run(home, "alerts", "add", "approve consent calendar", "--notify", "atom").exit_code == 0
    ingested = run(home, "ingest", str(vtt), "--body", "Oakland City Council", "--date", "2022-08-09")
    assert ingested.exit_code == 0, ingested.output
    return home


@pytest.fixture
def client(oakland_home: Path) -> Iterator[FlaskClient]:
    app = create_app(load_settings(oakland_home))
    app.config.update(TESTING=True)
    with app.test_client() as client:
        yield client


def test_api_votes_is_the_cli_json(client: FlaskClient, oakland_home: Path) -> None:
    cli = json.loads(run(oakland_home, "votes", "--json").output)
    assert client.get("/api/votes").get_json() == cli
    assert client.get("/api/votes?member=Kalb&result=passed").get_json() == cli
    assert client.get("/api/votes?result=failed").get_json() == {"votes": []}
    for bad, message in (("member=Nobody", "Nobody named"), ("since=2023-01-01&until=2022-01-01", "swap")):
        response = client.get(f"/api/votes?{bad}")
        assert response.status_code == 400 and message in response.get_json()["error"]
    [vote] = cli["votes"]
    detail = client.get(f"/api/votes/{vote['id']}").get_json()
    assert detail["vote"] == vote and detail["counted"]["yes"] == 6
    assert client.get("/api/votes?format=csv").get_data(as_text=True).count("\n") == 9
    assert client.get("/api/votes?format=ocd").get_json()[0]["result"] == "pass"
    spec = client.get("/api/openapi.json").get_json()
    assert "/api/votes" in spec["paths"] and "/api/votes/{id}" in spec["paths"]


def test_meeting_page_shows_the_vote_where_it_was_taken(client: FlaskClient) -> None:
    [vote] = client.get("/api/votes").get_json()["votes"]
    html = client.get(f"/meetings/{vote['meeting_id']}").get_data(as_text=True)
    box = html[html.index(f'id="vote-{vote["id"]}"') :]
    box = box[: box.index("</li>\n")]
    assert f'data-start="{vote["start"]}"' in box  # the player starts from the question
    assert "Vote: passed 6-0" in box and "2 absent" in box and "consent calendar" in box
    # Placed in the transcript: right after the line where the roll is called.
    before, after = html.split(f'id="vote-{vote["id"]}"', 1)
    assert "call the roll" in before[-1500:].lower() and "open forum" in after


def test_votes_page_and_a_members_page(client: FlaskClient) -> None:
    html = client.get("/votes?body=Oakland+City+Council").get_data(as_text=True)
    assert "consent calendar" in html and "passed 6-0" in html
    start = html.index('href="/persons/')
    person_url = html[start + 6 : html.index('"', start + 6)]
    page = client.get(person_url).get_data(as_text=True)
    assert "2022-08-09" in page and "watch at" in page
    assert client.get("/votes?since=bad").status_code == 200  # the form shows the error
    assert "not a date" in client.get("/votes?since=bad").get_data(as_text=True)
    assert client.get("/persons/99999").status_code == 404


def test_a_search_hit_just_before_a_vote_says_so(client: FlaskClient) -> None:
    html = client.get("/?q=seeing+no+other+hands+up+call+the+roll").get_data(as_text=True)
    [vote] = client.get("/api/votes").get_json()["votes"]
    assert f"/meetings/{vote['meeting_id']}#vote-{vote['id']}" in html
    assert "voted 6-0 at 00:17:5" in html or "voted 6-0 at 00:18:0" in html


def test_a_saved_search_watching_votes_fires_once(oakland_home: Path) -> None:
    from search.alerts import AlertBook
    from tests.conftest import catalog_for

    assert run(oakland_home, "alerts", "check").exit_code == 0
    assert run(oakland_home, "alerts", "check").exit_code == 0  # a second look adds nothing
    catalog = catalog_for(oakland_home)
    alerts = AlertBook(catalog.conn).for_search(1)
    catalog.close()
    fired = [a for a in alerts if a.hit.text.startswith("Vote on")]
    assert len(fired) == 1
    assert "passed 6-0" in fired[0].hit.text and "Kalb: yes" in fired[0].hit.text
    assert fired[0].hit.url.endswith(f"#t={int(fired[0].hit.start)}")


def test_in_a_real_browser_clicking_a_vote_plays_from_the_question(seattle_home, browser) -> None:  # noqa: F811
    """Chromium on the real Seattle recording: the agenda's adoption sits in
    the transcript; its time button starts the player at the question."""
    import threading

    from waitress import create_server

    home, _ = seattle_home
    server = create_server(create_app(load_settings(home)), host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.effective_port}"
        [vote] = json.loads(run(home, "votes", "--json").output)["votes"]
        page = browser.new_page()
        page.goto(f"{url}/meetings/{vote['meeting_id']}")
        box = page.locator(f"#vote-{vote['id']}")
        assert "unanimous consent" in box.inner_text()
        box.locator("button.time").click()
        page.wait_for_function(
            "t => { const p = document.getElementById('player');"
            " return p.readyState >= 1 && Math.abs(p.currentTime - t) < 1 }",
            arg=vote["start"],
            timeout=20_000,
        )
        assert page.evaluate("location.hash") == f"#t={int(vote['start'])}"
    finally:
        server.close()
        thread.join(timeout=5)
