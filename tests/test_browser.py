"""A real browser (Debian's chromium, driven by Playwright) on the real
Seattle meeting, served by waitress on loopback: search, Play here, and the
player lands on the second of the quote."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog import load_settings
from tests.served import serving
from web import create_app

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"


@pytest.fixture
def app_url(seattle_home: tuple[Path, str]) -> Iterator[str]:
    with serving(create_app(load_settings(seattle_home[0]))) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it with apt-get")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


def test_search_then_play_here_lands_on_the_quote(app_url: str, browser: object) -> None:
    page = browser.new_page(viewport={"width": 1000, "height": 900})  # type: ignore[attr-defined]
    page.goto(app_url + "/")
    page.fill("input[name=q]", "call the roll")
    page.press("input[name=q]", "Enter")
    page.wait_for_selector("li.hit")
    first = page.locator("li.hit").first
    assert "call the roll" in first.locator("blockquote").inner_text().lower()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "search-results.png"), full_page=True)

    href = first.locator("a.play").get_attribute("href")
    start = float(href.split("#t=")[1])
    first.locator("a.play").click()
    page.wait_for_selector("audio#player")
    page.wait_for_function(
        "t => { const p = document.getElementById('player');"
        " return p.readyState >= 1 && Math.abs(p.currentTime - t) < 1 }",
        arg=start,
        timeout=20_000,
    )
    current = page.evaluate("document.getElementById('player').currentTime")
    assert abs(current - start) < 1.0
    # The passage the reader came from is marked in the transcript.
    assert page.locator("li.line.hit").count() >= 1


def test_cite_copies_a_citation(app_url: str, browser: object) -> None:
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(app_url + "/?q=executive+session")
    page.locator("button.cite").first.click()
    page.wait_for_function("document.querySelector('button.cite').textContent === 'Copied'")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("“") and "Seattle City Council" in copied and "http" in copied
    context.close()
