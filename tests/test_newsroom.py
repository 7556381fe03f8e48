"""The newsroom's pages over the real Oakland captions, through Flask's test
client: a search's timeline (JSON and SVG), a meeting's chapters (page and
export), a person's page (seats, passages searched, votes) and the status
of the work on /meetings."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from catalog import load_settings
from tests.conftest import catalog_for, run, shared
from web import create_app

OAKLAND = "Oakland City Council"


@pytest.fixture(scope="module")
def oakland(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Oakland's meeting, with the member who seconded the consent calendar
    named as a speaker, as a reporter would on the meeting's page."""
    from catalog.speakers import SpeakerBook
    from search import SearchIndex

    home = tmp_path_factory.mktemp("newsroom")
    vtt = shared("captions/oakland_captions.vtt")
    assert run(home, "ingest", str(vtt), "--body", OAKLAND, "--date", "2022-08-09").exit_code == 0
    catalog = catalog_for(home)
    segments = catalog.segments(1)
    for seg in segments:  # "I'm happy to second the motion…": Kalb, heard by his colleagues' thanks
        if 834 <= seg.start < 845:
            seg.speaker = "SPEAKER_1"
    catalog.replace_segments(1, segments)
    settings = load_settings(home)
    index = SearchIndex(catalog, settings.embed_model, settings.base_url)
    index.index_meeting(1, catalog.segments(1))
    SpeakerBook(catalog.conn).name(1, "SPEAKER_1", "Dan Kalb", relabel=index.store.rename_speaker)
    catalog.close()
    return home


@pytest.fixture
def client(oakland: Path) -> Iterator[FlaskClient]:
    app = create_app(load_settings(oakland))
    app.testing = True
    with app.test_client() as client:
        yield client


def test_the_timeline_counts_matching_passages_per_month_and_body(client: FlaskClient, oakland: Path) -> None:
    data = client.get("/api/search/timeline?q=lao+family").get_json()
    assert data["query"] == "lao family" and data["per"] == "month"
    [bucket] = data["buckets"]
    assert bucket == {"period": "2022-08", "body": OAKLAND, "count": data["total"]}
    # Every passage holding both words is counted (meaning may add more).
    catalog = catalog_for(oakland)
    texts = [r[0].lower() for r in catalog.conn.execute("SELECT text FROM chunks")]
    catalog.close()
    holding = sum(1 for t in texts if re.search(r"\blao\b", t) and re.search(r"\bfamil", t))
    assert holding >= 3 and data["total"] >= holding
    per_meeting = client.get("/api/search/timeline?q=lao+family&per=meeting").get_json()
    assert (
        per_meeting["buckets"][0]["period"] == "2022-08-09" and per_meeting["buckets"][0]["meeting_id"] == 1
    )
    assert client.get("/api/search/timeline?q=lao+family&until=2022-01-01").get_json()["total"] == 0
    for bad in ("per=week", "body=Nowhere", "since=soon"):
        response = client.get(f"/api/search/timeline?q=lao&{bad}")
        assert response.status_code == 400 and response.get_json()["error"]
    assert "/api/search/timeline" in client.get("/api/openapi.json").get_json()["paths"]


def test_the_search_page_draws_the_timeline_and_its_bars_narrow_the_search(client: FlaskClient) -> None:
    html = client.get("/?q=lao+family&speaker=&order=date").get_data(as_text=True)
    assert '<svg class="chart"' in html and "matching passage" in html
    assert "style=" not in html.split('<svg class="chart"')[1].split("</svg>")[0]  # the CSP allows none
    bar = re.search(r'<a href="([^"]+)" aria-label="(\d+) matching passages, Oakland City Council', html)
    assert bar, "each bar is a link"
    href = bar.group(1).replace("&amp;", "&")
    # The bar keeps the query and its order, and narrows to its day and body.
    assert "q=lao+family" in href and "order=date" in href and "since=2022-08-09" in href
    assert "body=Oakland+City+Council" in href
    narrowed = client.get(href).get_data(as_text=True)
    assert '<svg class="chart"' in narrowed and 'class="hit"' in narrowed
    # The results say where the page cut them, and every link keeps the query.
    assert "the page holds 10, so the list is cut here" in html
    assert 'href="/meetings/1?q=lao+family"' in html


def test_a_meeting_opens_with_its_chapters(client: FlaskClient) -> None:
    html = client.get("/meetings/1").get_data(as_text=True)
    toc = html[
        html.index('<nav class="chapters"') : html.index("</nav>", html.index('<nav class="chapters"'))
    ]
    titles = re.findall(r'<a class="title" href="#chapter-(\d+)">([^<]+)</a>', toc)
    assert [n for n, _ in titles] == [str(i) for i in range(1, len(titles) + 1)]
    names = " | ".join(t for _, t in titles)
    assert "Public comment" in names and "Open forum" in names and "consent calendar" in names.lower()
    assert "Vote: passed 6-0" in toc  # the consent calendar's vote, with its result
    assert 'aria-label="Play chapter' in toc
    exported = client.get("/meetings/1/transcript.json").get_json()
    chapters = exported["chapters"]
    assert {c["kind"] for c in chapters} >= {"public_comment", "agenda_item", "vote"}
    assert set(chapters[0]) == {"start", "end", "title", "kind"}
    starts = [c["start"] for c in chapters]
    assert starts == sorted(starts)
    comment = next(c for c in chapters if c["kind"] == "public_comment")
    # Public comment runs from the chair's call to the last speaker, before the consent calendar.
    assert 200 < comment["start"] < 260 and 640 < comment["end"] < 716


def test_a_persons_page_has_their_seat_passages_and_votes(client: FlaskClient) -> None:
    vote = client.get("/api/votes").get_json()["votes"][0]
    kalb = next(m for m in vote["members"] if m["name"].lower().endswith("kalb"))
    html = client.get("/votes").get_data(as_text=True)
    person = re.search(r'href="(/persons/\d+)">[^<]*[Kk]alb', html).group(1)
    page = client.get(person).get_data(as_text=True)
    # The roll call's "Kalb" and the speaker named "Dan Kalb" are one person.
    assert "<h1>Dan Kalb</h1>" in page and "Member, Oakland City Council" in page
    assert "second the motion" in page and "of talk" in page
    assert f'<strong class="member-{kalb["vote"]}">{kalb["vote"]}</strong>' in page
    found = client.get(person, query_string={"q": "bill russell"}).get_data(as_text=True)
    assert "passage" in found and "<mark>russell</mark>" in found.lower()
    assert client.get(person, query_string={"q": "lao family"}).status_code == 200


def test_meetings_show_the_status_of_the_work(oakland: Path, tmp_path: Path) -> None:
    import shutil

    from catalog import Meeting, Segment

    home = tmp_path / "home"
    shutil.copytree(oakland, home)
    catalog = catalog_for(home)
    started = catalog.add_meeting(
        Meeting(title="Budget hearing", body=OAKLAND, source_url="https://x.test/a.mp4", duration=600.0),
        None,
    )
    catalog.set_status(started.id or 0, "transcribing")
    catalog.conn.execute("UPDATE meetings SET audio_hash = 'abc' WHERE id = ?", (started.id,))
    catalog.open_transcript("k", "abc", "faster-whisper", "tiny.en", "1", {})
    catalog.append_transcript_segments("k", 0, [Segment(0.0, 100.0, "a"), Segment(100.0, 245.0, "b")])
    broken = catalog.add_meeting(Meeting(title="Bad file", body=OAKLAND, source_url="file:///bad.mp4"), None)
    catalog.set_status(broken.id or 0, "failed", "the file has no audio track")
    run_id, _ = catalog.start_run()
    report = {"discovered": 3, "ingested": 1, "resumed": 0, "skipped": 1, "failed": 1, "alerts_sent": 2}
    report["failures"] = [{"source": OAKLAND, "reason": "the file has no audio track"}]
    catalog.finish_run(run_id, 4, json.dumps(report))
    catalog.close()
    html = create_app(load_settings(home)).test_client().get("/meetings").get_data(as_text=True)
    assert 'max="600.0" value="245.0"' in html and "00:04:05 of 00:10:00 transcribed" in html
    assert "failed: the file has no audio track" in html
    assert "(exit 4)" in html and "found 3 recording(s), ingested 1" in html and "2 alert(s) sent" in html


def test_search_tells_public_comment_from_members_and_staff(client: FlaskClient) -> None:
    """Residents' testimony is what the chair's call for public comment opens;
    a search can keep to it, or leave it out."""
    chapters = client.get("/meetings/1/transcript.json").get_json()["chapters"]
    periods = [(c["start"], c["end"]) for c in chapters if c["kind"] == "public_comment"]

    def within(hit: dict) -> bool:
        return any(start <= hit["context_start"] < end for start, end in periods)

    everyone = client.get("/api/search?q=housing+families&limit=50").get_json()["results"]
    assert any(h["public_comment"] for h in everyone) and not all(h["public_comment"] for h in everyone)
    assert all(h["public_comment"] == within(h) for h in everyone)
    residents = client.get("/api/search?q=housing+families&section=public_comment&limit=50").get_json()
    members = client.get("/api/search?q=housing+families&section=members&limit=50").get_json()
    assert residents["results"] and all(h["public_comment"] and within(h) for h in residents["results"])
    assert members["results"] and not any(h["public_comment"] or within(h) for h in members["results"])
    # The two halves share nothing, and each is as full as the archive allows.
    quotes = {(h["context_start"], h["text"]) for h in residents["results"]}
    assert not quotes & {(h["context_start"], h["text"]) for h in members["results"]}
    # The page marks testimony, offers the filter, and the timeline counts within it.
    html = client.get("/?q=housing+families&section=public_comment").get_data(as_text=True)
    assert '<span class="section">Public comment</span>' in html
    assert '<option value="public_comment" selected>' in html
    counts = {
        section: client.get(f"/api/search/timeline?q=family&section={section}").get_json()["total"]
        for section in ("", "public_comment", "members")
    }
    assert counts["public_comment"] > 0 and counts["members"] > 0
    assert counts["public_comment"] + counts["members"] == counts[""]
    assert client.get("/api/search?q=housing&section=residents").status_code == 400
