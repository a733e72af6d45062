"""Console secrets: argon2id password hashes and TOTP second factors, and the one login check.

Pure apart from the hashing itself: ``verify_login`` takes an account row (or ``None`` for an
unknown login), what the person typed and the time, and says whether they may log in and, if not,
why (the console shows one generic sentence for a wrong login or password, never which it was).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Protocol

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
TOTP_ISSUER = "bodycam"
TOTP_WINDOW = 1  # one 30-second step either side: clocks of phones drift

_HASHER = PasswordHasher()  # argon2id, RFC 9106 "low memory" profile (64 MiB, t=3, p=4)


@cache
def _dummy_hash() -> str:
    """Verified for an unknown login, so a wrong login costs as long as a wrong password (made
    on first use: importing this module must not cost every command a hash)."""
    return _HASHER.hash("no such account: this hash only costs time")

WRONG_LOGIN = "wrong login or password"


class LoginRow(Protocol):
    """What ``verify_login`` reads of an account (an ``AccountRow`` has it)."""

    @property
    def login(self) -> str: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def roles(self) -> str: ...  # JSON list, as stored
    @property
    def password_hash(self) -> str | None: ...
    @property
    def totp_secret(self) -> str | None: ...


@dataclass(frozen=True)
class LoginCheck:
    ok: bool
    reason: str  # why not (empty when ok); WRONG_LOGIN for an unknown login or a wrong password
    rehash: bool = False  # ok, and the stored hash uses older parameters: store hash_password again


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be a console password, or None."""
    if len(password) < MIN_PASSWORD:
        return f"a password needs at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"a password may have at most {MAX_PASSWORD} characters"
    if password != password.strip():
        return "a password may not begin or end with white space"
    return None


def hash_password(password: str) -> str:
    """The argon2id PHC string of ``password`` (salted; each call gives a different string)."""
    return _HASHER.hash(password)


def password_matches(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, login: str, station_id: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (show it as a QR code or type it)."""
    return pyotp.TOTP(secret).provisioning_uri(name=f"{login}@{station_id}",
                                               issuer_name=TOTP_ISSUER)


def totp_code(secret: str, now: datetime) -> str:
    """The code an authenticator shows at ``now`` (for tests and the console's setup check)."""
    return pyotp.TOTP(secret).at(now)


def needs_totp(roles: Iterable[str], totp_required_roles: Collection[str]) -> bool:
    return any(role in totp_required_roles for role in roles)


def verify_login(row: LoginRow | None, password: str, totp_code: str | None, now: datetime, *,
                 totp_required_roles: Collection[str]) -> LoginCheck:
    """May this person log in to the console now? The password is always checked (also for an
    unknown or disabled account, so timing tells nothing); a TOTP code is required when the
    account has a secret, and an account whose roles need one but has none is refused."""
    import json

    matches = password_matches(row.password_hash if row is not None else None, password)
    if row is None or not matches:
        return LoginCheck(False, WRONG_LOGIN)
    if not row.enabled:
        return LoginCheck(False, f"account {row.login} is disabled")
    roles = json.loads(row.roles)
    if row.totp_secret is None:
        if needs_totp(roles, totp_required_roles):
            return LoginCheck(False, f"account {row.login} must use a second factor and has none "
                              "yet; set one up with: bodycam users passwd")
    else:
        if not totp_code:
            return LoginCheck(False, "a TOTP code from your authenticator is required")
        if not pyotp.TOTP(row.totp_secret).verify(totp_code.strip(), for_time=now,
                                                  valid_window=TOTP_WINDOW):
            return LoginCheck(False, "wrong TOTP code")
    rehash = _HASHER.check_needs_rehash(row.password_hash or "")
    return LoginCheck(True, "", rehash=rehash)
