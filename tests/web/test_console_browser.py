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
    assert ids == [7, 6, 4, 3, 2, 1]  # A1024's, newest first; B2048's recording 5 is not there
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


def _events_of(console: ConsoleStation, action: str) -> list[tuple[str, int | None, str | None]]:
    with sqlite3.connect(console.env.db, timeout=30) as db:
        return db.execute("SELECT actor, recording_id, approved_by FROM events WHERE action = ? "
                          "ORDER BY seq", (action,)).fetchall()


def test_an_officer_labels_a_recording_before_its_deadline_and_the_custody_log_shows_it(
        chromium: Any, console: ConsoleStation) -> None:
    page = _login(chromium, console, "zhang")
    row = page.locator("#recordings tbody tr[data-id='7'] .countdown")
    assert row.get_attribute("class") is not None and "ok" in str(row.get_attribute("class"))
    assert int(str(row.get_attribute("data-left"))) > 0  # the deadline is still ahead
    page.goto(f"{console.url}/recordings/7")
    page.fill("input[name=case_number]", "人社监察[2026]12号")
    page.fill("input[name=party]", "某某建筑公司")
    page.select_option("select[name=party_kind]", "organisation")
    page.select_option("select[name=matter]", "on-site-inspection")
    page.fill("input[name=officers]", "张三:A1024, 李四:B2048")
    page.click("#label-form button[type=submit]")
    page.wait_for_selector("#label-result.ok")
    assert ("zhang", 7, None) in _events_of(console, "label_set")
    with sqlite3.connect(console.env.db, timeout=30) as db:
        case, party, actor = db.execute("SELECT case_number, party, actor FROM custody_labels "
                                        "WHERE recording_id = 7").fetchone()
    assert (case, party, actor) == ("人社监察[2026]12号", "某某建筑公司", "zhang")
    log = json.loads(console.env.run("log", "7", "--json", check=True).stdout)
    assert any(e["action"] == "label_set" and e["actor"] == "zhang" for e in log)
    page.goto(f"{console.url}/me")
    assert "labelled" in str(page.locator("#recordings tbody tr[data-id='7']").get_attribute(
        "class"))
    page.close()


def test_a_finding_is_explained_from_its_marker_on_the_timeline(
        chromium: Any, console: ConsoleStation) -> None:
    page = _login(chromium, console, "zhang")
    page.goto(f"{console.url}/recordings/6")
    marker = page.locator("#timeline .marker[data-kind='timestamp_gap']")
    offset = float(str(marker.get_attribute("data-offset")))
    assert abs(offset - 1.2) < 0.11
    marker.click()  # seeks the player there and focuses the explanation
    deadline = time.monotonic() + 60
    while float(page.evaluate("document.getElementById('player').currentTime")) < offset - 0.2:
        assert time.monotonic() < deadline, "the player did not seek to the finding"
        page.wait_for_timeout(100)
    finding = marker.get_attribute("data-finding")
    form = page.locator(f"form.explain[data-finding='{finding}']")
    form.locator("input[name=reason]").fill("rain: the camera was covered for 1.3 s")
    form.locator("button").click()
    page.wait_for_selector(f"#finding-{finding} p.ok")
    findings = json.loads(console.env.run("findings", "--recording", "6", "--json",
                                          check=True).stdout)
    explained = [f for f in findings["explained"] if str(f["id"]) == finding]
    assert explained and explained[0]["explained"]
    assert explained[0]["explanations"][-1]["actor"] == "zhang"
    page.close()


def test_an_export_needs_a_second_person_and_the_package_verifies(
        chromium: Any, console: ConsoleStation, tmp_path: Any) -> None:
    custodian = _login(chromium, console, "chen")
    custodian.goto(f"{console.url}/review/exports/new")
    custodian.fill("input[name=ids]", "1, 2")
    custodian.fill("input[name=recipient]", "court")
    custodian.fill("input[name=reason]", "court order 2026-17")
    custodian.click("#export-form button[type=submit]")
    custodian.wait_for_selector("#export-result.ok")
    request = int(str(custodian.get_attribute("#export-form", "data-request")))
    custodian.goto(f"{console.url}/review/requests/{request}")
    custodian.click("#approve")
    custodian.wait_for_selector("#decision-result.problem")
    refusal = custodian.inner_text("#decision-result")
    assert "approve" in refusal or "own" in refusal, refusal
    from web_support import totp_code

    supervisor = _login(chromium, console, "wang", totp_code(console.totp["wang"]))
    supervisor.goto(f"{console.url}/review/requests/{request}")
    shown = supervisor.inner_text("#digest")
    supervisor.fill("#decision-reason", "order checked")
    supervisor.click("#approve")
    supervisor.wait_for_selector("#download")
    assert _events_of(console, "request_approved")[-1][0] == "wang"
    with supervisor.expect_download() as download:
        supervisor.click("#download")
    archive = tmp_path / "export.tar"
    download.value.save_as(str(archive))
    import subprocess
    import tarfile

    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "out", filter="data")
    package = tmp_path / "out" / f"export-{request}"
    checked = subprocess.run(["sha256sum", "-c", "manifest-sha256.txt"], cwd=package,
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(": OK") >= 2
    with sqlite3.connect(console.env.db, timeout=30) as db:
        digest = db.execute("SELECT preview_digest FROM requests WHERE id = ?",
                            (request,)).fetchone()[0]
    assert shown == digest
    custodian.close()
    supervisor.close()
