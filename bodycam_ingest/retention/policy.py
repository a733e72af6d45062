"""The retention policy (periods per tier, grace, floor), its validation, and expiry arithmetic.

Pure: plain values in, plain values out; the config layer builds a ``RetentionPolicy`` and shows
``validate_policy``'s problems, the decision core refuses a policy that has errors.

Choices (R2, issue 5)
---------------------
* Periods are whole days of elapsed time (``None``: never expires). Days, not calendar months,
  because they are what agencies write ("730 days") and they do not drift with zones or DST.
* The legal floor is "at least 2 years" (000#37). 730 days is *shorter* than 2 calendar years
  whenever a 29 February falls in between (2024-01-01 + 730 days = 2025-12-31), so unless
  ``allow_below_floor`` is set, an expiry is never earlier than the clock start plus 2 calendar
  years (a 29 February start counts to 1 March) nor than ``floor_days``: keeping a day longer is
  always lawful, deleting a day early never is.
* Every finite period must be at least ``floor_days`` and ``floor_days`` at least 730, unless
  ``allow_below_floor`` is set; then each is a warning the caller prints at every start.
* ``long_term`` has no expiry, ever: only an approved decision (a tier change) releases it. A
  period configured for it is an error rather than a silent way to delete disputed footage.
* Periods must follow the tier order (``tiers.TIER_ORDER``): an evidence period shorter than the
  standard one would make "used as evidence" keep less than "ordinary".
* ``grace_days`` 0 is allowed but warned about: it removes the rescue window.
* Evidence defaults to 30 years as 10958 days: 30 x 365 plus the 8 leap days 30 years can hold.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from types import MappingProxyType
from typing import Any

from bodycam_ingest.errors import BodycamError, ExitCode
from bodycam_ingest.retention.tiers import TIER_ORDER, Tier

LEGAL_FLOOR_DAYS = 730
LEGAL_FLOOR_YEARS = 2
DEFAULT_GRACE_DAYS = 7
EVIDENCE_DEFAULT_DAYS = 30 * 365 + 8
DEFAULT_TIER_DAYS: Mapping[Tier, int | None] = MappingProxyType({
    Tier.STANDARD: LEGAL_FLOOR_DAYS,
    Tier.EVIDENCE: EVIDENCE_DEFAULT_DAYS,
    Tier.LONG_TERM: None,
})


class RetentionPolicyInvalid(BodycamError):
    """The retention policy is invalid: {problems}. Fix the [retention] section of the configuration."""

    exit_code = ExitCode.CONFIG


@dataclass(frozen=True)
class RetentionPolicy:
    """Periods per tier in days (None: permanent), and the two-phase deletion's grace period."""

    tiers: Mapping[Tier, int | None] = field(default_factory=lambda: DEFAULT_TIER_DAYS)
    grace_days: int = DEFAULT_GRACE_DAYS
    floor_days: int = LEGAL_FLOOR_DAYS
    allow_below_floor: bool = False

    def __post_init__(self) -> None:
        # A private read-only copy: the caller's dict can change later without changing the policy.
        object.__setattr__(self, "tiers", MappingProxyType(dict(self.tiers)))

    def days(self, tier: Tier) -> int | None:
        return self.tiers[tier]


class Severity(StrEnum):
    ERROR = "error"  # the policy must not be used
    WARNING = "warning"  # usable, but the caller must print it at every start


@dataclass(frozen=True)
class PolicyProblem:
    key: str  # the configuration key, e.g. "tiers.standard"
    message: str
    severity: Severity


def _is_days(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _longer(a: int | None, b: int | None) -> bool:
    """``a`` keeps strictly longer than ``b`` (None: forever)."""
    if a is None:
        return b is not None
    return b is not None and a > b


def _periods(policy: RetentionPolicy, add: Callable[[str, str, Severity], None],
             below: Severity) -> dict[Tier, int | None]:
    """Check each tier's period; return the well-formed ones for the order check."""
    periods: dict[Tier, int | None] = {}
    for tier in TIER_ORDER:
        key = f"tiers.{tier.value}"
        if tier not in policy.tiers:
            add(key, "no period configured; give a number of days or none (permanent)", Severity.ERROR)
            continue
        value = policy.tiers[tier]
        if value is not None and (not _is_days(value) or value < 0):
            add(key, f"must be a whole number of days >= 0 or none (permanent), not {value!r}",
                Severity.ERROR)
            continue
        periods[tier] = value
        if tier is Tier.LONG_TERM and value is not None:
            add(key, "long_term recordings are kept until an approved decision releases them "
                "(000#38); set it to none and release a recording by lowering its tier with an approver",
                Severity.ERROR)
        elif value is not None and _is_days(policy.floor_days) and value < policy.floor_days:
            add(key, f"{value} days is below the floor of {policy.floor_days} days", below)
    return periods


def validate_policy(policy: RetentionPolicy) -> list[PolicyProblem]:
    """Every problem of ``policy``, errors and warnings, in a stable order (none: use it)."""
    problems: list[PolicyProblem] = []
    below = Severity.WARNING if policy.allow_below_floor else Severity.ERROR

    def add(key: str, message: str, severity: Severity = Severity.ERROR) -> None:
        problems.append(PolicyProblem(key, message, severity))

    known = {t.value for t in TIER_ORDER}
    for key in sorted(str(k) for k in policy.tiers if str(k) not in known):
        add(f"tiers.{key}", f"unknown tier {key!r}; the tiers are {', '.join(sorted(known))}")
    if not _is_days(policy.floor_days) or policy.floor_days < 0:
        add("floor_days", f"must be a whole number of days >= 0, not {policy.floor_days!r}")
    elif policy.floor_days < LEGAL_FLOOR_DAYS:
        add("floor_days", f"{policy.floor_days} days is below the 2-year legal minimum "
            f"({LEGAL_FLOOR_DAYS} days, 000#37); set allow_below_floor only if a rule allows it", below)
    if not _is_days(policy.grace_days) or policy.grace_days < 0:
        add("grace_days", f"must be a whole number of days >= 0, not {policy.grace_days!r}")
    elif policy.grace_days == 0:
        add("grace_days", "0 leaves no window to rescue a recording between due and deleted",
            Severity.WARNING)
    periods = _periods(policy, add, below)
    for weaker, stronger in pairwise(TIER_ORDER):
        if weaker in periods and stronger in periods and _longer(periods[weaker], periods[stronger]):
            add(f"tiers.{stronger.value}",
                f"{stronger.value} ({_days_text(periods[stronger])}) keeps less than "
                f"{weaker.value} ({_days_text(periods[weaker])}); a stronger tier must keep at least as long")
    if policy.allow_below_floor:
        add("allow_below_floor", "set: recordings may be deleted before the 2-year minimum of 000#37",
            Severity.WARNING)
    return problems


def require_valid(policy: RetentionPolicy) -> list[PolicyProblem]:
    """Raise ``RetentionPolicyInvalid`` naming every error; return the warnings to print."""
    problems = validate_policy(policy)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors:
        raise RetentionPolicyInvalid(problems="; ".join(f"{p.key}: {p.message}" for p in errors))
    return problems


def _days_text(days: int | None) -> str:
    return "permanent" if days is None else f"{days} days"


def add_years(moment: datetime, years: int) -> datetime:
    """``moment`` plus calendar years, in UTC; 29 February goes to 1 March (the later day)."""
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    try:
        return utc.replace(year=utc.year + years)
    except ValueError:  # 29 February into a common year
        return utc.replace(year=utc.year + years, month=3, day=1)


def expires_at(policy: RetentionPolicy, tier: Tier, clock_start: datetime) -> datetime | None:
    """The first instant at which a recording of ``tier`` is past its period (None: never).

    ``long_term`` never expires whatever the policy says (see the module docstring).
    """
    if tier is Tier.LONG_TERM:
        return None
    days = policy.days(tier)
    if days is None:
        return None
    start = clock_start if clock_start.tzinfo is UTC else clock_start.astimezone(UTC)
    end = start + day_span(days)
    if not policy.allow_below_floor and days < max(policy.floor_days, _FLOOR_YEARS_AT_MOST):
        end = start + _floored_span(days, policy.floor_days, start.toordinal())
    return end


_FLOOR_YEARS_AT_MOST = LEGAL_FLOOR_YEARS * 366  # days: that many calendar years are never longer


@functools.lru_cache(maxsize=8192)
def _floored_span(days: int, floor_days: int, ordinal: int) -> timedelta:
    """``max(days, floor_days, 2 calendar years)`` from a start on the UTC day ``ordinal``.

    ``add_years`` keeps the time of day, so ``add_years(start, 2) - start`` depends on the date
    alone: one entry per (period, floor, day) serves every recording that ended that day (a plan
    over 1,000,000 recordings has a few thousand start days). Equal to the per-recording
    ``max(start + days, start + floor_days, add_years(start, 2))``: adding to ``start`` keeps
    the order of spans.
    """
    day = datetime.combine(date.fromordinal(ordinal), time(), UTC)
    years = add_years(day, LEGAL_FLOOR_YEARS) - day
    return max(day_span(days), day_span(floor_days), years)


@functools.lru_cache(maxsize=64)
def day_span(days: int) -> timedelta:
    return timedelta(days=days)


def period_text(policy: RetentionPolicy, tier: Tier) -> str:
    """How the period of ``tier`` reads in a rule text (a tombstone keeps it forever);
    remembered on the (immutable) policy, since every rule text of a plan starts with it."""
    texts: dict[Tier, str] | None = policy.__dict__.get(_PERIOD_TEXTS)
    if texts is None:
        texts = {}
        object.__setattr__(policy, _PERIOD_TEXTS, texts)
    text = texts.get(tier)
    if text is None:
        text = texts[tier] = _period_text(policy, tier)
    return text


_PERIOD_TEXTS = "_period_texts"  # not a field: equality and repr ignore it


def _period_text(policy: RetentionPolicy, tier: Tier) -> str:
    if tier is Tier.LONG_TERM:
        return "long_term: kept until released by an approved decision"
    days = policy.days(tier)
    if days is None:
        return f"{tier.value}: permanent"
    floor = "" if policy.allow_below_floor else f", not before {LEGAL_FLOOR_YEARS} calendar years"
    return f"{tier.value}: {days} days{floor}"


def shortened_rules(old: RetentionPolicy, new: RetentionPolicy) -> list[str]:
    """Every way ``new`` keeps less than ``old`` (empty: applying it needs no approver).

    A change listed here never takes effect until a plan under it was shown and approved
    (an approved ``retention_policy`` request); until then the caller runs with ``longest_of(old, new)``.
    """
    changes: list[str] = []
    for tier in TIER_ORDER:
        if tier in old.tiers and tier in new.tiers and _longer(old.tiers[tier], new.tiers[tier]):
            changes.append(f"{tier.value}: {_days_text(old.tiers[tier])} -> {_days_text(new.tiers[tier])}")
    if new.grace_days < old.grace_days:
        changes.append(f"grace: {old.grace_days} days -> {new.grace_days} days")
    if new.floor_days < old.floor_days:
        changes.append(f"floor: {old.floor_days} days -> {new.floor_days} days")
    if new.allow_below_floor and not old.allow_below_floor:
        changes.append("allow_below_floor: turned on")
    return changes


def longest_of(a: RetentionPolicy, b: RetentionPolicy) -> RetentionPolicy:
    """A policy that keeps everything at least as long as both ``a`` and ``b``.

    Run with ``longest_of(approved, configured)`` while a shortening waits for approval: a
    lengthening takes effect at once, a shortening only once it was approved.
    """
    tiers: dict[Tier, int | None] = {}
    for tier in TIER_ORDER:
        if tier in a.tiers and tier in b.tiers:
            x, y = a.tiers[tier], b.tiers[tier]
            tiers[tier] = None if x is None or y is None else max(x, y)
        else:
            tiers[tier] = a.tiers.get(tier, b.tiers.get(tier))
    return RetentionPolicy(tiers=tiers, grace_days=max(a.grace_days, b.grace_days),
                           floor_days=max(a.floor_days, b.floor_days),
                           allow_below_floor=a.allow_below_floor and b.allow_below_floor)
