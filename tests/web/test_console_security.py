"""The console is defended as a public-facing app would be, even on a LAN (issue 10)."""

from __future__ import annotations

import json
import sqlite3

from web_support import Browser, ConsoleStation, totp_code

from bodycam_ingest.config import parse_config
from bodycam_ingest.errors import ConfigError


def _events(console: ConsoleStation, action: str) -> list[tuple[str, int | None, str | None]]:
    with sqlite3.connect(console.env.db, timeout=30) as db:
        return db.execute("SELECT actor, recording_id, subject FROM events WHERE action = ? "
                          "ORDER BY seq", (action,)).fetchall()


def test_every_response_carries_the_security_headers(console: ConsoleStation) -> None:
    browser = Browser(console.url)
    for path in ("/login", "/wall", "/wall/state", "/static/console.css"):
        status, headers, _ = browser.get(path)
        assert status == 200, path
        lowered = {k.lower(): v for k, v in headers.items()}
        assert "default-src 'self'" in lowered["content-security-policy"]
        assert "script-src 'self'" in lowered["content-security-policy"]
        assert "frame-ancestors 'none'" in lowered["content-security-policy"]
        assert lowered["x-content-type-options"] == "nosniff"
        assert lowered["x-frame-options"] == "DENY"
        assert lowered["referrer-policy"] == "no-referrer"


def test_the_session_cookie_is_httponly_and_samesite_strict(console: ConsoleStation) -> None:
    browser = Browser(console.url)
    assert browser.login("zhang") == 303
    cookies = {c.name: c for c in browser.jar}
    session = cookies["bodycam_session"]
    assert session.has_nonstandard_attr("HttpOnly")
    assert session.get_nonstandard_attr("SameSite", "").lower() == "strict"


def test_state_changes_need_the_csrf_token_the_own_session_and_a_live_login(
        console: ConsoleStation) -> None:
    zhang, li = Browser(console.url), Browser(console.url)
    assert zhang.login("zhang") == 303 and li.login("li") == 303
    token = zhang.csrf()
    # no token, and another user's token with this session: refused before anything runs
    assert zhang.api("recordings.play", {"recording_id": 1}, None)[0] == 403
    assert li.api("recordings.play", {"recording_id": 1}, token)[0] == 403
    # li's own session and token, on zhang's recording: not found, and the attempt is logged
    status, body = li.api("recordings.play", {"recording_id": 1}, li.csrf())
    assert status == 404 and "does not exist" in body["error"]["message"]
    assert ("li", 1, None) in _events(console, "access_refused")
    # after logout the old token and cookie are worthless
    status, _, _ = zhang.request("POST", "/logout", f"csrf={token}".encode(),
                                 {"content-type": "application/x-www-form-urlencoded"})
    assert status == 303
    assert zhang.api("recordings.play", {"recording_id": 1}, token)[0] == 401
    assert _events(console, "recording_played") == []


def test_an_officer_fetching_another_officers_video_by_url_gets_nothing_and_is_logged(
        console: ConsoleStation) -> None:
    li = Browser(console.url)
    assert li.login("li") == 303
    page_status, _, _ = li.get("/recordings/2")
    assert page_status == 404
    assert li.get("/media/guessed-token")[0] == 404
    assert ("li", 2, None) in _events(console, "access_refused")


def test_login_throttling_locks_the_account_and_logs_the_lockout(console: ConsoleStation) -> None:
    attacker = Browser(console.url)
    for _ in range(3):  # login_attempts = 3 in this station's config
        assert attacker.login("zhao", "guess") == 401
    assert attacker.login("zhao") == 401  # even the right password, while locked
    locked = _events(console, "login_locked")
    assert locked and locked[0][2] == "zhao"
    with sqlite3.connect(console.env.db, timeout=30) as db:
        details = json.loads(db.execute("SELECT details FROM events WHERE action='login_locked'"
                                        ).fetchone()[0])
    assert details["locked"] == ["login:zhao"]  # the shared screen's address is not locked
    wang = Browser(console.url)  # others still log in from the same address
    assert wang.login("wang") == 401  # a supervisor needs the second factor ...
    assert wang.login("wang", totp=totp_code(console.totp["wang"])) == 303  # ... and has it


def test_a_console_on_the_network_without_tls_is_refused_by_the_config() -> None:
    base = {"station": {"id": "s"}}
    assert parse_config({**base, "web": {"listen": "127.0.0.1:8080"}}).web is not None
    for listen in ("0.0.0.0:8080", "192.0.2.7:443"):
        try:
            parse_config({**base, "web": {"listen": listen}})
        except ConfigError as exc:
            assert "needs TLS" in exc.message()
        else:
            raise AssertionError(f"{listen} without TLS was accepted")
