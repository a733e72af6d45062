"""Station accounts: create, list, show, disable, enable, map, unmap, roles, password, TOTP.

Each function works in the caller's catalog session and, for a change, appends one custody-log
entry (``account_*``) whose ``details`` hold the account's new public state and ``state_digest``,
the SHA-256 of its whole state (secrets included as digests). The audit recomputes that digest from
the accounts table (access.audit_identity): a row changed behind the log's back shows.

Rules kept here, whoever calls: logins are lower-case names (never ``os:...``, the system marker),
roles are known roles, an officer number belongs to one account, an OS user to one account, and
the last enabled admin cannot be disabled or lose the role.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.access.authz import ADMIN, BUILTIN_ROLES
from bodycam_ingest.catalog.access_models import AccountOsUser, AccountRow
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.errors import BadRequest, NotFound, Refused

LOGIN_RE = re.compile(r"^[a-z][a-z0-9._-]{0,63}$")
OS_USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,63}\$?$")
ROLE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
STATION_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")  # as station.id

# custody-log actions of account changes (the audit treats every "account_" action as one)
CREATED, DISABLED, ENABLED, MAPPED, UNMAPPED, ROLES, PASSWORD, TOTP = (
    "account_created", "account_disabled", "account_enabled", "account_mapped",
    "account_unmapped", "account_roles_changed", "account_password_set", "account_totp_set")
ACCOUNT_ACTION_PREFIX = "account_"


# --------------------------------------------------------------------------- pure: state digest
def _secret_digest(value: str | None) -> str | None:
    return hashlib.sha256(value.encode()).hexdigest() if value else None


def account_state(row: Mapping[str, Any]) -> dict[str, Any]:
    """An account's whole state as plain data, from a mapping with the accounts columns plus
    ``os_users`` (``roles`` as the stored JSON text or a list). Secrets appear as SHA-256."""
    roles = row["roles"]
    roles = json.loads(roles) if isinstance(roles, str) else list(roles)
    return {"login": row["login"], "display_name": row["display_name"],
            "officer_number": row.get("officer_number"), "unit": row.get("unit"),
            "roles": sorted(roles), "enabled": bool(row["enabled"]),
            "os_users": sorted(row.get("os_users") or ()),
            "password": _secret_digest(row.get("password_hash")),
            "totp": _secret_digest(row.get("totp_secret")),
            # roles limited to stations (issue 12): only when limited, so the digests of
            # accounts recorded before stations existed stay what they were
            **({} if row.get("stations") is None else {"stations": sorted(
                json.loads(row["stations"]) if isinstance(row["stations"], str)
                else row["stations"])})}


def state_digest(state: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``account_state(...)``."""
    text = json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def public_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """The state without secrets' digests: what the custody log and ``users show`` display."""
    public = {k: v for k, v in state.items() if k not in ("password", "totp")}
    public["password_set"] = state["password"] is not None
    public["totp_set"] = state["totp"] is not None
    return public


def known_roles(extra_roles: Iterable[str]) -> tuple[str, ...]:
    return (*BUILTIN_ROLES, *sorted(set(extra_roles) - set(BUILTIN_ROLES)))


def checked_roles(roles: Iterable[str], known: Collection[str]) -> list[str]:
    """``roles`` as a sorted list without duplicates, or BadRequest naming the known ones."""
    cleaned = sorted({role.strip() for role in roles if role.strip()})
    if not cleaned:
        raise BadRequest(problem="an account needs at least one role; to take every right away "
                         "disable it (bodycam users disable LOGIN --reason ...)")
    unknown = [role for role in cleaned if role not in known]
    if unknown:
        raise BadRequest(problem=f"unknown role {', '.join(unknown)}; the roles are "
                         f"{', '.join(known)} (more in the config's [access] roles)")
    return cleaned


def checked_stations(stations: Iterable[str] | None) -> str | None:
    """The stored form of the stations an account's roles hold on (None or [] : every one)."""
    cleaned = sorted({s.strip() for s in stations or () if s.strip()})
    for ident in cleaned:
        if not STATION_RE.match(ident):
            raise BadRequest(problem=f"{ident!r} is not a station id (letters, digits, . _ -)")
    return json.dumps(cleaned) if cleaned else None


def checked_login(login: str) -> str:
    if not LOGIN_RE.match(login):
        raise BadRequest(problem=f"login {login!r} must be 1-64 characters: lower-case letters, "
                         "digits, '.', '_' or '-', starting with a letter")
    return login


def checked_os_user(name: str) -> str:
    if not OS_USER_RE.match(name):
        raise BadRequest(problem=f"{name!r} is not an OS user name")
    return name


# --------------------------------------------------------------------------- catalog
def os_users_of(session: Session, account_id: int) -> list[str]:
    """Every OS user mapped to the account, at any station (the account is bureau-wide, so its
    state is the same seen from every station; who a uid is stays the station's own mapping:
    ``identity.principal_for_uid``). Core on purpose: the station scope would hide the others."""
    return sorted(session.connection().execute(select(AccountOsUser.os_user).where(
        AccountOsUser.account_id == account_id)).scalars())


def row_mapping(session: Session, row: AccountRow) -> dict[str, Any]:
    return {"id": row.id, "login": row.login, "display_name": row.display_name,
            "officer_number": row.officer_number, "unit": row.unit, "roles": row.roles,
            "enabled": row.enabled, "password_hash": row.password_hash,
            "totp_secret": row.totp_secret, "os_users": os_users_of(session, row.id),
            "stations": row.stations,
            "created_at": row.created_at, "created_by": row.created_by,
            "updated_at": row.updated_at}


def account_rows(session: Session) -> list[dict[str, Any]]:
    """Every account as a mapping ``account_state`` reads (for the audit)."""
    rows = session.scalars(select(AccountRow).order_by(AccountRow.id))
    return [row_mapping(session, row) for row in rows]


def account_json(session: Session, row: AccountRow) -> dict[str, Any]:
    """An account as the API shows it: public state, ids and times, never a secret."""
    mapping = row_mapping(session, row)
    state = account_state(mapping)
    return {"id": row.id, **public_state(state), "state_digest": state_digest(state),
            "created_at": row.created_at, "created_by": row.created_by,
            "updated_at": row.updated_at}


def get_account(session: Session, login: str) -> AccountRow:
    row = session.scalars(select(AccountRow).where(AccountRow.login == login)).first()
    if row is None:
        raise NotFound(what="Account", ident=login, hint="List accounts with: bodycam users list")
    return row


def list_accounts(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(select(AccountRow).order_by(AccountRow.login))
    return [account_json(session, row) for row in rows]


def show_account(session: Session, login: str) -> dict[str, Any]:
    return account_json(session, get_account(session, login))


def _log(session: Session, row: AccountRow, *, now: datetime, actor: str, action: str,
         reason: str | None, extra: Mapping[str, Any] | None = None) -> None:
    session.flush()
    state = account_state(row_mapping(session, row))
    record_event(session, at=now, actor=actor, action=action, subject=row.login, reason=reason,
                 details={"login": row.login, "state": public_state(state),
                          "state_digest": state_digest(state), **(extra or {})})


def _enabled_admins(session: Session) -> list[str]:
    rows = session.scalars(select(AccountRow).where(AccountRow.enabled.is_(True)))
    return [row.login for row in rows if ADMIN in json.loads(row.roles)]


def _keep_an_admin(session: Session, row: AccountRow, what: str) -> None:
    if row.enabled and ADMIN in json.loads(row.roles) and _enabled_admins(session) == [row.login]:
        raise Refused(reason=f"{row.login} is the last enabled admin, so it cannot {what}: the "
                      "station would have nobody to manage accounts. Add another admin first "
                      "(bodycam users add LOGIN --roles admin ...)")


def _officer_free(session: Session, officer_number: str | None, login: str) -> None:
    if officer_number is None:
        return
    other = session.scalars(select(AccountRow).where(
        AccountRow.officer_number == officer_number)).first()
    if other is not None and other.login != login:
        raise Refused(reason=f"officer number {officer_number} already belongs to account "
                      f"{other.login}; an officer number names one person")


def _os_user_free(session: Session, os_user: str, login: str) -> bool:
    """True if ``os_user`` is already mapped to ``login``; Refused if to another account."""
    mapped = session.scalars(select(AccountOsUser).where(  # this station's (scoped)
        AccountOsUser.os_user == os_user)).first()
    if mapped is None:
        return False
    owner = session.get(AccountRow, mapped.account_id)
    if owner is not None and owner.login == login:
        return True
    raise Refused(reason=f"OS user {os_user} is already mapped to account "
                  f"{owner.login if owner else mapped.account_id}; unmap it first "
                  f"(bodycam users unmap {os_user})")


def create_account(session: Session, *, now: datetime, actor: str, login: str,
                   display_name: str, roles: Iterable[str], known: Collection[str],
                   officer_number: str | None = None, unit: str | None = None,
                   os_users: Iterable[str] = (),
                   stations: Iterable[str] | None = None) -> AccountRow:
    checked_login(login)
    role_list = checked_roles(roles, known)
    display_name = display_name.strip()
    if not display_name:
        raise BadRequest(problem="an account needs a display name (--name)")
    officer_number = (officer_number or "").strip() or None
    if session.scalars(select(AccountRow.id).where(AccountRow.login == login)).first():
        raise Refused(reason=f"account {login} already exists; see it with: bodycam users show "
                      f"{login}")
    _officer_free(session, officer_number, login)
    names = sorted({checked_os_user(name) for name in os_users})
    for name in names:
        _os_user_free(session, name, login)
    row = AccountRow(login=login, display_name=display_name, officer_number=officer_number,
                     unit=(unit or "").strip() or None, roles=json.dumps(role_list), enabled=True,
                     created_at=now, created_by=actor, updated_at=now,
                     stations=checked_stations(stations))
    session.add(row)
    session.flush()
    for name in names:
        session.add(AccountOsUser(os_user=name, account_id=row.id))
    _log(session, row, now=now, actor=actor, action=CREATED, reason=None)
    return row


def set_enabled(session: Session, *, now: datetime, actor: str, login: str, enabled: bool,
                reason: str) -> AccountRow:
    row = get_account(session, login)
    _reason(reason)
    if row.enabled == enabled:
        raise Refused(reason=f"account {login} is already {'enabled' if enabled else 'disabled'}")
    if not enabled:
        _keep_an_admin(session, row, "be disabled")
    row.enabled, row.updated_at = enabled, now
    _log(session, row, now=now, actor=actor, action=ENABLED if enabled else DISABLED,
         reason=reason)
    return row


def set_roles(session: Session, *, now: datetime, actor: str, login: str, roles: Iterable[str],
              known: Collection[str], reason: str,
              stations: Iterable[str] | None = None) -> AccountRow:
    """Replace the roles; ``stations`` (when given) the stations they hold on ([]: every one)."""
    row = get_account(session, login)
    _reason(reason)
    new = checked_roles(roles, known)
    old = json.loads(row.roles)
    where = row.stations if stations is None else checked_stations(stations)
    if new == sorted(old) and where == row.stations:
        raise Refused(reason=f"account {login} already has exactly the roles {', '.join(new)}")
    if ADMIN not in new:
        _keep_an_admin(session, row, "lose the admin role")
    stations_before = row.stations
    row.roles, row.stations, row.updated_at = json.dumps(new), where, now
    _log(session, row, now=now, actor=actor, action=ROLES, reason=reason,
         extra={"roles_before": sorted(old),
                **({} if where == stations_before else {
                    "stations_before": json.loads(stations_before) if stations_before
                    else "all"})})
    return row


def map_os_user(session: Session, *, now: datetime, actor: str, login: str,
                os_user: str) -> AccountRow:
    row = get_account(session, login)
    checked_os_user(os_user)
    if _os_user_free(session, os_user, login):
        raise Refused(reason=f"OS user {os_user} is already mapped to account {login}")
    session.add(AccountOsUser(os_user=os_user, account_id=row.id))
    row.updated_at = now
    _log(session, row, now=now, actor=actor, action=MAPPED, reason=None,
         extra={"os_user": os_user})
    return row


def unmap_os_user(session: Session, *, now: datetime, actor: str, os_user: str) -> AccountRow:
    mapped = session.scalars(select(AccountOsUser).where(  # this station's (scoped)
        AccountOsUser.os_user == os_user)).first()
    if mapped is None:
        raise NotFound(what="OS user mapping", ident=os_user,
                       hint="See each account's OS users with: bodycam users list")
    row = session.get(AccountRow, mapped.account_id)
    assert row is not None  # a foreign key
    session.delete(mapped)
    row.updated_at = now
    _log(session, row, now=now, actor=actor, action=UNMAPPED, reason=None,
         extra={"os_user": os_user})
    return row


def set_password_hash(session: Session, *, now: datetime, actor: str, login: str,
                      password_hash: str) -> AccountRow:
    row = get_account(session, login)
    row.password_hash, row.updated_at = password_hash, now
    _log(session, row, now=now, actor=actor, action=PASSWORD, reason=None)
    return row


def set_totp_secret(session: Session, *, now: datetime, actor: str, login: str,
                    secret: str | None, reason: str | None = None) -> AccountRow:
    row = get_account(session, login)
    row.totp_secret, row.updated_at = secret, now
    _log(session, row, now=now, actor=actor, action=TOTP, reason=reason)
    return row


def _reason(reason: str) -> None:
    if not reason.strip():
        raise BadRequest(problem="give a reason (--reason): it goes into the custody log")
