"""Station accounts through the one dispatch (issue 8): rules, the last admin, passwords, TOTP,
custody entries with the account's state digest. In-process, a real catalog, real OS users."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from access_support import ensure_user, require_root
from helpers import StationEnv
from sqlalchemy import select

from bodycam_ingest.access import accounts, passwords
from bodycam_ingest.access.identity import principal_for_uid, principal_of
from bodycam_ingest.access.principal import Principal
from bodycam_ingest.api.registry import dispatch
from bodycam_ingest.catalog.models import Event
from bodycam_ingest.errors import BadRequest, NotAuthorized, NotFound, NotMapped, Refused
from bodycam_ingest.station import Station

ROOT = Principal.system_user("root", 0)


@pytest.fixture
def st(station: StationEnv) -> Iterator[Station]:
    opened = Station.open(station.config)
    try:
        yield opened
    finally:
        opened.close()


def _call(st: Station, who: Principal, method: str, **params: Any) -> Any:
    from bodycam_ingest.api.protocol import roundtrip

    return roundtrip(dispatch(st, who, method, params))


def _as(st: Station, login: str) -> Principal:
    with st.catalog.reading() as session:
        return principal_of(accounts.get_account(session, login))


def _add(st: Station, login: str, roles: list[str], who: Principal = ROOT,
         **extra: Any) -> dict[str, Any]:
    return _call(st, who, "users.add", login=login, display_name=login.title(), roles=roles,
                 **extra)


def _account_events(st: Station) -> list[Event]:
    with st.catalog.reading() as session:
        return list(session.scalars(select(Event).where(Event.action.like("account_%"))
                                    .order_by(Event.seq)))


def test_every_change_is_a_custody_entry_whose_digest_is_the_rows_state(st: Station) -> None:
    _add(st, "admin.one", ["admin"])
    admin = _as(st, "admin.one")
    _add(st, "zhang.wei", ["officer"], who=admin, officer_number="A1024", unit="Patrol 3")
    _call(st, admin, "users.roles", login="zhang.wei", roles=["officer", "custodian"],
          reason="promoted")
    _call(st, admin, "users.disable", login="zhang.wei", reason="on leave")
    _call(st, admin, "users.enable", login="zhang.wei", reason="back")
    _call(st, admin, "users.passwd", login="zhang.wei", password="correct horse battery")

    events = _account_events(st)
    assert [(e.action, e.actor, e.subject) for e in events] == [
        ("account_created", "os:root", "admin.one"),
        ("account_created", "admin.one", "zhang.wei"),
        ("account_roles_changed", "admin.one", "zhang.wei"),
        ("account_disabled", "admin.one", "zhang.wei"),
        ("account_enabled", "admin.one", "zhang.wei"),
        ("account_password_set", "admin.one", "zhang.wei")]
    assert [e.reason for e in events[2:5]] == ["promoted", "on leave", "back"]
    shown = _call(st, admin, "users.show", login="zhang.wei")
    with st.catalog.reading() as session:
        row = next(r for r in accounts.account_rows(session) if r["login"] == "zhang.wei")
    last = json.loads(events[-1].details or "{}")
    assert last["state_digest"] == accounts.state_digest(accounts.account_state(row))
    assert last["state_digest"] == shown["state_digest"]
    assert last["state"]["roles"] == ["custodian", "officer"] and last["state"]["password_set"]
    assert "password_hash" not in shown and "totp_secret" not in shown
    assert "argon2" not in json.dumps(shown) and "argon2" not in (events[-1].details or "")
    assert shown["officer_number"] == "A1024" and shown["unit"] == "Patrol 3"


def test_roles_are_known_roles_and_the_officer_number_names_one_person(
        station: StationEnv) -> None:
    station.config_path.write_text(station.config_path.read_text()
                                   + '\n[access.roles]\nclerk = ["labels.add"]\n')
    st = Station.open(station.config)
    try:
        with pytest.raises(BadRequest, match=r"unknown role boss; the roles are officer, "
                           r"custodian, supervisor, auditor, admin, clerk"):
            _add(st, "a.b", ["boss"])
        assert _add(st, "a.clerk", ["clerk"])["roles"] == ["clerk"]
        _add(st, "li.a", ["officer"], officer_number="A1")
        with pytest.raises(Refused, match=r"officer number A1 already belongs to account li\.a"):
            _add(st, "li.b", ["officer"], officer_number="A1")
        with pytest.raises(Refused, match=r"account li\.a already exists"):
            _add(st, "li.a", ["officer"])
        with pytest.raises(BadRequest, match="login 'os:root' must be"):
            _add(st, "os:root", ["admin"])
        with pytest.raises(BadRequest, match="at least one role"):
            _add(st, "li.c", [])
    finally:
        st.close()


def test_the_last_enabled_admin_cannot_be_disabled_or_lose_the_role(st: Station) -> None:
    _add(st, "admin.one", ["admin"])
    admin = _as(st, "admin.one")
    with pytest.raises(Refused, match=r"admin\.one is the last enabled admin, so it cannot be "
                       r"disabled"):
        _call(st, admin, "users.disable", login="admin.one", reason="mistake")
    with pytest.raises(Refused, match="last enabled admin, so it cannot lose the admin role"):
        _call(st, ROOT, "users.roles", login="admin.one", roles=["auditor"], reason="x")
    _add(st, "admin.two", ["admin", "auditor"], who=admin)
    _call(st, admin, "users.disable", login="admin.two", reason="left the unit")
    with pytest.raises(Refused, match="last enabled admin"):  # the disabled one does not count
        _call(st, admin, "users.roles", login="admin.one", roles=["auditor"], reason="x")
    _call(st, admin, "users.enable", login="admin.two", reason="back")
    _call(st, admin, "users.roles", login="admin.one", roles=["auditor"], reason="rotation")
    assert _call(st, ROOT, "users.show", login="admin.one")["roles"] == ["auditor"]


def test_only_admins_manage_auditors_read_others_are_refused_naming_the_role(
        st: Station) -> None:
    _add(st, "ad", ["admin"])
    _add(st, "au", ["auditor"])
    _add(st, "cu", ["custodian"])
    auditor, custodian = _as(st, "au"), _as(st, "cu")
    assert [a["login"] for a in _call(st, auditor, "users.list")] == ["ad", "au", "cu"]
    assert _call(st, auditor, "users.show", login="cu")["roles"] == ["custodian"]
    with pytest.raises(NotAuthorized, match=r"au \(roles: auditor\) may not do users.manage; it "
                       "needs the role admin") as refused:
        _add(st, "x", ["officer"], who=auditor)
    assert refused.value.exit_status() == 5
    with pytest.raises(NotAuthorized, match=r"users\.list"):
        _call(st, custodian, "users.list")
    with pytest.raises(NotAuthorized, match=r"users\.manage"):
        _call(st, custodian, "users.passwd", login="au", password="another long secret")
    with pytest.raises(NotFound, match="Account 'nobody' does not exist"):
        _call(st, ROOT, "users.show", login="nobody")


def test_an_account_sets_its_own_password_and_gets_a_totp_secret_once(st: Station) -> None:
    _add(st, "sup", ["supervisor"])  # supervisor: a second factor by default
    _add(st, "off", ["officer"])
    sup, off = _as(st, "sup"), _as(st, "off")
    with pytest.raises(BadRequest, match="at least 10 characters"):
        _call(st, off, "users.passwd", password="short")
    assert _call(st, off, "users.passwd", password="officer password 1")["totp_uri"] is None
    first = _call(st, sup, "users.passwd", password="supervisor password")
    assert first["totp_uri"].startswith("otpauth://totp/bodycam:sup%40test-station?secret=")
    assert first["totp_set"] and first["password_set"]
    assert _call(st, sup, "users.passwd", password="supervisor password 2")["totp_uri"] is None
    with pytest.raises(BadRequest, match="the station itself has no console password"):
        _call(st, ROOT, "users.passwd", password="root password 123")

    reset = _call(st, ROOT, "users.totp", login="sup", reason="lost phone")
    assert reset["totp_uri"] != first["totp_uri"]
    with st.catalog.reading() as session:
        row = accounts.get_account(session, "sup")
    now = datetime.now(UTC)
    assert row.totp_secret and row.totp_secret in reset["totp_uri"]
    code = passwords.totp_code(row.totp_secret, now)
    required = st.config.access.totp_required_roles
    assert passwords.verify_login(row, "supervisor password 2", code, now,
                                  totp_required_roles=required).ok
    assert not passwords.verify_login(row, "supervisor password", code, now,
                                      totp_required_roles=required).ok


def test_mapping_needs_a_real_os_user_that_is_not_the_station(st: Station) -> None:
    require_root()
    _add(st, "li", ["custodian"])
    with pytest.raises(BadRequest, match="there is no OS user bct-no-such-user"):
        _call(st, ROOT, "users.map", login="li", os_user="bct-no-such-user")
    with pytest.raises(Refused, match="OS user root is the station itself"):
        _call(st, ROOT, "users.map", login="li", os_user="root")
    user = ensure_user("acct-map").pw_name
    assert _call(st, ROOT, "users.map", login="li", os_user=user)["os_users"] == [user]
    _add(st, "wang", ["custodian"])
    with pytest.raises(Refused, match=f"OS user {user} is already mapped to account li"):
        _call(st, ROOT, "users.map", login="wang", os_user=user)
    assert _call(st, ROOT, "users.unmap", os_user=user)["os_users"] == []
    with pytest.raises(NotFound, match="OS user mapping"):
        _call(st, ROOT, "users.unmap", os_user=user)


def test_a_disabled_account_is_refused_at_identity_resolution(st: Station) -> None:
    require_root()
    entry = ensure_user("acct-disabled")
    _add(st, "admin.one", ["admin"])
    _add(st, "gone", ["custodian"], os_users=[entry.pw_name])
    state_dir = st.config.storage.state_dir
    with st.catalog.reading() as session:
        assert principal_for_uid(session, entry.pw_uid, state_dir).login == "gone"
    _call(st, ROOT, "users.disable", login="gone", reason="left")
    with st.catalog.reading() as session, pytest.raises(NotMapped):
        principal_for_uid(session, entry.pw_uid, state_dir)
