"""The same archive on both backends: the real Oakland captions imported
through the CLI into SQLite and into PostgreSQL (``database_url``) give the
same meetings, transcript, votes, speakers, saved searches, keyword matches,
filters and exact-vector neighbours. Then the bad input that only a
database server brings: unreachable, not upgraded, a worker on SQLite."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import Result

from catalog import load_settings
from catalog.db import open_catalog
from search.backends import open_index
from search.query import SearchQuery
from tests.conftest import run, shared
from tests.loopback import LoopbackServer
from tests.pg import LocalPostgres

BODY = "Oakland City Council"
BACKENDS = ["sqlite", "postgresql"]


class Archive:
    """A data directory, and the database_url its commands run with ("" for SQLite)."""

    def __init__(self, home: Path, url: str) -> None:
        self.home, self.url = home, url

    @contextmanager
    def env(self) -> Iterator[None]:
        before = os.environ.get("ONRECORD_DATABASE_URL")
        os.environ["ONRECORD_DATABASE_URL"] = self.url
        try:
            yield
        finally:
            if before is None:
                del os.environ["ONRECORD_DATABASE_URL"]
            else:
                os.environ["ONRECORD_DATABASE_URL"] = before

    def run(self, *args: str) -> Result:
        with self.env():
            return run(self.home, *args)

    def json(self, *args: str) -> dict:
        result = self.run(*args)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory, pg_server: LocalPostgres) -> dict[str, Archive]:
    vtt = shared("captions/oakland_captions.vtt")
    found = {}
    for backend in BACKENDS:
        url = pg_server.create_database() if backend == "postgresql" else ""
        archive = Archive(tmp_path_factory.mktemp(f"oakland-{backend}"), url)
        assert archive.run("db", "upgrade").exit_code == 0
        result = archive.run("ingest", str(vtt), "--body", BODY, "--date", "2022-08-09")
        assert result.exit_code == 0, result.output
        found[backend] = archive
    return found


def both(archives: dict[str, Archive], *args: str) -> tuple[dict, dict]:
    return archives["sqlite"].json(*args), archives["postgresql"].json(*args)


def test_the_same_meetings_transcript_and_votes(archives: dict[str, Archive]) -> None:
    sqlite, pg = both(archives, "meetings", "--json")
    assert sqlite == pg and pg["meetings"][0]["status"] == "indexed"
    meeting = str(pg["meetings"][0]["id"])
    sqlite, pg = both(archives, "transcript", meeting, "--format", "json")
    assert sqlite == pg and len(pg["segments"]) > 100
    sqlite, pg = both(archives, "votes", "--json")
    assert sqlite == pg
    [vote] = pg["votes"]
    assert (vote["yes"], vote["absent"]) == (6, 2), "Oakland's consent calendar, six ayes and two excused"
    sqlite, pg = both(archives, "votes", "--member", "Kalb", "--json")
    assert sqlite == pg and len(pg["votes"]) == 1, "the roll call's names became persons on both"


@pytest.mark.parametrize(
    "args",
    [
        ('"consent calendar"',),
        ("roll call",),
        ("budget", "--since", "2022-08-01", "--until", "2022-08-31"),
        ("budget", "--since", "2023-01-01"),
        ("budget", "--body", BODY),
    ],
)
def test_the_same_keyword_matches_and_filters(archives: dict[str, Archive], args: tuple[str, ...]) -> None:
    """A quoted phrase is keyword-only: both stores find the same passages
    (ranked by BM25 on one, IDF-weighted ts_rank on the other, so compared
    as sets); a filter that leaves nothing leaves nothing on both."""
    sqlite, pg = both(archives, "search", *args, "--limit", "50", "--json")
    places = [{(r["meeting_id"], r["start"]) for r in found["results"]} for found in (sqlite, pg)]
    if args[0].startswith('"'):
        assert places[0] == places[1] and places[0]
    else:
        assert bool(places[0]) == bool(places[1])
        assert len(places[0] & places[1]) >= 0.6 * len(places[0]), "mostly the same passages"


def test_the_same_unknown_names_are_errors(archives: dict[str, Archive]) -> None:
    for archive in archives.values():
        result = archive.run("search", "budget", "--body", "Atlantis Council")
        assert result.exit_code == 1 and "No body named 'Atlantis Council'" in result.output


def test_the_same_exact_vector_neighbours(archives: dict[str, Archive], minilm: object) -> None:
    """A filter to one meeting leaves few passages, so both stores scan them
    exactly: the same passages in the same order (halfvec keeps MiniLM's
    cosines to about 1e-3)."""
    query = SearchQuery("approve the consent calendar", meeting_id=1)
    found = []
    for archive in archives.values():
        with archive.env():
            settings = load_settings(archive.home)
            catalog = open_catalog(settings)
            index = open_index(settings, catalog, embedder=minilm)  # type: ignore[arg-type]
            vector = index.embedder.embed_batch([query.text])[0]
            dense = index.store.search(query, vector)["dense"][:10]
            chunks = index.store.chunks([cid for cid, _ in dense])
            found.append([(chunks[cid].seq, round(score, 2)) for cid, score in dense])
            index.close()
            catalog.close()
    assert len(found[0]) == 10
    assert [seq for seq, _ in found[0]] == [seq for seq, _ in found[1]]
    assert all(abs(a - b) <= 0.01 for (_, a), (_, b) in zip(found[0], found[1], strict=True))


def test_the_same_speakers_and_saved_searches(archives: dict[str, Archive]) -> None:
    for archive in archives.values():
        added = archive.run("alerts", "add", "consent calendar", "--notify", "atom", "--body", BODY)
        assert added.exit_code == 0, added.output
    sqlite, pg = both(archives, "alerts", "list", "--json")
    strip = [
        {k: v for k, v in s.items() if k not in ("created_at", "feed_token")}
        for s in sqlite["saved_searches"]
    ]
    assert strip == [
        {k: v for k, v in s.items() if k not in ("created_at", "feed_token")} for s in pg["saved_searches"]
    ]
    sqlite, pg = both(archives, "speakers", "1", "--json")
    assert sqlite == pg


def test_an_unreachable_database_is_one_line(home: Path) -> None:
    archive = Archive(home, "postgresql://onrecord:secret@/onrecord?host=/nonexistent&port=1")
    result = archive.run("meetings")
    assert result.exit_code == 1
    assert "Cannot reach the database at postgresql://onrecord:***@" in result.output
    assert "secret" not in result.output and "Traceback" not in result.output


def test_a_database_not_yet_upgraded_says_so(home: Path, pg_url: str) -> None:
    archive = Archive(home, pg_url)
    for args in (("meetings",), ("worker", "--until-idle"), ("enqueue", __file__)):
        result = archive.run(*args)
        assert result.exit_code == 1, result.output
        assert "older than this OnRecord" in result.output and "run: onrecord db upgrade" in result.output
    assert archive.run("db", "upgrade").exit_code == 0
    assert archive.json("meetings", "--json") == {"meetings": []}


def test_a_worker_needs_postgresql(home: Path) -> None:
    for args in (("worker",), ("enqueue", __file__)):
        result = Archive(home, "").run(*args)
        assert result.exit_code == 1 and "needs a PostgreSQL database" in result.output
        assert "ONRECORD_DATABASE_URL" in result.output


def test_the_app_serves_both_alike(archives: dict[str, Archive], pg_server: LocalPostgres) -> None:
    """The web app on each backend: the same search API answer, the same
    votes, a search page with its timeline; on PostgreSQL, a database that
    restarts is a 503 page saying to try again, then the app answers again."""
    from web import create_app

    answers = []
    for name, archive in archives.items():
        with archive.env():
            app = create_app(load_settings(archive.home))
            with app.test_client() as client:
                found = client.get("/api/search?q=%22consent%20calendar%22&limit=20").get_json()
                votes = client.get("/api/votes").get_json()
                page = client.get("/?q=consent+calendar")
                assert page.status_code == 200 and "consent" in page.get_data(as_text=True).lower()
                timeline = client.get("/api/search/timeline?q=consent+calendar").get_json()
                assert timeline["total"] >= 1, name
                if name == "postgresql":
                    pg_server.restart()
                    # Each connection (catalog, index) finds the restart on its
                    # next use: that request is a 503, the one after it reconnects.
                    codes = []
                    for _ in range(3):
                        answer = client.get("/api/search?q=budget")
                        codes.append(answer.status_code)
                        if answer.status_code == 503:
                            assert "try again" in answer.get_json()["error"]
                    assert set(codes) <= {200, 503} and codes[-1] == 200, codes
        answers.append(({(r["meeting_id"], r["start"]) for r in found["results"]}, votes, timeline["total"]))
    assert answers[0][0] == answers[1][0] and answers[0][0]
    assert answers[0][1] == answers[1][1]


@pytest.mark.slow
def test_the_nightly_run_queues_and_a_worker_discovers(
    home: Path, pg_url: str, loopback: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a database_url, `onrecord run` queues a discovery of each source
    (and the Legistar import and alert check) instead of doing the work;
    `onrecord worker --until-idle` then lists the source on loopback, ingests
    its recording through the real pipeline and exits once the queue is empty."""
    import shutil

    import psycopg

    clip = shared("speech/jfk.flac")
    shutil.copy(clip, loopback.root / clip.name)
    config = home / "sources.toml"
    config.write_text(
        '[[bodies]]\nname = "Test Council"\n'
        f'sources = ["{loopback.url(clip.name)}"]\n'
        'legistar = { client = "nowhere", api = "http://127.0.0.1:9/v1" }\n'
    )
    archive = Archive(home, pg_url)
    assert archive.run("db", "upgrade").exit_code == 0
    queued = archive.run("run", "--config", str(config))
    assert queued.exit_code == 0, queued.output
    assert queued.output.count("(job ") == 3, queued.output
    again = archive.run("run", "--config", str(config))
    assert again.output.count("(already queued)") == 3, "a second run while the first is queued adds nothing"
    with psycopg.connect(pg_url, autocommit=True) as db:
        tasks = sorted(r[0] for r in db.execute("SELECT task FROM jobs"))
        assert tasks == ["alerts", "discover", "legistar"]
        # The Legistar host is unreachable on purpose; the worker here runs the rest.
        db.execute("DELETE FROM jobs WHERE task = 'legistar'")
    monkeypatch.setenv("ONRECORD_DIARIZE", "0")
    worked = archive.run("worker", "--until-idle")
    assert worked.exit_code == 0, worked.output
    [meeting] = archive.json("meetings", "--json")["meetings"]
    assert meeting["status"] == "indexed" and meeting["body"] == "Test Council"
    found = archive.json("search", "ask not what your country can do for you", "--json")["results"]
    assert found and found[0]["meeting_id"] == meeting["id"]
    jobs = archive.json("db", "jobs", "--json")["jobs"]
    assert sorted((j["task"], j["status"]) for j in jobs) == [
        ("alerts", "succeeded"),
        ("alerts", "succeeded"),
        ("discover", "succeeded"),
        ("ingest", "succeeded"),
    ]
    listed = archive.run("db", "jobs")
    assert listed.output.splitlines()[-1] == "0 todo, 0 doing, 4 succeeded, 0 failed", listed.output
