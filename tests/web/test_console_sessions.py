"""Sessions and throttling as plain objects on an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bodycam_ingest.web.sessions import SessionStore, Throttle


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_session_expires_after_its_idle_lifetime_and_activity_renews_it() -> None:
    clock = Clock()
    store = SessionStore(timedelta(minutes=30), clock)
    session = store.create(7, "zhang")
    clock.now += timedelta(minutes=29)
    assert store.get(session.token) is session  # renewed for 30 more minutes
    clock.now += timedelta(minutes=29)
    assert store.get(session.token) is session
    clock.now += timedelta(minutes=30)
    assert store.get(session.token) is None
    assert store.get(None) is None and store.get("forged") is None


def test_a_throttle_locks_after_n_failures_until_the_window_passes() -> None:
    clock = Clock()
    throttle = Throttle(3, timedelta(minutes=15), clock, {"addr": 6})
    assert [throttle.fail("login:a") for _ in range(3)] == [False, False, True]
    assert throttle.locked_until("login:a") == clock.now + timedelta(minutes=15)
    assert throttle.locked_until("addr:x") is None
    assert not any(throttle.fail("addr:x") for _ in range(5)) and throttle.fail("addr:x")
    clock.now += timedelta(minutes=15)
    assert throttle.locked_until("login:a") is None
    throttle.fail("login:b")
    throttle.succeed("login:b")
    assert throttle.locked_until("login:b") is None
