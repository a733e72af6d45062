"""Dry runs over many recordings: what would be deleted now, soon, and what a policy change does.

Pure and streaming: each function takes an iterable (a catalog cursor), looks at each recording
once and keeps only what it returns, so memory grows with the answer and not with the catalog.
``candidate_start_cutoff`` tells the catalog query which rows it can skip without loading them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from bodycam_ingest.retention.policy import RetentionPolicy, require_valid
from bodycam_ingest.retention.rules import (
    Decision,
    Kind,
    RecordingState,
    Why,
    decide_unchecked,
    stage,
)
from bodycam_ingest.retention.tiers import Tier

DEFAULT_HORIZON_DAYS = 30


@dataclass(frozen=True)
class Plan:
    """``bodycam retention plan``: every list sorted, every recording counted once by ``why``."""

    now: datetime
    horizon_end: datetime
    delete_now: tuple[Decision, ...]  # Kind.DELETE, by recording id
    upcoming: tuple[Decision, ...]  # not deletable now, deletable by horizon_end if nothing changes
    attention: tuple[Decision, ...]  # carry alerts (fixity failed or unverified, hold review overdue)
    counts: Mapping[Why, int]


def plan(recordings: Iterable[RecordingState], policy: RetentionPolicy, now: datetime,
         horizon_days: int = DEFAULT_HORIZON_DAYS) -> Plan:
    """What a retention run would delete at ``now`` and what becomes deletable within the horizon.

    "Becomes deletable" assumes a sweep at least daily and nothing else changing (no new hold,
    tier, or fixity result): a recording whose period ends inside the horizon is deletable
    ``grace`` later; one that is due now is deletable ``grace`` from now.
    """
    if horizon_days < 0:
        raise ValueError(f"the horizon must be 0 days or more, not {horizon_days}")
    require_valid(policy)
    now = now.astimezone(UTC)
    horizon_end = now + timedelta(days=horizon_days)
    delete_now: list[Decision] = []
    upcoming: list[Decision] = []
    attention: list[Decision] = []
    counts: Counter[Why] = Counter()
    for recording in recordings:
        decision = decide_unchecked(recording, policy, now)
        counts[decision.why] += 1
        if decision.alerts:
            attention.append(decision)
        if decision.kind is Kind.DELETE:
            delete_now.append(decision)
        elif decision.deletable_at is not None and decision.deletable_at <= horizon_end:
            upcoming.append(decision)
    delete_now.sort(key=lambda d: d.recording_id)
    upcoming.sort(key=lambda d: (d.deletable_at or horizon_end, d.recording_id))
    attention.sort(key=lambda d: d.recording_id)
    return Plan(now, horizon_end, tuple(delete_now), tuple(upcoming), tuple(attention),
                MappingProxyType(dict(counts)))


@dataclass(frozen=True)
class Impact:
    """A recording a policy change would bring closer to deletion, under each policy."""

    recording_id: int
    old: Decision
    new: Decision


def shortening_impact(old_policy: RetentionPolicy, new_policy: RetentionPolicy,
                      recordings: Iterable[RecordingState], now: datetime) -> list[Impact]:
    """Recordings that are due, in grace or deletable under ``new_policy`` at ``now`` but further
    from deletion under ``old_policy`` (e.g. inside the old period, or in a longer old grace).

    The caller shows these in a plan and applies the new policy only through an approved request;
    until then it runs with ``policy.longest_of(old, new)``. Once applied, each listed recording
    still becomes *due* first and waits a full grace period before it can be deleted.
    """
    require_valid(old_policy)
    require_valid(new_policy)
    impacts: list[Impact] = []
    for recording in recordings:
        if recording.deleted:
            continue
        old = decide_unchecked(recording, old_policy, now)
        new = decide_unchecked(recording, new_policy, now)
        if stage(new) > stage(old):
            impacts.append(Impact(recording.id, old, new))
    return impacts


def candidate_start_cutoff(policy: RetentionPolicy, tier: Tier, now: datetime,
                           horizon_days: int = 0) -> datetime | None:
    """The latest clock start at which a recording whose own tier is ``tier`` can be deletable by
    ``now + horizon_days``; None when no recording of that tier can be.

    A catalog query may skip rows of that tier whose clock start (the later of end and ingest) is
    after the cutoff: deletion needs ``start + period + grace <= time`` at least, and cases can
    only make the effective tier stronger, which (by the validated tier order) only lengthens the
    period. This is what keeps ``plan`` over a large catalog from loading every row.
    """
    require_valid(policy)
    days = None if tier is Tier.LONG_TERM else policy.days(tier)
    if days is None:
        return None
    limit = now.astimezone(UTC) + timedelta(days=horizon_days)
    return limit - timedelta(days=days + policy.grace_days)
