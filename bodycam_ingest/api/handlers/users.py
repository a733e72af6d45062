"""Accounts: add, list, show, disable, enable, map, unmap, roles, passwd, totp (access.accounts).

Every change is one custody-log entry (in the same transaction) with the account's new state
digest. ``users.passwd`` is open to every account for its own password; another's needs
``users.manage``. A TOTP secret is handed out once, as an ``otpauth://`` URI, when the account's
roles need a second factor (``[access] totp_required_roles``) and it has none yet, or on reset.
"""

from __future__ import annotations

import pwd
from typing import Annotated, Any

from pydantic import Field

from bodycam_ingest.access import accounts, passwords
from bodycam_ingest.access.identity import service_uid
from bodycam_ingest.api.registry import Ctx, handler
from bodycam_ingest.errors import BadRequest, Refused

Login = Annotated[str, Field(min_length=1, max_length=64)]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]
OsUser = Annotated[str, Field(min_length=1, max_length=64)]
Roles = Annotated[list[Annotated[str, Field(max_length=32)]], Field(max_length=64)]


def _known(ctx: Ctx) -> tuple[str, ...]:
    return accounts.known_roles(ctx.station.config.access.roles)


def _mappable(ctx: Ctx, os_user: str) -> str:
    """An OS user that exists on this station and is not the system (root, service account)."""
    accounts.checked_os_user(os_user)
    try:
        entry = pwd.getpwnam(os_user)
    except KeyError:
        raise BadRequest(problem=f"there is no OS user {os_user} on this station; create it "
                         f"first (useradd {os_user})") from None
    if entry.pw_uid in (0, service_uid(ctx.station.config.storage.state_dir)):
        raise Refused(reason=f"OS user {os_user} is the station itself (root or its service "
                      "account) and always acts as the system; map a person's own OS user")
    return os_user


@handler("users.add", action="users.manage")
def add(ctx: Ctx, login: Login, display_name: Annotated[str, Field(max_length=128)],
        roles: Roles, officer_number: Annotated[str | None, Field(max_length=32)] = None,
        unit: Annotated[str | None, Field(max_length=128)] = None,
        os_users: Annotated[list[OsUser], Field(max_length=16)] | None = None,
        stations: Annotated[list[Annotated[str, Field(max_length=64)]],
                            Field(max_length=256)] | None = None) -> dict[str, Any]:
    names = [_mappable(ctx, name) for name in os_users or ()]
    with ctx.station.catalog.session() as session:
        row = accounts.create_account(session, now=ctx.now(), actor=ctx.actor, login=login,
                                      display_name=display_name, roles=roles, known=_known(ctx),
                                      officer_number=officer_number, unit=unit, os_users=names,
                                      stations=stations)
        return accounts.account_json(session, row)


@handler("users.list")
def list_users(ctx: Ctx) -> list[dict[str, Any]]:
    with ctx.station.catalog.reading() as session:
        return accounts.list_accounts(session)


@handler("users.show")
def show(ctx: Ctx, login: Login) -> dict[str, Any]:
    with ctx.station.catalog.reading() as session:
        return accounts.show_account(session, login)


def _set_enabled(ctx: Ctx, login: str, reason: str, enabled: bool) -> dict[str, Any]:
    with ctx.station.catalog.session() as session:
        row = accounts.set_enabled(session, now=ctx.now(), actor=ctx.actor, login=login,
                                   enabled=enabled, reason=reason)
        return accounts.account_json(session, row)


@handler("users.disable", action="users.manage")
def disable(ctx: Ctx, login: Login, reason: Reason) -> dict[str, Any]:
    return _set_enabled(ctx, login, reason, False)


@handler("users.enable", action="users.manage")
def enable(ctx: Ctx, login: Login, reason: Reason) -> dict[str, Any]:
    return _set_enabled(ctx, login, reason, True)


@handler("users.map", action="users.manage")
def map_user(ctx: Ctx, login: Login, os_user: OsUser) -> dict[str, Any]:
    _mappable(ctx, os_user)
    with ctx.station.catalog.session() as session:
        row = accounts.map_os_user(session, now=ctx.now(), actor=ctx.actor, login=login,
                                   os_user=os_user)
        return accounts.account_json(session, row)


@handler("users.unmap", action="users.manage")
def unmap_user(ctx: Ctx, os_user: OsUser) -> dict[str, Any]:
    with ctx.station.catalog.session() as session:
        row = accounts.unmap_os_user(session, now=ctx.now(), actor=ctx.actor, os_user=os_user)
        return accounts.account_json(session, row)


@handler("users.roles", action="users.manage")
def set_roles(ctx: Ctx, login: Login, roles: Roles, reason: Reason,
              stations: Annotated[list[Annotated[str, Field(max_length=64)]],
                                  Field(max_length=256)] | None = None) -> dict[str, Any]:
    """``stations``: the stations the roles hold on from now ([]: every one; None: unchanged)."""
    with ctx.station.catalog.session() as session:
        row = accounts.set_roles(session, now=ctx.now(), actor=ctx.actor, login=login,
                                 roles=roles, known=_known(ctx), reason=reason,
                                 stations=stations)
        return accounts.account_json(session, row)


@handler("users.passwd")
def passwd(ctx: Ctx, password: Annotated[str, Field(max_length=passwords.MAX_PASSWORD)],
           login: Login | None = None) -> dict[str, Any]:
    """Set a console password: one's own (any account), or another's (``users.manage``)."""
    me = ctx.principal
    target = login or (None if me.system else me.login)
    if target is None:
        raise BadRequest(problem="the station itself has no console password; name the account "
                         "(bodycam users passwd LOGIN)")
    if target != me.login:
        ctx.authorize("users.manage")
    problem = passwords.password_problem(password)
    if problem:
        raise BadRequest(problem=problem)
    hashed = passwords.hash_password(password)  # slow on purpose: before the write lock
    access = ctx.station.config.access
    with ctx.station.catalog.session() as session:
        now = ctx.now()
        row = accounts.set_password_hash(session, now=now, actor=ctx.actor, login=target,
                                         password_hash=hashed)
        uri = None
        roles = accounts.account_state(accounts.row_mapping(session, row))["roles"]
        if row.totp_secret is None and passwords.needs_totp(roles, access.totp_required_roles):
            secret = passwords.new_totp_secret()
            accounts.set_totp_secret(session, now=now, actor=ctx.actor, login=target,
                                     secret=secret, reason="roles need a second factor")
            uri = passwords.totp_uri(secret, target, ctx.station.config.station.id)
        return {**accounts.account_json(session, row), "totp_uri": uri}


@handler("users.totp", action="users.manage")
def reset_totp(ctx: Ctx, login: Login, reason: Reason) -> dict[str, Any]:
    """A new TOTP secret for ``login`` (lost phone): the old one stops working at once."""
    secret = passwords.new_totp_secret()
    with ctx.station.catalog.session() as session:
        row = accounts.set_totp_secret(session, now=ctx.now(), actor=ctx.actor, login=login,
                                       secret=secret, reason=reason)
        return {**accounts.account_json(session, row),
                "totp_uri": passwords.totp_uri(secret, login, ctx.station.config.station.id)}
