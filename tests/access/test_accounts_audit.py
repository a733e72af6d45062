"""The audit's identity checks (access.audit_identity): actors are accounts known at the time or
os: markers; account rows are what their latest custody entry's digest says."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import StationEnv
from sqlalchemy import select

from bodycam_ingest.access import accounts
from bodycam_ingest.access.audit_identity import LogEntry, identity_problems, timeline
from bodycam_ingest.access.principal import Principal
from bodycam_ingest.api.registry import dispatch
from bodycam_ingest.catalog.models import Event
from bodycam_ingest.station import Station

ROOT = Principal.system_user("root", 0)


def _row(login: str, roles: list[str], **extra: Any) -> dict[str, Any]:
    return {"login": login, "display_name": login, "officer_number": None, "unit": None,
            "roles": json.dumps(roles), "enabled": True, "password_hash": None,
            "totp_secret": None, "os_users": [], **extra}


def _entry(seq: int, actor: str, action: str, row: dict[str, Any] | None = None) -> LogEntry:
    if row is None:
        return LogEntry(seq, actor, action, None)
    state = accounts.account_state(row)
    return LogEntry(seq, actor, action, json.dumps(
        {"login": row["login"], "state": accounts.public_state(state),
         "state_digest": accounts.state_digest(state)}))


ADMIN = _row("ad", ["admin"])
CLERK = _row("li", ["custodian"])
GOOD = [
    _entry(1, "wangj", "ingested"),  # before accounts: an OS name, not checked
    _entry(2, "os:root", "account_created", ADMIN),
    _entry(3, "ad", "account_created", CLERK),
    _entry(4, "li", "recording_viewed"),
    _entry(5, "os:bodycam", "manifest_signed"),
]


def test_a_consistent_log_and_table_have_no_problems() -> None:
    assert identity_problems(GOOD, [ADMIN, CLERK]) == []


def test_an_actor_that_is_no_account_at_that_time_is_a_problem() -> None:
    entries = [*GOOD, _entry(6, "chief-wang", "recording_viewed"),
               _entry(7, "zh", "recording_viewed"), _entry(8, "ad", "account_created",
                                                           _row("zh", ["officer"]))]
    problems = identity_problems(entries, [ADMIN, CLERK, _row("zh", ["officer"])])
    assert [(p.seq, p.login) for p in problems] == [(6, "chief-wang"), (7, "zh")]
    assert "neither an account created earlier in the log nor an os: marker" in problems[0].problem


def test_a_disabled_account_acting_is_a_problem() -> None:
    disabled = {**CLERK, "enabled": False}
    entries = [*GOOD, _entry(6, "ad", "account_disabled", disabled),
               _entry(7, "li", "recording_viewed")]
    problems = identity_problems(entries, [ADMIN, disabled])
    assert [(p.seq, p.problem) for p in problems] == [
        (7, "entry 7 (recording_viewed) was made by account li, which was disabled at that time")]


def test_a_row_changed_added_or_removed_behind_the_logs_back_is_a_problem() -> None:
    promoted = {**CLERK, "roles": json.dumps(["admin", "custodian"])}
    stranger = _row("ghost", ["admin"])
    problems = identity_problems(GOOD, [ADMIN, promoted, stranger])
    texts = [p.problem for p in problems]
    assert texts == [
        "account li differs from its latest custody-log entry 3 (roles changed without an "
        "entry)",
        "account ghost is in the accounts table but no custody-log entry created it"]
    assert [p.problem for p in identity_problems(GOOD, [ADMIN])] == [
        "account li is in the custody log but not in the accounts table (removed without an "
        "entry)"]
    new_password = {**CLERK, "password_hash": "$argon2id$forged"}
    assert "(password_set changed without an entry)" in identity_problems(
        GOOD, [ADMIN, new_password])[0].problem
    with_password = {**CLERK, "password_hash": "$argon2id$set-with-an-entry"}
    logged = [*GOOD, _entry(6, "ad", "account_password_set", with_password)]
    assert identity_problems(logged, [ADMIN, with_password]) == []
    swapped = {**CLERK, "password_hash": "$argon2id$swapped-behind-the-log"}
    assert "(its password or second factor changed without an entry)" in identity_problems(
        logged, [ADMIN, swapped])[0].problem


def test_an_account_entry_for_an_account_never_created_is_a_problem() -> None:
    entries = [*GOOD, _entry(6, "ad", "account_roles_changed", _row("nobody", ["officer"]))]
    problems = identity_problems(entries, [ADMIN, CLERK, _row("nobody", ["officer"])])
    assert [p.problem for p in problems] == [
        "entry 6 (account_roles_changed) changes account nobody, which no earlier entry created"]


def test_the_timeline_answers_roles_at_an_entry() -> None:
    promoted = {**CLERK, "roles": json.dumps(["custodian", "supervisor"])}
    line = timeline([*GOOD, _entry(9, "ad", "account_roles_changed", promoted)])
    assert line.roles_at("li", 4) == {"custodian"}
    assert line.roles_at("li", 9) == {"custodian"}  # as of just before entry 9
    assert line.roles_at("li", 10) == {"custodian", "supervisor"}
    assert line.roles_at("li", 3) == frozenset()  # not created yet


@pytest.fixture
def st(station: StationEnv) -> Iterator[Station]:
    opened = Station.open(station.config)
    try:
        yield opened
    finally:
        opened.close()


def _real(st: Station) -> tuple[list[Event], list[dict[str, Any]]]:
    with st.catalog.reading() as session:
        return (list(session.scalars(select(Event).order_by(Event.seq))),
                accounts.account_rows(session))


def test_the_real_catalog_passes_until_a_row_is_edited_with_sqlite(
        st: Station, station: StationEnv) -> None:
    dispatch(st, ROOT, "users.add", {"login": "ad", "display_name": "Ad", "roles": ["admin"]})
    dispatch(st, ROOT, "users.add", {"login": "li", "display_name": "Li", "roles": ["officer"]})
    dispatch(st, ROOT, "users.passwd", {"login": "li", "password": "a long password"})
    assert identity_problems(*_real(st)) == []
    with sqlite3.connect(station.db) as db:
        db.execute("UPDATE accounts SET roles = '[\"admin\"]' WHERE login = 'li'")
    problems = identity_problems(*_real(st))
    assert [p.problem for p in problems] == [
        "account li differs from its latest custody-log entry 3 (roles changed without an "
        "entry)"]


BOSS = _row("wang", ["supervisor"])


def _approved(seq: int, actor: str, approver: str) -> LogEntry:
    return LogEntry(seq, actor, "export_created", None, approver)


def test_an_approval_must_be_a_second_account_holding_an_approving_role_then() -> None:
    entries = [*GOOD, _entry(6, "ad", "account_created", BOSS),
               _approved(7, "li", "wang"),  # fine: a supervisor approved a custodian's request
               _approved(8, "li", "li"),  # self-approval
               _approved(9, "li", "ad"),  # an admin is no approver
               _approved(10, "li", "os:root"),  # the system is not a person
               _approved(11, "li", "chief-wang")]  # a typed name, no account
    problems = identity_problems(entries, [ADMIN, CLERK, BOSS])
    assert [(p.seq, p.login) for p in problems] == [
        (8, "li"), (9, "ad"), (10, "os:root"), (11, "chief-wang")]
    assert "own actor" in problems[0].problem and "not a person" in problems[2].problem
    # an approval before the supervisor existed is refused too: the role is judged at the time
    early = [*GOOD, _approved(6, "li", "wang"), _entry(7, "ad", "account_created", BOSS)]
    assert [p.seq for p in identity_problems(early, [ADMIN, CLERK, BOSS])] == [6]
