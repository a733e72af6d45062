"""The audit's identity checks: who acted, and whether the accounts table is what the log says.

Pure: custody-log entries (anything with ``seq``, ``actor``, ``action``, ``details``: an ``Event``
row or a ``LogEntry``) and the accounts table's rows (mappings as ``accounts.account_rows`` gives
them) in, a list of problems out. Two rules:

1. From the first ``account_*`` entry on (before it the station had no accounts and actors were
   OS names), every entry's actor is an ``os:`` marker (root, the service account) or the login
   of an account that an earlier entry created and that was enabled at that moment.
2. Every account row's state digest equals the digest its latest ``account_*`` entry recorded,
   every row has such an entry, and every account the log created still has a row: an account
   added, changed or deleted behind the log's back shows.

``AccountTimeline`` answers "what were this login's roles at entry N?" for the approval checks.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from bodycam_ingest.access.accounts import (
    ACCOUNT_ACTION_PREFIX,
    CREATED,
    account_state,
    public_state,
    state_digest,
)
from bodycam_ingest.access.authz import APPROVERS
from bodycam_ingest.access.principal import is_system_actor

APPROVING_ROLES = frozenset().union(*APPROVERS.values())


class Entry(Protocol):
    @property
    def seq(self) -> int: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def details(self) -> str | Mapping[str, Any] | None: ...


class LogEntry(NamedTuple):
    seq: int
    actor: str
    action: str
    details: str | Mapping[str, Any] | None = None
    approved_by: str | None = None


@dataclass(frozen=True)
class IdentityProblem:
    seq: int | None  # the entry concerned (None: an accounts-table row)
    login: str | None
    problem: str


def _details(entry: Entry) -> dict[str, Any]:
    raw = entry.details
    if raw is None:
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


@dataclass
class AccountTimeline:
    """Each login's recorded states in log order: (seq, public state, state digest)."""

    history: dict[str, list[tuple[int, dict[str, Any], str]]] = field(default_factory=dict)

    def add(self, login: str, seq: int, state: dict[str, Any], digest: str) -> None:
        self.history.setdefault(login, []).append((seq, state, digest))

    def state_at(self, login: str, seq: int) -> dict[str, Any] | None:
        """The login's public state as of just before entry ``seq`` (None: not created yet)."""
        entries = self.history.get(login, [])
        index = bisect.bisect_left([item[0] for item in entries], seq)
        return entries[index - 1][1] if index else None

    def roles_at(self, login: str, seq: int) -> frozenset[str]:
        state = self.state_at(login, seq)
        return frozenset(state["roles"]) if state and state.get("enabled") else frozenset()

    def latest(self, login: str) -> tuple[int, dict[str, Any], str] | None:
        entries = self.history.get(login)
        return entries[-1] if entries else None


def timeline(entries: Iterable[Entry]) -> AccountTimeline:
    line = AccountTimeline()
    for entry in sorted(entries, key=lambda e: e.seq):
        if entry.action.startswith(ACCOUNT_ACTION_PREFIX):
            details = _details(entry)
            login, state, digest = (details.get("login"), details.get("state"),
                                    details.get("state_digest"))
            if isinstance(login, str) and isinstance(state, dict) and isinstance(digest, str):
                line.add(login, entry.seq, state, digest)
    return line


def _actor_problem(entry: Entry, line: AccountTimeline) -> str | None:
    if is_system_actor(entry.actor):
        return None
    state = line.state_at(entry.actor, entry.seq)
    if state is None:
        return (f"entry {entry.seq} ({entry.action}) was made by {entry.actor!r}, which is "
                "neither an account created earlier in the log nor an os: marker")
    if not state.get("enabled"):
        return (f"entry {entry.seq} ({entry.action}) was made by account {entry.actor}, which "
                "was disabled at that time")
    return None


def _approval_problem(entry: Entry, line: AccountTimeline) -> str | None:
    """An approval (four eyes) is a second person's act: an account, not the actor, holding an
    approving role when the entry was written."""
    approver = getattr(entry, "approved_by", None)
    if not approver:
        return None
    if entry.action == "request_approved":  # the approver's own act: not the requester's
        requester = _details(entry).get("requested_by")
        if approver != entry.actor or requester in (None, approver):
            return (f"entry {entry.seq} (request_approved) records approver {approver} for a "
                    f"request by {requester}: an approval must be another person's own act")
    elif approver == entry.actor:
        return (f"entry {entry.seq} ({entry.action}) was approved by its own actor "
                f"{entry.actor}: four eyes need a second person")
    if is_system_actor(approver):
        return (f"entry {entry.seq} ({entry.action}) names {approver} as approver: the station's "
                "own OS account is not a person and cannot approve")
    held = line.roles_at(approver, entry.seq)
    if not held & APPROVING_ROLES:
        return (f"entry {entry.seq} ({entry.action}) was approved by {approver!r}, which was not "
                f"then an enabled account holding {' or '.join(sorted(APPROVING_ROLES))}")
    return None


def identity_problems(entries: Iterable[Entry],
                      account_rows: Iterable[Mapping[str, Any]]) -> list[IdentityProblem]:
    """Every identity problem of the log and the accounts table (empty: all is consistent)."""
    ordered = sorted(entries, key=lambda e: e.seq)
    line = timeline(ordered)
    problems: list[IdentityProblem] = []
    started = False
    created: set[str] = set()
    for entry in ordered:
        is_account = entry.action.startswith(ACCOUNT_ACTION_PREFIX)
        started = started or is_account
        if not started:
            continue
        problem = _actor_problem(entry, line)
        if problem:
            problems.append(IdentityProblem(entry.seq, entry.actor, problem))
        problem = _approval_problem(entry, line)
        if problem:
            problems.append(IdentityProblem(entry.seq, getattr(entry, "approved_by", None),
                                            problem))
        if is_account:
            details = _details(entry)
            login = details.get("login")
            if not isinstance(login, str) or not isinstance(details.get("state_digest"), str):
                problems.append(IdentityProblem(entry.seq, None, f"entry {entry.seq} "
                                f"({entry.action}) does not name the account and its state "
                                "digest"))
                continue
            if entry.action == CREATED and login in created:
                problems.append(IdentityProblem(entry.seq, login, f"entry {entry.seq} creates "
                                                f"account {login} a second time"))
            elif entry.action != CREATED and login not in created:
                problems.append(IdentityProblem(entry.seq, login, f"entry {entry.seq} "
                                                f"({entry.action}) changes account {login}, "
                                                "which no earlier entry created"))
            created.add(login)
    problems += _table_problems(line, account_rows)
    return problems


def _table_problems(line: AccountTimeline,
                    account_rows: Iterable[Mapping[str, Any]]) -> list[IdentityProblem]:
    problems: list[IdentityProblem] = []
    seen: set[str] = set()
    for row in account_rows:
        state = account_state(row)
        login = state["login"]
        seen.add(login)
        latest = line.latest(login)
        if latest is None:
            problems.append(IdentityProblem(None, login, f"account {login} is in the accounts "
                                            "table but no custody-log entry created it"))
            continue
        seq, logged, digest = latest
        if state_digest(state) != digest:
            shown = public_state(state)
            fields = sorted(key for key in shown if shown[key] != logged.get(key))
            what = (", ".join(fields) if fields else "its password or second factor")
            problems.append(IdentityProblem(None, login, f"account {login} differs from its "
                                            f"latest custody-log entry {seq} ({what} changed "
                                            "without an entry)"))
    for login in sorted(set(line.history) - seen):
        problems.append(IdentityProblem(None, login, f"account {login} is in the custody log "
                                        "but not in the accounts table (removed without an "
                                        "entry)"))
    return problems
