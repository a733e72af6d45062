"""Console logins: server-side sessions and login throttling. Plain data, an injected clock.

A session is a random token in an ``HttpOnly; SameSite=Strict`` cookie (``Secure`` under TLS)
mapping to an account id and a CSRF token; nothing about the person is in the cookie. Sessions
live in the daemon's memory: a restart logs everyone out, which is the safe direction.
"""

from __future__ import annotations

import secrets
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class Session:
    token: str
    account_id: int
    login: str
    csrf: str
    expires: datetime
    media: dict[str, int] = field(default_factory=dict)  # media token -> recording id


class SessionStore:
    def __init__(self, lifetime: timedelta, clock: Callable[[], datetime]) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, account_id: int, login: str) -> Session:
        session = Session(token=secrets.token_urlsafe(32), account_id=account_id, login=login,
                          csrf=secrets.token_urlsafe(32), expires=self.clock() + self.lifetime)
        with self._lock:
            self._sessions[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        """The live session for ``token`` (its lifetime renewed), or None."""
        if not token:
            return None
        now = self.clock()
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if session.expires <= now:
                del self._sessions[token]
                return None
            session.expires = now + self.lifetime
            return session

    def drop(self, token: str | None) -> None:
        with self._lock:
            self._sessions.pop(token or "", None)

    def drop_account(self, account_id: int) -> None:
        with self._lock:
            for token in [t for t, s in self._sessions.items() if s.account_id == account_id]:
                del self._sessions[token]


class Throttle:
    """At most ``attempts`` failures per key (a login, an address) in ``window``; then the key is
    locked until the oldest failure of the window has aged out."""

    def __init__(self, attempts: int, window: timedelta, clock: Callable[[], datetime],
                 limits: dict[str, int] | None = None) -> None:
        self.attempts = attempts
        self.limits = limits or {}  # key prefix ("addr") -> its own number of attempts
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[datetime]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str) -> deque[datetime]:
        now = self.clock()
        failures = self._failures[key]
        while failures and now - failures[0] >= self.window:
            failures.popleft()
        return failures

    def _limit(self, key: str) -> int:
        return self.limits.get(key.split(":", 1)[0], self.attempts)

    def locked_until(self, key: str) -> datetime | None:
        with self._lock:
            failures = self._recent(key)
            return failures[0] + self.window if len(failures) >= self._limit(key) else None

    def fail(self, key: str) -> bool:
        """Count a failure; True when this one locks the key."""
        with self._lock:
            failures = self._recent(key)
            failures.append(self.clock())
            return len(failures) == self._limit(key)

    def succeed(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
