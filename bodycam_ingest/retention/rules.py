"""The retention decision for one recording: keep, due, in grace, or delete (R2, issue 5).

Pure: a frozen ``RecordingState`` (what the catalog knows), a ``RetentionPolicy`` and ``now`` in,
a ``Decision`` out. No clock, no database, no files: the sweep reads the catalog, calls ``decide``,
stores ``Decision.due_since`` and deletes only on ``Kind.DELETE``.

The rules, in the order they are applied
----------------------------------------
1. A deleted recording stays deleted (``Kind.GONE``).
2. A stored copy whose fixity check failed raises an alert in every decision: it is never deleted
   and the audit must fail until someone restores and re-verifies it.
3. An active hold keeps the recording, whatever its tier. A hold is active until it is released
   (``released_at``); its review date (``until``) passing does *not* release it, it only raises
   an alert asking the owner to review it.
4. The effective tier is the strongest of the recording's own and those set on its cases
   (``tiers.strongest``). ``long_term`` keeps it until an approved decision lowers the tier.
5. The retention clock starts at the later of the recording's end and its ingest (an unknown end
   counts as the ingest). Inside its period (``policy.expires_at``) a recording is kept; there is
   no parameter anywhere that deletes inside a period.
6. Past its period a recording is first *due*: the caller stores ``due_since = now``. A stored
   ``due_since`` is ignored (the recording is due anew, from ``now``) when it is earlier than the
   expiry (it was recorded under a shorter policy or a weaker tier) or than the last release of a
   hold, or later than ``now`` (no sweep at or before ``now`` stored it: the station clock was
   wrong): the grace period always starts after the recording last became deletable.
7. Until ``due_since + grace`` it is *in grace* (it can be rescued by a hold or a tier change).
8. At or after ``due_since + grace`` it is deleted only if its stored copy was verified
   (``fixity_ok is True``); unknown keeps it with an alert asking for a fixity scrub.

``Decision.due_since`` is always the value the caller must store next (None clears it), so a
recording that is kept for any reason before its grace ends starts a full grace period again
when it next becomes due.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from bodycam_ingest.retention.policy import (
    RetentionPolicy,
    day_span,
    expires_at,
    period_text,
    require_valid,
)
from bodycam_ingest.retention.tiers import Tier, rank


def _aware(name: str, moment: datetime) -> None:
    if moment.tzinfo is UTC:  # what the catalog gives: no offset to compute
        return
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} {moment.isoformat()} has no time zone; pass an aware datetime")


@functools.lru_cache(maxsize=32)
def utc_iso(moment: datetime) -> str:
    """``moment.astimezone(UTC).isoformat()``, remembered for the last few instants: a plan's
    JSON line and its rule text spell the same clock start and end of period (an ``lru_cache``:
    a hit costs no Python call; equal instants in other zones have the same UTC text)."""
    return (moment if moment.tzinfo is UTC else moment.astimezone(UTC)).isoformat()


def _iso(moment: datetime) -> str:
    return utc_iso(moment)[:-6] + "Z"  # "+00:00" -> "Z"


# "now", "due since" and the end of grace are shared by every recording one sweep marked due
_iso_shared = functools.lru_cache(maxsize=1024)(_iso)


@dataclass(frozen=True, slots=True)
class Hold:
    """A legal hold: never deleted while it is active, whatever the tier."""

    id: int
    reason: str
    owner: str
    until: date | None = None  # review date; passing it raises an alert, it releases nothing
    released_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.released_at is not None:
            _aware("hold released_at", self.released_at)

    def active_at(self, now: datetime) -> bool:
        """A hold released later than ``now`` was still in force at ``now``."""
        return self.released_at is None or self.released_at > now

    def review_overdue(self, now: datetime) -> bool:
        """The review date (a UTC calendar day) is over and the hold is still in force."""
        return self.until is not None and self.active_at(now) and now.astimezone(UTC).date() > self.until


@dataclass(frozen=True, slots=True)
class CaseTier:
    """A tier set on a case (案号): it applies to every recording labelled into the case."""

    case: str
    tier: Tier
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RecordingState:
    """What the catalog knows about one recording, as far as retention is concerned."""

    id: int
    tier: Tier
    tier_reason: str | None
    recording_end: datetime | None  # None: unknown (unreadable media); the ingest time counts
    ingested_at: datetime
    holds: tuple[Hold, ...] = ()
    due_since: datetime | None = None  # when a sweep first found it due, as stored by the caller
    fixity_ok: bool | None = None  # stored copy verified recently? None: not (recently) verified
    case_tiers: tuple[CaseTier, ...] = ()
    deleted: bool = False

    def __post_init__(self) -> None:
        # UTC (what the catalog gives) needs no check: a call each saved per candidate of a plan
        if self.ingested_at.tzinfo is not UTC:
            _aware("ingested_at", self.ingested_at)
        if self.recording_end is not None and self.recording_end.tzinfo is not UTC:
            _aware("recording_end", self.recording_end)
        if self.due_since is not None and self.due_since.tzinfo is not UTC:
            _aware("due_since", self.due_since)
        if type(self.holds) is not tuple:
            object.__setattr__(self, "holds", tuple(self.holds))
        if type(self.case_tiers) is not tuple:
            object.__setattr__(self, "case_tiers", tuple(self.case_tiers))

    @property
    def clock_start(self) -> datetime:
        """The later of the recording's end and its ingest, in UTC.

        The later one, because a camera clock that runs fast puts the end after the ingest, and a
        recording ingested late must still get its whole period from when the station had it.
        """
        return _clock_start(self.recording_end, self.ingested_at)

    def effective_tier(self) -> tuple[Tier, str, str | None]:
        """(tier, where it comes from, its reason): the strongest of its own and its cases'.

        On a tie the recording's own tier is named, so the rule text does not change when a case
        sets the tier the recording already has.
        """
        return _effective_tier(self.tier, self.tier_reason, self.case_tiers)


def _clock_start(end: datetime | None, ingest: datetime) -> datetime:
    """``RecordingState.clock_start`` of these two values."""
    if ingest.tzinfo is not UTC:
        ingest = ingest.astimezone(UTC)
    if end is None:
        return ingest
    if end.tzinfo is not UTC:
        end = end.astimezone(UTC)
    return end if end > ingest else ingest


def _effective_tier(tier: Tier, reason: str | None, case_tiers: tuple[CaseTier, ...]
                    ) -> tuple[Tier, str, str | None]:
    """``RecordingState.effective_tier`` of these values."""
    source = "recording"
    for case in case_tiers:
        if rank(case.tier) > rank(tier):
            tier, source, reason = case.tier, f"case {case.case}", case.reason
    return tier, source, reason


class Kind(StrEnum):
    KEEP = "keep"
    DUE = "due"  # newly due: store due_since = now
    IN_GRACE = "in_grace"  # due; deletable at deletable_at unless rescued
    DELETE = "delete"
    GONE = "gone"  # already deleted (its tombstone remains)


class Why(StrEnum):
    HELD = "held"
    LONG_TERM = "long_term"
    EVIDENCE = "evidence"  # evidence tier, inside its period or permanent
    INSIDE_PERIOD = "inside_period"  # standard tier, inside its period (or permanent)
    FIXITY_UNKNOWN = "fixity_unknown"  # grace over, stored copy not verified: alert, keep
    FIXITY_FAILED = "fixity_failed"  # grace over, stored copy failed verification: alert, keep
    NEWLY_DUE = "newly_due"
    GRACE = "grace"
    EXPIRED = "expired"  # delete: past period and grace, not held, verified
    DELETED = "deleted"


class RuleText:
    """A decision's rule text, formatted when first read (``str``), not when decided.

    A plan decides every candidate of a large catalog but most texts are never shown (a table
    shows 200 rows, a run writes the text only for what it deletes): formatting them all cost
    about a quarter of a plan's time. Equal when the texts are equal.
    """

    __slots__ = ("_args", "_format", "_text")

    def __init__(self, format_: Callable[..., str], *args: object) -> None:
        self._format = format_
        self._args = args
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = self._format(*self._args)
            self._args = ()
        return self._text

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RuleText):
            return str(self) == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))

    def __repr__(self) -> str:
        return repr(str(self))


def _literal(text: str) -> str:
    return text


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one recording at ``now``, and the rule that says so (for the tombstone).

    ``rule`` is the text; it is formatted on first use (``RuleText``).
    """

    recording_id: int
    kind: Kind
    why: Why
    tier: Tier  # effective tier
    tier_source: str  # "recording" or "case <case number>"
    clock_start: datetime | None
    expires_at: datetime | None  # None: never (held recordings still show their tier's expiry)
    due_since: datetime | None  # the value the caller stores next (None clears it)
    deletable_at: datetime | None  # earliest deletion if nothing changes; None: not foreseeable
    active_holds: tuple[int, ...]
    alerts: tuple[str, ...]
    rule_text: RuleText

    @property
    def rule(self) -> str:
        return str(self.rule_text)


def decide(recording: RecordingState, policy: RetentionPolicy, now: datetime) -> Decision:
    """The decision for ``recording`` at ``now``; ``RetentionPolicyInvalid`` for a bad policy."""
    require_valid(policy)
    return decide_unchecked(recording, policy, now)


def decide_unchecked(recording: RecordingState, policy: RetentionPolicy, now: datetime) -> Decision:
    """``decide`` for a policy that already passed ``require_valid`` (a sweep checks it once)."""
    if now.tzinfo is not UTC:
        _aware("now", now)
        now = now.astimezone(UTC)
    rec = recording
    return decide_fields(rec.id, rec.tier, rec.tier_reason, rec.recording_end, rec.ingested_at,
                         rec.holds, rec.due_since, rec.fixity_ok, rec.case_tiers, rec.deleted,
                         policy, now)


def decide_fields(rid: int, own_tier: Tier, tier_reason: str | None,
                  recording_end: datetime | None, ingested_at: datetime, holds: tuple[Hold, ...],
                  due_since: datetime | None, fixity_ok: bool | None,
                  case_tiers: tuple[CaseTier, ...], deleted: bool, policy: RetentionPolicy,
                  now: datetime) -> Decision:
    """``decide_unchecked`` of the ``RecordingState`` these fields make, without making it (a
    plan decides every candidate of a large catalog: the state was a fifth of that).

    For callers that already hold what ``RecordingState`` checks: every datetime and ``now``
    in UTC (``tzinfo is UTC``), ``holds`` and ``case_tiers`` tuples, ``fixity_ok`` a bool or
    None. ``decide_unchecked`` is this with the fields of a state.
    """
    if case_tiers:
        tier, source, reason = _effective_tier(own_tier, tier_reason, case_tiers)
    else:  # the usual case: its own tier (effective_tier without the call)
        tier, source, reason = own_tier, "recording", tier_reason
    if deleted:
        return Decision(rid, Kind.GONE, Why.DELETED, tier, source, None, None, None, None, (), (),
                        RuleText(_literal, "already deleted; its tombstone keeps the rule it was "
                                 "deleted under"))
    start = _clock_start(recording_end, ingested_at)
    expiry = expires_at(policy, tier, start)
    active = tuple(h for h in holds if h.active_at(now)) if holds else ()
    alerts: list[str] = []
    if fixity_ok is False:
        alerts.append(f"recording {rid}: its stored copy failed its fixity check; it is never deleted "
                      "in this state: restore it from a replica and verify it again")
    if active:
        alerts.extend(f"recording {rid}: hold {h.id} (owner {h.owner}) passed its review date "
                      f"{h.until}; review it and release or extend it"
                      for h in active if h.review_overdue(now))
    tiering = (policy, tier, source, reason)
    step = _before_due(tiering, active, expiry, now)
    if step is None:
        assert expiry is not None  # _before_due keeps everything that never expires
        step = _after_due(rid, holds, due_since, fixity_ok, expiry, (*tiering, start, expiry),
                          policy, now)
    if step.alert:
        alerts.append(step.alert)
    return Decision(rid, step.kind, step.why, tier, source, start, expiry, step.due_since,
                    step.deletable_at, tuple(h.id for h in active) if active else (),
                    tuple(alerts) if alerts else (), step.rule)


class _Step(NamedTuple):
    kind: Kind
    why: Why
    due_since: datetime | None
    deletable_at: datetime | None
    rule: RuleText
    alert: str | None = None


# The rule texts, formatted only when read (``RuleText``). A tiering is (policy, effective tier,
# where it comes from, its reason); a clock adds the clock start and the end of the period.
_Tiering = tuple[RetentionPolicy, Tier, str, "str | None"]
_Clock = tuple[RetentionPolicy, Tier, str, "str | None", datetime, datetime]


def _tier_text(policy: RetentionPolicy, tier: Tier, source: str, reason: str | None) -> str:
    return _tier_words(period_text(policy, tier), source, reason)


@functools.lru_cache(maxsize=4096)
def _tier_words(period: str, source: str, reason: str | None) -> str:
    """The same few (period, source, reason) texts start most rule texts of a plan."""
    return f"{period} (tier from {source}" + (f", {reason})" if reason else ")")


def _clock_text(clock: _Clock) -> str:
    policy, tier, source, reason, start, expiry = clock
    return (f"{_tier_words(period_text(policy, tier), source, reason)}; clock start "
            f"{utc_iso(start)[:-6]}Z; period ends {utc_iso(expiry)[:-6]}Z")


def _held_text(active: tuple[Hold, ...]) -> str:
    held = "; ".join(f"hold {h.id} by {h.owner}: {h.reason}" for h in active)
    return f"held, whatever the tier ({held})"


def _inside_text(tiering: _Tiering, expiry: datetime) -> str:
    return f"inside its period: {_tier_text(*tiering)}; period ends {_iso(expiry)}"


def _due_text(clock: _Clock, now: datetime) -> str:
    return f"due from {_iso_shared(now)}: {_clock_text(clock)}; grace {clock[0].grace_days} days"


def _timeline_text(prefix: str, clock: _Clock, since: datetime, ends: datetime, suffix: str) -> str:
    policy, tier, source, reason, start, expiry = clock  # _clock_text, inline: most rules read
    return (f"{prefix}{_tier_words(period_text(policy, tier), source, reason)}; clock start "
            f"{utc_iso(start)[:-6]}Z; period ends {utc_iso(expiry)[:-6]}Z; due since "
            f"{_iso_shared(since)}; grace {policy.grace_days} days ends {_iso_shared(ends)}{suffix}")


def _before_due(tiering: _Tiering, active: tuple[Hold, ...], expiry: datetime | None,
                now: datetime) -> _Step | None:
    """Rules 3 to 5: kept by a hold, by long_term, or inside its period; None when past it."""
    policy, tier = tiering[0], tiering[1]
    if active:
        return _Step(Kind.KEEP, Why.HELD, None, None, RuleText(_held_text, active))
    if tier is Tier.LONG_TERM:
        return _Step(Kind.KEEP, Why.LONG_TERM, None, None, RuleText(_tier_text, *tiering))
    inside = Why.EVIDENCE if tier is Tier.EVIDENCE else Why.INSIDE_PERIOD
    if expiry is None:
        return _Step(Kind.KEEP, inside, None, None, RuleText(_tier_text, *tiering))
    if now < expiry:
        return _Step(Kind.KEEP, inside, None, expiry + timedelta(days=policy.grace_days),
                     RuleText(_inside_text, tiering, expiry))
    return None


def _after_due(rid: int, holds: tuple[Hold, ...], since: datetime | None, fixity_ok: bool | None,
               expiry: datetime, clock: _Clock, policy: RetentionPolicy, now: datetime) -> _Step:
    """Rules 6 to 8: newly due, in grace, or past grace (deleted only if verified)."""
    grace = day_span(policy.grace_days)
    released = max((h.released_at for h in holds if h.released_at is not None and h.released_at <= now),
                   default=None) if holds else None
    if since is None or since < expiry or since > now or (released is not None and since < released):
        return _Step(Kind.DUE, Why.NEWLY_DUE, now, now + grace, RuleText(_due_text, clock, now))
    ends = since + grace
    if now < ends:
        return _Step(Kind.IN_GRACE, Why.GRACE, since, ends,
                     RuleText(_timeline_text, "in grace: ", clock, since, ends, ""))
    if fixity_ok is None:
        return _Step(Kind.KEEP, Why.FIXITY_UNKNOWN, since, None,
                     RuleText(_timeline_text, "kept until verified: ", clock, since, ends, ""),
                     f"recording {rid}: due for deletion but its stored copy was not verified "
                     "recently; run the fixity scrub before the retention run")
    if fixity_ok is False:
        return _Step(Kind.KEEP, Why.FIXITY_FAILED, since, None,
                     RuleText(_timeline_text, "kept, fixity failed: ", clock, since, ends, ""))
    return _Step(Kind.DELETE, Why.EXPIRED, since, ends,
                 RuleText(_timeline_text, "deleted: ", clock, since, ends,
                          "; no active hold; stored copy verified"))


def stage(decision: Decision) -> int:
    """How far towards deletion: 0 kept by its period or a hold/tier, 1 due or in grace, 2 past grace.

    A recording kept only because its copy is not verified is at stage 2: nothing but the
    verification stands between it and deletion.
    """
    if decision.kind in (Kind.DELETE, Kind.GONE) or decision.why in (Why.FIXITY_UNKNOWN, Why.FIXITY_FAILED):
        return 2
    if decision.kind in (Kind.DUE, Kind.IN_GRACE):
        return 1
    return 0


def decide_all(recordings: Iterable[RecordingState], policy: RetentionPolicy,
               now: datetime) -> Iterable[Decision]:
    """``decide`` for each recording, lazily, the policy checked once (for a sweep's cursor)."""
    require_valid(policy)
    return (decide_unchecked(r, policy, now) for r in recordings)
