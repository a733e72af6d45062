"""The retention part on the station: the policy in force, the plan, the approval, and the
entry points of the sweep (``retention.sweep``) for the CLI and the scheduler.

The pure core (``rules``, ``plan``, ``policy``) decides; this edge reads the catalog in batches
(``retention.state``) and records every policy change in the custody log.

The policy in force
-------------------
The newest ``PolicyApproval`` row is the baseline. The configured policy (``[retention]``) is
recorded as the first baseline when there is none; a configured policy that keeps at least as
long as the baseline replaces it at once (lengthening needs no approver); one that shortens
anything never takes effect by itself: the sweep runs with ``longest_of(baseline, configured)``
and ``bodycam retention plan`` shows the pending change, the recordings it would bring closer to
deletion and a plan digest, which ``bodycam retention approve --plan DIGEST --reason TEXT``
must repeat; that makes a four-eyes request (access.requests) whose approval by a supervisor puts
it in force (``approve_in``). Even then every affected recording first becomes due and waits a
full grace period.

There is no parameter anywhere that deletes inside a period, skips the grace or forces a
deletion: the only inputs are the configuration, the catalog and the clock.
"""

from __future__ import annotations

import gc
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.models import Recording
from bodycam_ingest.catalog.retention_models import HoldRow, PolicyApproval
from bodycam_ingest.custody.manifest import JsonValue, canonical_json, sha256_hex
from bodycam_ingest.errors import Refused, RetentionPlanChanged, SelfApproval
from bodycam_ingest.retention.plan import Impact, Plan, shortening_impact
from bodycam_ingest.retention.policy import (
    RetentionPolicy,
    longest_of,
    require_valid,
    shortened_rules,
)
from bodycam_ingest.retention.rules import Decision, Kind, RecordingState, Why, decide_unchecked
from bodycam_ingest.retention.state import (
    ROW_COLUMNS,
    RecordingRow,
    candidate_batches,
    candidate_rows,
    chunks,
    live_count,
    load_matters,
    rows_by_id,
    states_for,
    tier_cutoffs,
)
from bodycam_ingest.retention.tiers import TIER_ORDER, Tier

if TYPE_CHECKING:
    from bodycam_ingest.jobs.result import JobResult
    from bodycam_ingest.retention.sweep import SweepReport
    from bodycam_ingest.station import Station


SessionFactory = Callable[[], AbstractContextManager[Session]]


# --------------------------------------------------------------------------- the policy record


def policy_json(policy: RetentionPolicy) -> dict[str, JsonValue]:
    """The canonical form a policy is stored, hashed and shown in (tiers as {name: days|null})."""
    return {"tiers": {tier.value: policy.tiers.get(tier) for tier in TIER_ORDER},
            "grace_days": policy.grace_days, "floor_days": policy.floor_days,
            "allow_below_floor": policy.allow_below_floor}


def policy_digest(policy: RetentionPolicy) -> str:
    return sha256_hex(canonical_json(policy_json(policy)))


def policy_from_json(text: str) -> RetentionPolicy:
    data = json.loads(text)
    return RetentionPolicy(tiers={Tier(name): days for name, days in data["tiers"].items()},
                           grace_days=data["grace_days"], floor_days=data["floor_days"],
                           allow_below_floor=data["allow_below_floor"])


@dataclass(frozen=True)
class PolicyState:
    """The baseline (approved) policy, the configured one, and what a sweep runs with."""

    baseline: RetentionPolicy
    baseline_recorded: bool  # False: no PolicyApproval row yet (the configured one will be)
    configured: RetentionPolicy
    effective: RetentionPolicy
    shortened: tuple[str, ...]  # how the configuration shortens the baseline: waits for approval

    @property
    def digest(self) -> str:
        return policy_digest(self.effective)


def policy_state(session: Session, configured: RetentionPolicy) -> PolicyState:
    """Read-only: the policy state as the next sweep would settle it."""
    require_valid(configured)
    row = session.scalar(select(PolicyApproval).order_by(PolicyApproval.id.desc()).limit(1))
    baseline = policy_from_json(row.policy_json) if row is not None else configured
    shortened = tuple(shortened_rules(baseline, configured))
    effective = longest_of(baseline, configured) if shortened else configured
    return PolicyState(baseline, row is not None, configured, effective, shortened)


def _record_policy(session: Session, policy: RetentionPolicy, *, actor: str, at: datetime,
                   reason: str, approved_by: str | None = None, plan_digest: str | None = None,
                   action: str = "retention_policy_recorded",
                   details: dict[str, Any] | None = None) -> PolicyApproval:
    from bodycam_ingest.catalog.events import record_event  # writes only: not on a plan's path

    data = policy_json(policy)
    digest = sha256_hex(canonical_json(data))
    previous = session.scalar(select(PolicyApproval.policy_digest)
                              .order_by(PolicyApproval.id.desc()).limit(1))
    row = PolicyApproval(policy_json=canonical_json(data).decode(), policy_digest=digest,
                         plan_digest=plan_digest, actor=actor, approved_by=approved_by,
                         reason=reason, at=at)
    session.add(row)
    session.flush()
    record_event(session, at=at, actor=actor, action=action, subject=f"policy {digest[:16]}",
                 reason=reason, approved_by=approved_by,
                 details={"policy": data, "policy_digest": digest, "previous_digest": previous,
                          "plan_digest": plan_digest, **(details or {})})
    return row


def settle_policy(session: Session, configured: RetentionPolicy, *, actor: str,
                  at: datetime) -> PolicyState:
    """In the caller's write transaction: record what the configuration may change by itself
    (the first baseline; a lengthening) and return the state the sweep runs with."""
    state = policy_state(session, configured)
    if not state.baseline_recorded:
        _record_policy(session, configured, actor=actor, at=at, reason="initial configuration")
        return policy_state(session, configured)
    if policy_digest(state.effective) != policy_digest(state.baseline):
        reason = ("the configuration keeps at least as long as the policy in force"
                  if not state.shortened else
                  "the lengthened parts of the configuration; its shortening waits for an "
                  "approved plan (bodycam retention plan)")
        _record_policy(session, state.effective, actor=actor, at=at, reason=reason,
                       details={"pending_shortening": list(state.shortened)})
        return policy_state(session, configured)
    return state


# --------------------------------------------------------------------------- the pending change


@dataclass(frozen=True)
class PendingChange:
    """A configured shortening waiting for ``bodycam retention approve``."""

    shortened: tuple[str, ...]
    configured: RetentionPolicy
    in_force: RetentionPolicy
    impacts: tuple[Impact, ...]
    digest: str

    def command(self) -> str:
        return f"bodycam retention approve --plan {self.digest} --reason TEXT"


def plan_digest(configured: RetentionPolicy, impacts: list[Impact] | tuple[Impact, ...]) -> str:
    """SHA-256 of what an approver sees: the policy and each impacted recording's new fate."""
    impacted: list[JsonValue] = [{"recording_id": i.recording_id, "kind": i.new.kind.value}
                                 for i in sorted(impacts, key=lambda i: i.recording_id)]
    return sha256_hex(canonical_json({"policy": policy_json(configured), "impacted": impacted}))


def _states(sessions: SessionFactory, batches: Iterator[list[RecordingRow]]
            ) -> Iterator[RecordingState]:
    for rows in batches:
        with sessions() as session:
            states = states_for(session, rows)
        yield from states


def pending_change(sessions: SessionFactory, state: PolicyState, now: datetime
                   ) -> PendingChange | None:
    """The shortening the configuration asks for, with its impact; None when there is none."""
    if not state.shortened:
        return None
    configured = state.configured
    # a recording can move closer to deletion only if it is past its period under the new policy
    cutoffs = tier_cutoffs(configured, now, horizon_days=configured.grace_days)
    states = _states(sessions, candidate_batches(sessions, cutoffs, include_due=False))
    impacts = shortening_impact(state.effective, configured, states, now)
    return PendingChange(state.shortened, configured, state.effective, tuple(impacts),
                         plan_digest(configured, impacts))


# --------------------------------------------------------------------------- attention


def attention_ids(session: Session, now: datetime) -> list[int]:
    """Recordings outside the candidate ranges whose decision still carries an alert: those
    under a hold (on them or on their case) past its review date.

    A failed fixity check inside the period is the fixity scrub's alert and the audit's finding
    (``jobs.scrub_audit``); looking for it here would cost a scan of the whole table per run.
    """
    overdue = and_(HoldRow.released_at.is_(None), HoldRow.until < now.date())
    ids: set[int] = set()
    ids.update(i for i in session.scalars(select(HoldRow.recording_id).where(
        overdue, HoldRow.recording_id.is_not(None))) if i is not None)
    cases = [c for c in session.scalars(select(HoldRow.case_number).where(
        overdue, HoldRow.case_number.is_not(None))) if c]
    if cases:
        from bodycam_ingest.retention.queries import current_case

        case = current_case()
        ids.update(session.scalars(select(case.c.recording_id).where(
            case.c.case_number.in_(cases))))
    return sorted(ids)


def attention_rows(session: Session, now: datetime, cutoffs: dict[Tier, datetime]
                    ) -> list[RecordingRow]:
    """Attention recordings that the candidate passes do not already cover."""
    ids = attention_ids(session, now)
    rows: list[RecordingRow] = []
    for part in chunks(ids):
        for raw in session.execute(select(*ROW_COLUMNS).where(Recording.id.in_(part))):
            row = RecordingRow.of(raw)
            covered = row.due_since is not None or any(
                row.tier == tier.value and row.clock_start is not None and row.clock_start <= cut
                for tier, cut in cutoffs.items())
            if row.deleted_at is None and not covered:
                rows.append(row)
    return rows


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class PlanReport:
    """``bodycam retention plan``: nothing is written to produce it."""

    now: datetime
    horizon_days: int
    policy: PolicyState
    plan: Plan
    examined: int
    live: int
    pending: PendingChange | None


class PlanStream:
    """``bodycam retention plan`` as it is written out, in one read transaction (one snapshot).

    The header (``now``, ``policy``, ``live``, ``pending``, ``horizon_end``) is known at once;
    then read ``delete_now()``, ``upcoming()`` and ``attention()`` in that order, each once;
    ``examined`` and ``counts`` are complete when ``delete_now()`` is exhausted.

    Memory is one batch of decisions plus a sort key per listed recording that is not deleted
    now (an int for attention, an int pair packed in one for upcoming): the candidates are read
    in id order, so each deletion is yielded as it is decided; the upcoming and attention
    recordings are decided again (same snapshot, same ``now``: the same decision) when their
    list is read, ``state.BATCH`` at a time, instead of being kept.
    """

    def __init__(self, session: Session, state: PolicyState, now: datetime, horizon_days: int,
                 live: int, pending: PendingChange | None, *, keep: bool = False) -> None:
        if horizon_days < 0:
            raise ValueError(f"the horizon must be 0 days or more, not {horizon_days}")
        require_valid(state.effective)
        self._session = session
        self.now = now
        self.horizon_days = horizon_days
        self.policy = state
        self.live = live
        self.pending = pending
        self._now = now.astimezone(UTC)
        self.horizon_end = self._now + timedelta(days=horizon_days)
        self._cutoffs = tier_cutoffs(state.effective, now, horizon_days)
        self._matters = load_matters(session)
        self._decision = self._matters.decider(state.effective, self._now)
        self.examined = 0
        self.counts: Counter[Why] = Counter()
        # keep: the upcoming and attention decisions are kept as decided (``make_plan``, whose
        # answer is in memory anyway), not decided again when their list is read
        self._keep = keep
        self._upcoming: list[int] = []
        self._attention: list[int] = []
        self._kept_upcoming: list[Decision] = []
        self._kept_attention: list[Decision] = []
        self._stage = 0

    def _step(self, stage: int) -> None:
        if self._stage != stage:
            raise RuntimeError("read delete_now(), upcoming() and attention() once, in this order")
        self._stage = stage + 1

    def delete_now(self) -> Iterator[Decision]:
        """What a run would delete now (and re-hash first when not recently verified), by id."""
        self._step(0)
        extra = [row.id for row in attention_rows(self._session, self.now, self._cutoffs)]
        with _collector.paused():
            yield from self._delete_now(extra)

    def _delete_now(self, extra: list[int]) -> Iterator[Decision]:
        end, decision_of, keep = self.horizon_end, self._decision, self._keep
        counts: Counter[Why] = Counter()
        upcoming, attention = self._upcoming, self._attention
        kept_upcoming, kept_attention = self._kept_upcoming, self._kept_attention
        delete, unknown = Kind.DELETE, Why.FIXITY_UNKNOWN
        examined = 0
        try:
            for raw in candidate_rows(self._session, self._cutoffs, extra, self._matters):
                decision = decision_of(raw)
                examined += 1
                why = decision.why
                counts[why] += 1
                kind = decision.kind
                if kind is delete or (why is unknown and len(decision.alerts) == 1):
                    yield decision  # see _as_a_run_sees_it
                elif decision.alerts:
                    if keep:
                        kept_attention.append(decision)
                    else:
                        attention.append(decision.recording_id)
                deletable_at = decision.deletable_at
                if kind is not delete and deletable_at is not None and deletable_at <= end:
                    if keep:
                        kept_upcoming.append(decision)
                    else:
                        moment = (deletable_at - _EPOCH) // _MICROSECOND
                        upcoming.append((moment << 40) + decision.recording_id)
        finally:
            self.examined += examined
            self.counts.update(counts)

    def upcoming(self) -> Iterator[Decision]:
        """Not deletable now, deletable by ``horizon_end`` if nothing changes: by that time, id."""
        self._step(1)
        if self._keep:
            kept, self._kept_upcoming = self._kept_upcoming, []
            kept.sort(key=_by_deletable_at)
            yield from kept
            return
        self._upcoming.sort()
        ids = [key & _ID_MASK for key in self._upcoming]
        self._upcoming = []
        yield from self._decide(ids)

    def attention(self) -> Iterator[Decision]:
        """Decisions with alerts a person must act on, by id."""
        self._step(2)
        if self._keep:
            kept, self._kept_attention = self._kept_attention, []
            yield from kept
            return
        ids, self._attention = self._attention, []
        yield from self._decide(ids)

    def _decide(self, ids: list[int]) -> Iterator[Decision]:
        decision_of = self._decision
        for part in chunks(ids):
            for raw in rows_by_id(self._session, part):
                yield decision_of(raw)


def _by_deletable_at(decision: Decision) -> tuple[datetime, int]:
    assert decision.deletable_at is not None  # only such decisions are upcoming
    return decision.deletable_at, decision.recording_id


class _CollectorPause:
    """The cyclic garbage collector paused while a plan decides (``paused()``).

    A plan allocates about ten objects per candidate and none of them in a reference cycle
    (reference counting frees them all); the collector's passes over a heap that grows with the
    plan were an eighth of its time at 1,000,000 recordings. Counted, so that two plans at once
    (threads) resume it only when the last one ends, and only if it was running before.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._was_enabled = False

    @contextmanager
    def paused(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0 and self._was_enabled:
                    gc.enable()


_collector = _CollectorPause()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_ID_MASK = (1 << 40) - 1


@contextmanager
def streamed_plan(station: Station, *, horizon_days: int | None = None,
                  keep: bool = False) -> Iterator[PlanStream]:
    """The dry run as a ``PlanStream`` (read it inside the ``with``): what ``make_plan`` returns,
    with memory bounded by a batch instead of by the answer (``retention.plan_json`` writes it).
    ``keep``: the upcoming and attention decisions are kept as decided instead of decided again
    when read (``make_plan``, which holds the whole answer anyway)."""
    horizon = station.config.retention.plan_horizon_days if horizon_days is None else horizon_days
    now = station.clock()
    with station.catalog.reading() as session:
        state = policy_state(session, station.config.retention.policy())
        live = live_count(session)
        pending = pending_change(lambda: nullcontext(session), state, now)
        yield PlanStream(session, state, now, horizon, live, pending, keep=keep)


def make_plan(station: Station, *, horizon_days: int | None = None) -> PlanReport:
    """The dry run: what a run would delete now and why, what becomes deletable within the
    horizon, what needs attention, and a pending policy change with its impact (all in memory:
    ``streamed_plan`` for a large answer)."""
    with (streamed_plan(station, horizon_days=horizon_days, keep=True) as stream,
          _collector.paused()):
        delete_now = tuple(stream.delete_now())
        upcoming = tuple(stream.upcoming())
        attention = tuple(stream.attention())
        result = Plan(stream.now.astimezone(UTC), stream.horizon_end, delete_now, upcoming,
                      attention, MappingProxyType(dict(stream.counts)))
        return PlanReport(stream.now, stream.horizon_days, stream.policy, result, stream.examined,
                          stream.live, stream.pending)


def _as_a_run_sees_it(result: Plan) -> Plan:
    """A run re-hashes a stored copy that is past its grace but not recently verified, and
    deletes it if the copy is intact: the plan lists it with the deletions (its decision says
    ``fixity_unknown``), not as something a person must act on."""
    unverified = [d for d in result.attention if d.why is Why.FIXITY_UNKNOWN and len(d.alerts) == 1]
    if not unverified:
        return result
    skip = {d.recording_id for d in unverified}
    return replace(result,
                   delete_now=tuple(sorted((*result.delete_now, *unverified),
                                           key=lambda d: d.recording_id)),
                   attention=tuple(d for d in result.attention if d.recording_id not in skip))


# --------------------------------------------------------------------------- approve


@dataclass(frozen=True)
class Approval:
    policy_digest: str
    plan_digest: str
    shortened: tuple[str, ...]
    impacted: int


def policy_preview(station: Station, session: Session) -> dict[str, JsonValue]:
    """What approving the configured shortening would put in force, read in the caller's
    session (the preview of a ``retention_policy`` request): the plan digest, what is shortened,
    the policy and each recording it brings closer to deletion. Refused if nothing is pending."""
    configured = station.config.retention.policy()
    state = policy_state(session, configured)
    change = pending_change(lambda: nullcontext(session), state, station.clock())
    if change is None:
        raise Refused(reason="the configured retention policy shortens nothing relative to "
                      "the policy in force; there is nothing to approve")
    impacted: list[JsonValue] = [{"recording_id": i.recording_id, "now": i.old.kind.value,
                                  "after": i.new.kind.value}
                                 for i in sorted(change.impacts, key=lambda i: i.recording_id)]
    return {"plan_digest": change.digest, "shortened": list(change.shortened),
            "policy": policy_json(configured), "policy_in_force": policy_json(state.effective),
            "impacted": impacted}


def approve_in(station: Station, session: Session, *, plan: str, approved_by: str, reason: str,
               actor: str) -> Approval:
    """In the caller's write transaction: record the configured (shortening) policy as the
    baseline, if the plan shown is still the plan (recomputed under the write lock)."""
    if not approved_by.strip():
        raise Refused(reason="a policy change that shortens retention needs an approved request "
                      "(bodycam retention approve --plan DIGEST creates it)")
    if not reason.strip():
        raise Refused(reason="a policy change that shortens retention needs --reason TEXT")
    if approved_by.strip() == actor:  # as for lowering a tier: four eyes on a shortening
        raise SelfApproval(who=actor, what="retention policy change")
    now = station.clock()
    configured = station.config.retention.policy()
    state = settle_policy(session, configured, actor=actor, at=now)
    change = pending_change(lambda: nullcontext(session), state, now)
    if change is None:
        raise Refused(reason="the configured retention policy shortens nothing relative to "
                      "the policy in force; there is nothing to approve")
    if change.digest != plan.strip().lower():
        raise RetentionPlanChanged(shown=plan, now=change.digest)
    row = _record_policy(
        session, configured, actor=actor, at=now, reason=reason, approved_by=approved_by,
        plan_digest=change.digest, action="retention_policy_approved",
        details={"shortened": list(change.shortened), "impacted": len(change.impacts),
                 "impacted_ids": [i.recording_id for i in change.impacts][:1000]})
    return Approval(row.policy_digest, change.digest, change.shortened, len(change.impacts))


# --------------------------------------------------------------------------- the sweep


def run_sweep(station: Station, *, trigger: str) -> SweepReport:
    """One retention run (see ``retention.sweep``): due marks, rescues, deletions with
    tombstones and a signed deletion manifest; one run at a time per station."""
    from bodycam_ingest.retention.sweep import run_sweep as run

    return run(station, trigger=trigger)


def sweep_job(station: Station, trigger: str) -> JobResult:
    """The scheduler's entry point (``jobs.registry``): the sweep as a ``JobResult``."""
    from bodycam_ingest.jobs.result import JobResult

    report = run_sweep(station, trigger=trigger)
    alerts = list(report.alerts)
    if report.error is not None:
        return JobResult("failed", f"{report.summary()}; failed: {report.error}", tuple(alerts))
    return JobResult.from_alerts(report.summary(), alerts)


# --------------------------------------------------------------------------- show


def recording_status(session: Session, recording: Recording, now: datetime
                     ) -> tuple[Decision | None, PolicyState | None]:
    """The decision for one recording under the policy in force (None before any run)."""
    row = session.scalar(select(PolicyApproval).order_by(PolicyApproval.id.desc()).limit(1))
    if row is None:
        return None, None
    policy = policy_from_json(row.policy_json)
    [state] = states_for(session, [RecordingRow.of(session.execute(
        select(*ROW_COLUMNS).where(Recording.id == recording.id)).one())])
    return (decide_unchecked(state, policy, now),
            PolicyState(policy, True, policy, policy, ()))

