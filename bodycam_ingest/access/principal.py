"""A principal: who is calling, as established by the kernel or a login. Plain data."""

from __future__ import annotations

from dataclasses import dataclass, field

SYSTEM_PREFIX = "os:"


@dataclass(frozen=True)
class Principal:
    """An account (a person), or the station's own OS account / root running a command in-process.

    ``actor`` is what the custody log records: the account's login, or ``os:<user>`` for the
    service account and root, so the audit can tell a person from the system.
    """

    login: str
    roles: frozenset[str] = field(default_factory=frozenset)
    account_id: int | None = None
    display_name: str | None = None
    officer_number: str | None = None
    unit: str | None = None
    os_user: str | None = None
    uid: int | None = None
    system: bool = False  # root or the service account, in-process: every action allowed
    stations: frozenset[str] | None = None  # the stations its roles hold on (None: every one)

    @property
    def actor(self) -> str:
        return f"{SYSTEM_PREFIX}{self.os_user}" if self.system else self.login

    @classmethod
    def system_user(cls, os_user: str, uid: int) -> Principal:
        return cls(login=f"{SYSTEM_PREFIX}{os_user}", os_user=os_user, uid=uid, system=True)


def is_system_actor(actor: str) -> bool:
    return actor.startswith(SYSTEM_PREFIX)
