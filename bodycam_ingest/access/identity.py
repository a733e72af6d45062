"""From a kernel-given uid to a principal: the only way anyone becomes someone here.

The uid comes from ``SO_PEERCRED`` on the local API socket, or from ``os.geteuid()`` for a command
run in-process; its name from the password database. Root and the station's service account (the
owner of the state directory) are the system principal; everyone else must be mapped to an enabled
account, or is refused with the command that would map them.
"""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.access.principal import Principal
from bodycam_ingest.catalog.access_models import AccountOsUser, AccountRow
from bodycam_ingest.errors import NotMapped


def os_name(uid: int) -> str:
    """The password database's name for ``uid`` (never $LOGNAME or $USER)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


def service_uid(state_dir: Path) -> int | None:
    """The station's service account: whoever owns the state directory (None if it is absent)."""
    try:
        return state_dir.stat().st_uid
    except OSError:
        return None


def is_system_uid(uid: int, state_dir: Path) -> bool:
    return uid == 0 or uid == service_uid(state_dir)


def current_system_principal() -> Principal:
    uid = os.geteuid()
    return Principal.system_user(os_name(uid), uid)


def principal_of(row: AccountRow, *, os_user: str | None = None,
                 uid: int | None = None) -> Principal:
    return Principal(login=row.login, roles=frozenset(json.loads(row.roles)), account_id=row.id,
                     display_name=row.display_name, officer_number=row.officer_number,
                     unit=row.unit, os_user=os_user, uid=uid,
                     stations=None if row.stations is None else frozenset(json.loads(row.stations)))


def principal_for_uid(session: Session, uid: int, state_dir: Path) -> Principal:
    """Who the caller with ``uid`` is, or ``NotMapped`` (exit 5) naming the fix."""
    name = os_name(uid)
    if is_system_uid(uid, state_dir):
        return Principal.system_user(name, uid)
    row = session.scalars(select(AccountRow).join(
        AccountOsUser, AccountOsUser.account_id == AccountRow.id).where(
        AccountOsUser.os_user == name)).first()
    if row is None or not row.enabled:
        raise NotMapped(os_user=name, uid=uid)
    return principal_of(row, os_user=name, uid=uid)
