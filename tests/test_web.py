"""The Flask app over the real indexed Seattle meeting, through its test client:
every route, filters, exports, API shapes, 404s and hostile input."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from dataclasses import replace
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
    # start and end are the quote's: the sentence calling the roll, inside its passage.
    assert top["context_start"] <= top["start"] <= 38 <= top["end"] <= top["context_end"]


def test_pages_and_order(client: FlaskClient) -> None:
    # Pages of one: the ranking may keep only a few passages for a broad word.
    both = client.get("/api/search?q=council&limit=2").get_json()["results"]
    first = client.get("/api/search?q=council&limit=1").get_json()["results"]
    second = client.get("/api/search?q=council&limit=1&page=2").get_json()["results"]
    # (The 3-minute meeting is three passages, two of them one speaker's
    # neighbours, so folding may leave a single hit.)
    assert both and first == both[:1] and second == both[1:2]
    by_date = client.get("/api/search?q=council&order=date").get_json()["results"]
    assert by_date  # one meeting: in the order it was said
    assert [h["start"] for h in by_date] == sorted(h["start"] for h in by_date)
    html = client.get("/?q=council&limit=1").get_data(as_text=True)
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


@pytest.mark.parametrize(
    "q", ['"', "NOT", "((", "x" * 5_000, "x" * 10_000, "", "287(g) AND", "<script>alert(1)</script>"]
)
def test_hostile_queries_never_500(client: FlaskClient, q: str) -> None:
    api = client.get("/api/search", query_string={"q": q})
    # 414: an address past 8 KB is refused before anything reads it.
    assert api.status_code in (200, 400, 414)
    assert "error" in api.get_json() or "results" in api.get_json()
    page = client.get("/", query_string={"q": q})
    assert page.status_code == (414 if len(q) > 8192 else 200)
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


# -- writes: naming speakers and saved searches (issues 5 and 7) ------------

TOKEN = "test-admin-token-7f3a"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def _app_for(home: Path, admin_token: str) -> FlaskClient:
    # replace(), not with_overrides(): an empty token must win over ONRECORD_ADMIN_TOKEN.
    app = create_app(replace(load_settings(home), admin_token=admin_token))
    app.testing = True
    return app.test_client()


@pytest.fixture
def admin_home(seattle_home: tuple[Path, str], tmp_path: Path) -> Path:
    """A copy of the indexed Seattle home, so writes leave the shared one alone."""
    home = tmp_path / "home"
    shutil.copytree(seattle_home[0], home)
    return home


@pytest.fixture
def admin(admin_home: Path) -> FlaskClient:
    return _app_for(admin_home, TOKEN)


def _labels(client: FlaskClient) -> list[str]:
    speakers = client.get("/api/meetings/1/speakers").get_json()["speakers"]
    return [s["label"] for s in speakers]


def test_read_only_without_a_token(seattle_home: tuple[Path, str]) -> None:
    client = _app_for(seattle_home[0], "")
    labels = _labels(client)
    assert labels, "the Seattle meeting should have diarized speakers"
    page = client.get("/meetings/1").get_data(as_text=True)
    assert 'id="speakers"' in page and labels[0] in page  # who spoke is shown to everyone
    assert "<form" in page and 'name="token"' not in page and "admin.js" not in page
    refused = client.post(f"/meetings/1/speakers/{labels[0]}", data={"name": "X", "token": ""})
    assert refused.status_code == 403 and "read-only" in refused.get_data(as_text=True)
    api = client.post(f"/api/meetings/1/speakers/{labels[0]}", json={"name": "X"}, headers=BEARER)
    assert api.status_code == 403 and "admin_token" in api.get_json()["error"]
    assert client.post("/api/alerts", json={"query": "roll"}, headers=BEARER).status_code == 403
    assert client.get("/api/alerts", headers=BEARER).status_code == 403
    alerts = client.get("/alerts").get_data(as_text=True)
    assert "Saved searches" in alerts and 'name="token"' not in alerts
    assert client.post("/alerts", data={"query": "roll", "token": ""}).status_code == 403
    assert _labels(client) == labels and all(
        s["name"] is None for s in client.get("/api/meetings/1/speakers").get_json()["speakers"]
    )


def test_a_wrong_token_is_403_and_a_missing_one_401(admin: FlaskClient) -> None:
    label = _labels(admin)[0]
    for headers in ({"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = admin.post(
            f"/api/meetings/1/speakers/{label}", json={"name": "Jason Lando"}, headers=headers
        )
        assert response.status_code == 403 and "admin token" in response.get_json()["error"]
    # No credentials at all: 401, and the header that says how to send them.
    missing = admin.post(f"/api/meetings/1/speakers/{label}", json={"name": "Jason Lando"})
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in missing.get_json()["error"]
    form = admin.post(f"/meetings/1/speakers/{label}", data={"name": "Jason Lando", "token": TOKEN + "x"})
    assert form.status_code == 403 and "admin token" in form.get_data(as_text=True)
    assert "Traceback" not in form.get_data(as_text=True)
    # A wrong token learns nothing about which meetings exist.
    assert admin.post("/api/meetings/999/speakers/SPEAKER_1", json={"name": "J"}).status_code == 401
    wrong = {"Authorization": "Bearer wrong"}
    assert (
        admin.post("/api/meetings/999/speakers/SPEAKER_1", json={"name": "J"}, headers=wrong).status_code
        == 403
    )
    assert all(s["name"] is None for s in admin.get("/api/meetings/1/speakers").get_json()["speakers"])


def test_naming_a_speaker_through_the_api_reaches_transcript_and_search(admin: FlaskClient) -> None:
    label = _labels(admin)[0]
    before = admin.get("/api/search", query_string={"q": "council", "speaker": "Jason Lando"})
    assert before.status_code == 400  # nobody has that name yet
    # A pasted line break is refused, not guessed at; runs of spaces close up.
    pasted = admin.post(f"/api/meetings/1/speakers/{label}", json={"name": "Jason\nLando"}, headers=BEARER)
    assert pasted.status_code == 400 and "line break" in pasted.get_json()["error"]
    response = admin.post(
        f"/api/meetings/1/speakers/{label}", json={"name": "  Jason   Lando "}, headers=BEARER
    )
    assert response.status_code == 200
    assert {"label": label, "name": "Jason Lando"}.items() <= response.get_json()["speaker"].items()
    segments = admin.get("/api/meetings/1").get_json()["segments"]
    assert any(s["speaker"] == "Jason Lando" for s in segments)
    assert not any(s["speaker"] == label for s in segments)
    assert "Jason Lando" in admin.get("/meetings/1/transcript.json").get_data(as_text=True)
    found = admin.get("/api/search", query_string={"q": "council", "speaker": "Jason Lando"}).get_json()
    assert found["results"] and {h["speaker"] for h in found["results"]} == {"Jason Lando"}
    assert {h["meeting_id"] for h in found["results"]} == {1}


def test_naming_and_confirming_through_the_meeting_page(admin: FlaskClient, admin_home: Path) -> None:
    from catalog.speakers import SpeakerBook

    labels = _labels(admin)
    page = admin.get("/meetings/1").get_data(as_text=True)
    assert page.count('class="name-speaker"') == len(labels) and "admin.js" in page
    named = admin.post(f"/meetings/1/speakers/{labels[0]}", data={"name": "Lorena González", "token": TOKEN})
    assert named.status_code == 303
    assert named.headers["Location"].endswith(f"/meetings/1?named={labels[0]}#speakers")
    shown = admin.get(named.headers["Location"]).get_data(as_text=True)
    assert f"{labels[0]} is now Lorena González." in shown

    # A suggestion below the "probably" threshold is offered for confirmation only.
    second = labels[-1]
    catalog = catalog_for(admin_home)
    SpeakerBook(catalog.conn).propose(1, {second: ("Bruce Harrell", 0.91)})
    catalog.conn.close()
    page = admin.get("/meetings/1").get_data(as_text=True)
    assert "suggested: Bruce Harrell (0.91)" in page and 'value="Bruce Harrell"' in page
    confirmed = admin.post(
        f"/meetings/1/speakers/{second}", data={"confirm": "Bruce Harrell", "token": TOKEN}
    )
    assert confirmed.status_code == 303
    speakers = {s["label"]: s for s in admin.get("/api/meetings/1/speakers").get_json()["speakers"]}
    assert speakers[second]["name"] == "Bruce Harrell"
    assert speakers[labels[0]]["name"] == "Lorena González"


def test_hostile_speaker_names(admin: FlaskClient) -> None:
    label = _labels(admin)[0]
    hostile = "<script>alert(1)</script>"
    assert (
        admin.post(f"/meetings/1/speakers/{label}", data={"name": hostile, "token": TOKEN}).status_code == 303
    )
    for path, args in (("/meetings/1", {}), ("/", {"q": "council", "speaker": hostile})):
        html = admin.get(path, query_string=args).get_data(as_text=True)
        assert hostile not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    for bad in ("", "   ", "x" * 121):
        response = admin.post(f"/meetings/1/speakers/{label}", data={"name": bad, "token": TOKEN})
        assert response.status_code == 400 and "name" in response.get_data(as_text=True)
        api = admin.post(f"/api/meetings/1/speakers/{label}", json={"name": bad}, headers=BEARER)
        assert api.status_code == 400 and "name" in api.get_json()["error"]
    not_json = admin.post(f"/api/meetings/1/speakers/{label}", data="name=x", headers=BEARER)
    assert not_json.status_code == 400 and "JSON" in not_json.get_json()["error"]
    assert (
        admin.post("/api/meetings/1/speakers/SPEAKER_99", json={"name": "A"}, headers=BEARER).status_code
        == 404
    )
    assert (
        admin.post("/api/meetings/999/speakers/SPEAKER_1", json={"name": "A"}, headers=BEARER).status_code
        == 404
    )
    assert (
        admin.post("/meetings/999/speakers/SPEAKER_1", data={"name": "A", "token": TOKEN}).status_code == 404
    )
    assert admin.get("/api/meetings/999/speakers").status_code == 404


def test_saved_searches_create_list_delete(admin: FlaskClient) -> None:
    hook = "webhook:https://hooks.example.org/services/T0/SECRET-PART"
    created = admin.post("/api/alerts", json={"query": "executive session", "notify": hook}, headers=BEARER)
    assert created.status_code == 201
    saved = created.get_json()["saved_search"]
    assert saved["query"] == "executive session" and saved["notify"] == hook
    feed = saved["feed"].removeprefix("http://127.0.0.1:8000")  # the base_url setting
    assert feed == f"/alerts/{saved['feed_token']}/feed.atom" and len(saved["feed_token"]) >= 24
    listed = admin.get("/api/alerts", headers=BEARER).get_json()["saved_searches"]
    assert [s["id"] for s in listed] == [saved["id"]]
    assert admin.get("/api/alerts").status_code == 401
    # The page shows nobody's saved searches without the token...
    page = admin.get("/alerts").get_data(as_text=True)
    assert "executive session" not in page and saved["feed_token"] not in page
    # ...and with it, the kind of alert but never a webhook's address.
    page = admin.post("/alerts/list", data={"token": TOKEN}).get_data(as_text=True)
    assert "executive session" in page and "webhook" in page and "SECRET-PART" not in page
    assert saved["feed_token"] in page
    assert admin.get(feed).status_code == 200  # a feed is read with its address alone
    assert admin.get(f"/alerts/{saved['id']}/feed.atom").status_code == 404  # ids open nothing

    form = admin.post(
        "/alerts",
        data={"query": "call the roll", "body": "Seattle City Council", "notify": "atom", "token": TOKEN},
    )
    assert form.status_code == 200 and "call the roll" in form.get_data(as_text=True)
    assert "added. Its feed: " in form.get_data(as_text=True)
    for bad, message in (
        ({"query": "  "}, "empty"),
        ({"query": "roll", "notify": "pigeon"}, "not understood"),
        ({"query": "roll", "body": "Nowhere"}, "No body"),
        ({"query": "roll", "min_score": "high"}, "min_score"),
        ({"query": "roll", "min_score": 3}, "min_score"),
    ):
        response = admin.post("/api/alerts", json=bad, headers=BEARER)
        assert response.status_code == 400 and message in response.get_json()["error"], bad
    assert len(admin.get("/api/alerts", headers=BEARER).get_json()["saved_searches"]) == 2

    assert admin.delete(f"/api/alerts/{saved['id']}").status_code == 401
    assert admin.delete(f"/api/alerts/{saved['id']}", headers=BEARER).get_json() == {"removed": saved["id"]}
    assert admin.delete(f"/api/alerts/{saved['id']}", headers=BEARER).status_code == 404
    assert admin.get(feed).status_code == 404
    remaining = admin.get("/api/alerts", headers=BEARER).get_json()["saved_searches"]
    gone = admin.post(f"/alerts/{remaining[0]['id']}/delete", data={"token": TOKEN})
    assert gone.status_code == 200 and "removed." in gone.get_data(as_text=True)
    assert admin.get("/api/alerts", headers=BEARER).get_json()["saved_searches"] == []


def test_openapi_documents_the_writes(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    assert spec["paths"]["/api/meetings/{id}/speakers/{label}"]["post"]["security"] == [{"adminToken": []}]
    assert {"get", "post"} <= set(spec["paths"]["/api/alerts"]) and "delete" in spec["paths"][
        "/api/alerts/{id}"
    ]
    assert spec["components"]["securitySchemes"]["adminToken"]["scheme"] == "bearer"
