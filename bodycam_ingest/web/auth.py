"""Console login: ``access.passwords.verify_login`` (argon2id, TOTP for the roles that need it),
throttled per account and per address; a login and a lockout are custody-log entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bodycam_ingest.access.authz import KIOSK
from bodycam_ingest.access.identity import principal_of
from bodycam_ingest.access.passwords import verify_login
from bodycam_ingest.access.principal import Principal
from bodycam_ingest.catalog.access_models import AccountRow
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.station import Station
from bodycam_ingest.web.sessions import Throttle

KIOSK_PRINCIPAL = Principal(login="console-kiosk", roles=frozenset({KIOSK}))


@dataclass(frozen=True)
class LoginResult:
    account: AccountRow | None
    problem: str | None  # "login_failed" | "locked" | "totp" (a code is needed)


ADDRESS_FACTOR = 5  # an address (a shared dock screen) may fail this many times more


def login(station: Station, throttle: Throttle, login_name: str, password: str,
          code: str | None, address: str, now: datetime) -> LoginResult:
    keys = (f"login:{login_name}", f"addr:{address}")
    if any(throttle.locked_until(key) for key in keys):
        return LoginResult(None, "locked")
    with station.catalog.reading() as session:
        row = session.scalar(select(AccountRow).where(AccountRow.login == login_name))
    check = verify_login(row, password, code, now,
                         totp_required_roles=station.config.access.totp_required_roles)
    # the page says only "wrong account or password" or "one-time code": never which part failed
    problem = None if check.ok else ("totp" if "TOTP" in check.reason else "login_failed")
    if check.ok and row is not None:
        for key in keys:
            throttle.succeed(key)
        with station.catalog.session() as session:
            record_event(session, at=now, actor=row.login, action="console_login",
                         details={"address": address})
        return LoginResult(row, None)
    locked = [key for key in keys if throttle.fail(key)]
    if locked:
        with station.catalog.session() as session:
            record_event(session, at=now, actor=station.actor, action="login_locked",
                         subject=login_name[:64], reason="too many failed console logins",
                         details={"address": address, "locked": locked})
    return LoginResult(None, problem)


def principal_for(station: Station, account_id: int) -> Principal | None:
    """The session's account as it is now (disabled or removed: None, the session ends)."""
    with station.catalog.reading() as session:
        row = session.get(AccountRow, account_id)
        if row is None or not row.enabled:
            return None
        return principal_of(row)
