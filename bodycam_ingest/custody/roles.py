"""Who is acting (``Acting``: the actor the custody log records and, when a second person
approved it, the approver), passed from the API handlers and approved requests to the services.

``resolve_actor`` (``--as NAME`` from [custody] act_for_others) remains only for ``bodycam tag``
until it moves to the API; acting for another account is an ``act_for`` request
(access.requests, ``bodycam requests act-for``)."""

from __future__ import annotations

from dataclasses import dataclass

from bodycam_ingest.custody.settings import CustodyConfig
from bodycam_ingest.errors import Refused


@dataclass(frozen=True)
class Acting:
    actor: str  # recorded as the event's actor
    approved_by: str | None  # the OS user who vouched for acting as ``actor``, if not the same


def resolve_actor(config: CustodyConfig, os_user: str, as_name: str | None) -> Acting:
    if as_name is None or as_name == os_user:
        return Acting(actor=os_user, approved_by=None)
    if not as_name.strip() or len(as_name) > 64:
        raise Refused(reason=f"--as {as_name!r} is not a name (1 to 64 characters)")
    granted = config.roles_of(os_user) & set(config.act_for_others)
    if not granted:
        allowed = ", ".join(config.act_for_others) or "(none)"
        raise Refused(reason=f"OS user {os_user} may not act as {as_name}: --as needs one of the "
                      f"roles {allowed} in [custody] roles, and {os_user} has none; run the "
                      f"command as {as_name}, or ask the administrator to grant the role")
    return Acting(actor=as_name, approved_by=os_user)
