"""Console login: an account's password (argon2id) and, for the roles that need it, a TOTP code.
Failures are throttled per account and per address; a lockout is a custody-log entry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from bodycam_ingest.access.authz import KIOSK
from bodycam_ingest.access.identity import principal_of
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


def password_ok(row: AccountRow, password: str, code: str | None,
                totp_roles: tuple[str, ...]) -> tuple[bool, str | None]:
    """(accepted, problem): the password against the argon2id hash, then the TOTP code when one
    of the account's roles requires it (an account that needs one and has none cannot log in)."""
    from argon2 import PasswordHasher
    from argon2.exceptions import Argon2Error, InvalidHashError

    if not row.enabled or not row.password_hash:
        return False, "login_failed"
    try:
        PasswordHasher().verify(row.password_hash, password)
    except (Argon2Error, InvalidHashError):
        return False, "login_failed"
    if set(json.loads(row.roles)) & set(totp_roles):
        import pyotp

        if not row.totp_secret or not code or not pyotp.TOTP(row.totp_secret).verify(
                code.strip(), valid_window=1):
            return False, "totp"
    return True, None


ADDRESS_FACTOR = 5  # an address (a shared dock screen) may fail this many times more


def login(station: Station, throttle: Throttle, login_name: str, password: str,
          code: str | None, address: str, now: datetime) -> LoginResult:
    keys = (f"login:{login_name}", f"addr:{address}")
    if any(throttle.locked_until(key) for key in keys):
        return LoginResult(None, "locked")
    with station.catalog.reading() as session:
        row = session.scalar(select(AccountRow).where(AccountRow.login == login_name))
    accepted, problem = (password_ok(row, password, code, station.config.access.totp_required_roles)
                         if row is not None else (False, "login_failed"))
    if accepted and row is not None:
        for key in keys:
            throttle.succeed(key)
        with station.catalog.session() as session:
            record_event(session, at=now, actor=row.login, action="console_login",
                         details={"address": address})
        return LoginResult(row, None)
    locked = [key for key in keys if throttle.fail(key)]
    if locked:
        with station.catalog.session() as session:
            record_event(session, at=now, actor=f"console:{address}", action="login_locked",
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
