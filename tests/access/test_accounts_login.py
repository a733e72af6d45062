"""``verify_login``: the console's one login check (pure: a row, what was typed, the time)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from bodycam_ingest.access import passwords
from bodycam_ingest.access.passwords import WRONG_LOGIN, verify_login

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
REQUIRED = ("admin", "supervisor")
PASSWORD = "a long enough password"
HASH = passwords.hash_password(PASSWORD)
SECRET = pyotp.random_base32()


@dataclass
class Row:
    login: str = "li.clerk"
    enabled: bool = True
    roles: str = json.dumps(["custodian"])
    password_hash: str | None = HASH
    totp_secret: str | None = None


def test_the_right_password_logs_in_and_a_hash_is_argon2id_salted() -> None:
    check = verify_login(Row(), PASSWORD, None, NOW, totp_required_roles=REQUIRED)
    assert check.ok and check.reason == "" and not check.rehash
    assert HASH.startswith("$argon2id$")
    assert passwords.hash_password(PASSWORD) != HASH  # a new salt each time


@pytest.mark.parametrize(("row", "password"), [
    (Row(), "a wrong password!!"),
    (None, PASSWORD),  # no such login: the same answer
    (Row(password_hash=None), PASSWORD),  # no console password set yet
    (Row(password_hash="not a hash"), PASSWORD),
])
def test_a_wrong_login_or_password_is_one_answer(row: Row | None, password: str) -> None:
    check = verify_login(row, password, None, NOW, totp_required_roles=REQUIRED)
    assert not check.ok and check.reason == WRONG_LOGIN


def test_a_disabled_account_is_refused_even_with_the_right_password() -> None:
    check = verify_login(Row(enabled=False), PASSWORD, None, NOW, totp_required_roles=REQUIRED)
    assert not check.ok and check.reason == "account li.clerk is disabled"


def test_a_totp_secret_makes_the_code_required_and_checked_at_now() -> None:
    row = Row(totp_secret=SECRET)
    code = passwords.totp_code(SECRET, NOW)
    assert verify_login(row, PASSWORD, code, NOW, totp_required_roles=()).ok
    assert verify_login(row, PASSWORD, code, NOW + timedelta(seconds=30),
                        totp_required_roles=()).ok  # one step of clock drift
    late = verify_login(row, PASSWORD, code, NOW + timedelta(minutes=5), totp_required_roles=())
    assert not late.ok and late.reason == "wrong TOTP code"
    missing = verify_login(row, PASSWORD, None, NOW, totp_required_roles=())
    assert not missing.ok and "TOTP code from your authenticator is required" in missing.reason
    wrong_password = verify_login(row, "a wrong password!!", code, NOW, totp_required_roles=())
    assert wrong_password.reason == WRONG_LOGIN


def test_roles_that_need_a_second_factor_refuse_an_account_without_one() -> None:
    row = Row(roles=json.dumps(["supervisor"]))
    check = verify_login(row, PASSWORD, None, NOW, totp_required_roles=REQUIRED)
    assert not check.ok and "must use a second factor and has none" in check.reason
    assert verify_login(row, PASSWORD, None, NOW, totp_required_roles=("admin",)).ok


def test_a_hash_with_weaker_parameters_asks_for_a_rehash() -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    check = verify_login(Row(password_hash=weak), PASSWORD, None, NOW,
                         totp_required_roles=REQUIRED)
    assert check.ok and check.rehash


@pytest.mark.parametrize(("password", "problem"), [
    ("short", "at least 10 characters"), (" leading space!!", "white space"),
    ("x" * 1025, "at most 1024")])
def test_password_rules(password: str, problem: str) -> None:
    assert problem in (passwords.password_problem(password) or "")
    assert passwords.password_problem("ten chars!") is None
