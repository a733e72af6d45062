"""The one authorization table: action -> the roles that may do it, and on what.

Every front door (the CLI in-process, the local API socket, the web console) asks ``authorize``
here and nowhere else. A role either grants an action on everything (``ALL``) or only on the
caller's own objects (``OWN``: an officer's own recordings, matched by officer number); handlers
apply the scope they are given. Four-eyes actions are requests: who may approve each kind is in
``APPROVERS``, and nobody may approve their own request (access.requests).

Pure: plain data in, a scope or ``NotAuthorized`` out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from bodycam_ingest.access.principal import Principal
from bodycam_ingest.errors import NotAuthorized, StationNotAllowed

OFFICER, CUSTODIAN, SUPERVISOR, AUDITOR, ADMIN = (
    "officer", "custodian", "supervisor", "auditor", "admin")
BUILTIN_ROLES: tuple[str, ...] = (OFFICER, CUSTODIAN, SUPERVISOR, AUDITOR, ADMIN)
EVERYONE = "*"  # any enabled account
KIOSK = "kiosk"  # the console's dock wall, shown without a login: docks only, no names


class Scope(Enum):
    ALL = "all"
    OWN = "own"  # only the caller's own recordings (officer number) or own requests


@dataclass(frozen=True)
class Rule:
    all: frozenset[str]  # roles that may do it on anything (EVERYONE: any account)
    own: frozenset[str] = frozenset()  # roles that may do it on their own objects only
    summary: str = ""


def _rule(all_: tuple[str, ...], own: tuple[str, ...] = (), summary: str = "") -> Rule:
    return Rule(frozenset(all_), frozenset(own), summary)


_READERS = (CUSTODIAN, SUPERVISOR, AUDITOR, ADMIN)

ACTIONS: Mapping[str, Rule] = {
    "whoami": _rule((EVERYONE,), summary="who the station says you are"),
    "status.view": _rule((EVERYONE, KIOSK), summary="docks in progress, recent docks, jobs"),
    "recordings.list": _rule(_READERS, (OFFICER,), "list recordings"),
    "recordings.show": _rule(_READERS, (OFFICER,), "see one recording (the viewing is logged)"),
    "recordings.play": _rule(_READERS, (OFFICER,), "play a recording (the viewing is logged)"),
    "labels.add": _rule((CUSTODIAN,), (OFFICER,), "label a recording (case, party, matter)"),
    "findings.list": _rule((CUSTODIAN, SUPERVISOR, AUDITOR), (OFFICER,),
                           "continuity findings"),
    "findings.explain": _rule((CUSTODIAN,), (OFFICER,), "explain a finding (R4)"),
    "log.view": _rule((CUSTODIAN, SUPERVISOR, AUDITOR), summary="read the custody log"),
    "verify.run": _rule((CUSTODIAN, SUPERVISOR, AUDITOR), summary="re-hash recordings"),
    "audit.run": _rule((CUSTODIAN, SUPERVISOR, AUDITOR), summary="audit the whole station"),
    "audit.all_stations": _rule((AUDITOR, ADMIN),
                                summary="audit every station on the shared catalog"),
    "deadlines.report": _rule((CUSTODIAN, SUPERVISOR, AUDITOR), (OFFICER,),
                              "recordings late for export or labelling (R1)"),
    "statistics.view": _rule((CUSTODIAN, SUPERVISOR, AUDITOR), summary="R7 statistics"),
    "devices.view": _rule(_READERS, summary="cameras and their profiles"),
    "holds.list": _rule((CUSTODIAN, SUPERVISOR, AUDITOR), summary="legal holds"),
    "holds.add": _rule((CUSTODIAN,), summary="put a legal hold"),
    "holds.release": _rule((CUSTODIAN,), summary="release a hold (another's: a request)"),
    "tiers.raise": _rule((CUSTODIAN,), summary="raise a retention tier"),
    "tiers.lower": _rule((CUSTODIAN,), summary="request a tier lowering (four eyes)"),
    "retention.plan": _rule((CUSTODIAN, SUPERVISOR, AUDITOR, ADMIN),
                            summary="what becomes deletable and why"),
    "retention.approve": _rule((CUSTODIAN, ADMIN),
                               summary="request approval of a shortening plan (four eyes)"),
    "retention.tombstones": _rule((CUSTODIAN, SUPERVISOR, AUDITOR), summary="deleted recordings"),
    "exports.request": _rule((CUSTODIAN,), summary="request an export/disclosure (four eyes)"),
    "exports.fetch": _rule((SUPERVISOR,), (CUSTODIAN,),
                           "download an approved export (a custodian: their own requests)"),
    "archives.list": _rule((CUSTODIAN, SUPERVISOR, AUDITOR), summary="long-term copies"),
    "jobs.list": _rule(_READERS, summary="scheduled jobs"),
    "keys.show": _rule(_READERS, summary="the station's public keys"),
    "users.list": _rule((ADMIN, AUDITOR), summary="accounts"),
    "users.show": _rule((ADMIN, AUDITOR), summary="one account"),
    "users.manage": _rule((ADMIN,), summary="add, disable, enable, map, roles"),
    "users.passwd": _rule((EVERYONE,), summary="set your own console password"),
    "requests.list": _rule((CUSTODIAN, SUPERVISOR, AUDITOR, ADMIN), (EVERYONE,),
                           "four-eyes requests"),
    "requests.decide": _rule((EVERYONE,), summary="approve or reject a request (by kind)"),
    "requests.act_for": _rule((CUSTODIAN,),
                              summary="request to act for another account (four eyes)"),
}

# Request kind -> roles whose holders may approve it (never the requester).
APPROVERS: Mapping[str, frozenset[str]] = {
    "tier_lower": frozenset({SUPERVISOR}),
    "hold_release": frozenset({SUPERVISOR}),
    "export": frozenset({SUPERVISOR}),
    "retention_policy": frozenset({SUPERVISOR}),
    "act_for": frozenset({SUPERVISOR}),
}


def roles_granting(action: str, extra_roles: Mapping[str, tuple[str, ...]]) -> Rule:
    """The rule for ``action`` with the config's extra roles (``[access] roles``) folded in."""
    try:
        rule = ACTIONS[action]
    except KeyError:
        raise NotAuthorized(action=action, need="(no such action)",
                            who="anyone") from None
    extra = frozenset(role for role, actions in extra_roles.items() if action in actions)
    return Rule(rule.all | extra, rule.own, rule.summary) if extra else rule


def authorize(principal: Principal, action: str,
              extra_roles: Mapping[str, tuple[str, ...]] | None = None,
              station: str | None = None) -> Scope:
    """The scope ``principal`` may do ``action`` in, or ``NotAuthorized`` naming the roles that
    would allow it. The system principal (root, the service account in-process) may do all.
    An account whose roles are limited to some stations (issue 12) is refused any action on
    ``station`` (the station the call reaches) outside them."""
    rule = roles_granting(action, extra_roles or {})
    if principal.system:
        return Scope.ALL
    if station is not None and principal.stations is not None and \
            station not in principal.stations:
        raise StationNotAllowed(who=principal.login, station=station,
                                allowed=", ".join(sorted(principal.stations)) or "(none)")
    account = principal.account_id is not None  # EVERYONE means any account, not the kiosk
    if (account and EVERYONE in rule.all) or principal.roles & rule.all:
        return Scope.ALL
    if (account and EVERYONE in rule.own) or principal.roles & rule.own:
        return Scope.OWN
    need = sorted((rule.all | rule.own) - {EVERYONE, KIOSK}) or ["(an account)"]
    raise NotAuthorized(action=action, need=" or ".join(need) or "(none)",
                        who=f"{principal.login} (roles: {', '.join(sorted(principal.roles)) or 'none'})")


def may_approve(principal: Principal, kind: str) -> bool:
    return principal.system is False and bool(principal.roles & APPROVERS.get(kind, frozenset()))


def actions_for(principal: Principal,
                extra_roles: Mapping[str, tuple[str, ...]] | None = None,
                station: str | None = None) -> dict[str, str]:
    """Every action ``principal`` may do, with its scope (for ``bodycam whoami``)."""
    out: dict[str, str] = {}
    for action in ACTIONS:
        try:
            out[action] = authorize(principal, action, extra_roles, station).value
        except (NotAuthorized, StationNotAllowed):
            continue
    return out
