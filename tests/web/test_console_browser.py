"""The console in a real headless Chromium (Debian's), against a real daemon (issue 10)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import pytest
from web_support import PASSWORD, ConsoleStation, chromium_path

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        yield browser
        browser.close()


def _login(chromium: Any, console: ConsoleStation, login: str, code: str = "") -> Any:
    page = chromium.new_page(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page.goto(f"{console.url}/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    if code:
        page.fill("input[name=totp]", code)
    page.click("button[type=submit]")
    page.wait_for_url("**/me")
    return page


def _played(console: ConsoleStation) -> list[tuple[str, int, str]]:
    with sqlite3.connect(console.env.db, timeout=30) as db:
        return db.execute("SELECT actor, recording_id, details FROM events WHERE "
                          "action = 'recording_played' ORDER BY seq").fetchall()


def _play_and_wait(page: Any) -> float:
    """Click play, then wait until the video has really advanced (page.wait_for_function would
    evaluate a string, which the console's CSP forbids: it is polled from outside instead)."""
    page.click("#play")
    deadline = time.monotonic() + 120  # a viewing copy is made first, on a loaded machine too
    while True:
        at = float(page.evaluate("document.getElementById('player').currentTime"))
        error = page.evaluate("document.getElementById('player').error?.code ?? null")
        assert error is None, f"the player failed with MediaError code {error}"
        if at > 0.5 or time.monotonic() > deadline:
            return at
        page.wait_for_timeout(100)


def test_an_officer_sees_only_their_recordings_newest_first(
        chromium: Any, console: ConsoleStation) -> None:
    page = _login(chromium, console, "zhang")
    ids = [int(x) for x in page.eval_on_selector_all("#recordings tbody tr",
                                                     "rows => rows.map(r => r.dataset.id)")]
    assert ids == [4, 3, 2, 1]  # A1024's; B2048's recording 5 is not there
    assert "张三" in page.inner_text("header")
    page.screenshot(path=str(console.env.root / "officer.png"))
    page.close()


def test_h264_plays_from_the_store_and_h265_through_a_labelled_viewing_copy(
        chromium: Any, console: ConsoleStation) -> None:
    page = _login(chromium, console, "zhang")
    page.goto(f"{console.url}/recordings/1")
    assert _play_and_wait(page) > 0.5
    assert page.is_hidden("#viewing-copy")
    page.goto(f"{console.url}/recordings/4")  # the H.265 recording
    digest = page.inner_text(".digest code")
    assert _play_and_wait(page) > 0.5
    assert page.is_visible("#viewing-copy")
    with sqlite3.connect(console.env.db, timeout=30) as db:
        original = db.execute("SELECT sha256 FROM recordings WHERE id = 4").fetchone()[0]
    assert digest == original  # the digest shown is the original's
    played = _played(console)
    assert [(a, r) for a, r, _ in played][-2:] == [("zhang", 1), ("zhang", 4)]
    assert json.loads(played[-1][2]) == {"viewing_copy": True}
    page.screenshot(path=str(console.env.root / "playback.png"), full_page=True)
    page.close()


def test_the_statistics_page_shows_the_cli_figures_for_the_same_period(
        chromium: Any, console: ConsoleStation) -> None:
    page = _login(chromium, console, "chen")
    page.goto(f"{console.url}/statistics?since=2026-11-01&until=2026-12-01")
    shown = {row["officer"]: row for row in page.eval_on_selector_all(
        "#statistics tbody tr:not(.total)", "rows => rows.map(r => ({officer: r.dataset.officer,"
        " cells: Array.from(r.cells).map(c => c.innerText)}))")}
    cli = json.loads(console.env.run("statistics", "--since", "2026-11-01", "--until",
                                     "2026-12-01", "--json", check=True).stdout)
    assert set(shown) == {g["officer"] for g in cli["groups"]} == {"A1024", "B2048"}
    for group in cli["groups"]:
        cells = shown[group["officer"]]["cells"]
        assert int(cells[2]) == group["recordings"]
        assert cells[4] == f"{100 * group['export_share']:.0f}%"
        assert cells[5] == f"{100 * group['labelling_share']:.0f}%"
        assert int(cells[6]) == group["unexplained_findings"]
    assert page.locator(".chart svg").count() == 1
    page.close()
