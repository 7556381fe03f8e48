"""A page for everyone, in one real browser session (Debian's chromium
through Playwright) on the real Seattle meeting served by waitress:

- axe-core (npm, installed by .ci/run into .cache/npm) finds no serious or
  critical violation on any page type;
- search, play, cite and chapters work from the keyboard alone;
- at a phone's 390 px nothing overflows sideways, and the search, meeting
  and person pages are photographed into benchmarks/results/.

The app's CSP refuses injected scripts, as it should; only this test's
browser context bypasses it, to load axe."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog import load_settings
from tests.conftest import catalog_for
from tests.served import serving
from tests.test_browser import SCREENSHOTS, browser  # noqa: F401  (the real chromium)
from web import create_app

AXE = Path(__file__).resolve().parents[1] / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
NAME = "Rob Johnson"


@pytest.fixture
def site(seattle_home: tuple[Path, str], tmp_path: Path) -> Iterator[str]:
    """The Seattle meeting with its presiding speaker named, so that a
    person's page has passages."""
    from catalog.speakers import SpeakerBook
    from search import SearchIndex

    home = tmp_path / "home"
    shutil.copytree(seattle_home[0], home)
    settings = load_settings(home)
    catalog = catalog_for(home)
    book = SpeakerBook(catalog.conn)
    chair = max(book.speakers(1), key=lambda s: s.seconds)
    index = SearchIndex(catalog, settings.embed_model, settings.base_url)
    book.name(1, chair.label, NAME, relabel=index.store.rename_speaker)
    catalog.close()
    with serving(create_app(settings)) as url:
        yield url


def axe_source() -> str:
    if not AXE.exists():
        message = f"{AXE} is missing: .ci/run installs axe-core with npm into .cache/npm"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return AXE.read_text()


def serious(page: object, source: str) -> list[str]:
    page.add_script_tag(content=source)  # type: ignore[attr-defined]
    found = page.evaluate("axe.run(document).then(r => r.violations)")  # type: ignore[attr-defined]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def overflows(page: object) -> bool:
    return page.evaluate(  # type: ignore[attr-defined]
        "document.documentElement.scrollWidth > document.documentElement.clientWidth"
    )


def test_every_page_type_for_everyone(site: str, browser: object) -> None:  # noqa: F811
    source = axe_source()
    context = browser.new_context(  # type: ignore[attr-defined]
        bypass_csp=True,
        permissions=["clipboard-read", "clipboard-write"],
        viewport={"width": 1000, "height": 900},
    )
    page = context.new_page()
    page.goto(f"{site}/persons/1")
    person = page.url

    # -- axe-core over every page type ------------------------------------
    pages = {
        "search with results and timeline": "/?q=executive+session",
        "meetings": "/meetings",
        "meeting with chapters and votes": "/meetings/1",
        "person": "/persons/1",
        "votes": "/votes",
        "alerts": "/alerts",
        "error page": "/meetings/999",
    }
    problems = {}
    for what, path in pages.items():
        page.goto(site + path)
        problems[what] = serious(page, source)
    assert page.locator("h1").inner_text() == "Not found"
    assert not any(problems.values()), problems

    # -- the keyboard alone: search, cite, play, chapters ------------------
    page.goto(site + "/")
    # The search box takes the focus by itself; typing before it has would
    # lose the first keys ("xecutive session" was seen once).
    page.wait_for_function("document.activeElement && document.activeElement.name === 'q'")
    page.keyboard.type("executive session")
    page.keyboard.press("Enter")
    page.wait_for_selector("svg.chart")
    assert page.locator("li.hit").count() >= 1
    cite = page.locator("button.cite").first
    for _ in range(60):  # Tab through the page to the first Cite button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('cite')"):
            break
    assert page.evaluate("document.activeElement.classList.contains('cite')")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('button.cite').textContent === 'Copied'")
    assert NAME in page.evaluate("navigator.clipboard.readText()") or "Seattle" in cite.get_attribute(
        "data-cite"
    )
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")  # back past Source to Play here
    assert page.evaluate("document.activeElement.classList.contains('play')")
    start = float(page.evaluate("document.activeElement.getAttribute('href')").split("#t=")[1])
    page.keyboard.press("Enter")
    page.wait_for_function(
        "t => { const p = document.getElementById('player');"
        " return p && p.readyState >= 1 && Math.abs(p.currentTime - t) < 1 }",
        arg=start,
        timeout=20_000,
    )
    chapters = page.locator("li.chapter[data-start]")
    assert chapters.count() >= 3
    starts = [float(chapters.nth(i).get_attribute("data-start")) for i in range(chapters.count())]

    def playing_at(seconds: float) -> None:
        page.wait_for_function(
            "t => { const p = document.getElementById('player');"
            " return p.readyState >= 1 && Math.abs(p.currentTime - t) < 1 }",
            arg=seconds,
            timeout=20_000,
        )

    # A chapter's own address plays from it; ] and [ step through the rest.
    page.goto(f"{site}/meetings/1#chapter-2")
    playing_at(starts[1])
    page.keyboard.press("]")
    playing_at(starts[2])
    assert page.evaluate("location.hash") == "#chapter-3"
    assert page.evaluate("document.activeElement.closest('li.chapter') !== null")
    page.keyboard.press("[")
    page.keyboard.press("[")
    playing_at(starts[0])
    # Tab to a chapter's button and Enter plays from it.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('li.chapter') !== null")
    for _ in range(4):
        if page.evaluate("document.activeElement.matches('li.chapter .time')"):
            break
        page.keyboard.press("Tab")
    target = float(page.evaluate("document.activeElement.dataset.start"))
    page.keyboard.press("Enter")
    playing_at(target)

    # -- a phone: nothing overflows, and photographs ------------------------
    page.set_viewport_size({"width": 390, "height": 844})
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, url in (
        ("phone-search", f"{site}/?q=executive+session"),
        ("phone-meeting", f"{site}/meetings/1"),
        ("phone-person", person),
    ):
        page.goto(url)
        assert not overflows(page), f"{name} is wider than the phone"
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    for path in ("/meetings", "/votes", "/alerts"):
        page.goto(site + path)
        assert not overflows(page), f"{path} is wider than the phone"
    context.close()
