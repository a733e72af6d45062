"""Plain builders for the retention tests: recordings, holds and policies with readable defaults."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bodycam_ingest.retention.policy import RetentionPolicy
from bodycam_ingest.retention.rules import CaseTier, Hold, RecordingState
from bodycam_ingest.retention.tiers import Tier

DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)
# 2024-03-01 + 730 days is 2026-03-01 exactly: no 29 February in between, so "730 days" and
# "2 calendar years" agree and the plain cases read as plain arithmetic.
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
POLICY = RetentionPolicy()  # standard 730 days, evidence 10958 days, long_term never, grace 7 days
STANDARD_END = T0 + 730 * DAY
EVIDENCE_END = T0 + 10958 * DAY


def recording(
    rid: int = 1,
    *,
    tier: Tier = Tier.STANDARD,
    reason: str | None = None,
    end: datetime | None = T0,
    ingested: datetime | None = None,
    holds: tuple[Hold, ...] = (),
    due_since: datetime | None = None,
    fixity_ok: bool | None = True,
    cases: tuple[CaseTier, ...] = (),
    deleted: bool = False,
) -> RecordingState:
    """A recording that ended at T0 and was ingested at the same instant unless told otherwise."""
    return RecordingState(
        id=rid, tier=tier, tier_reason=reason, recording_end=end,
        ingested_at=ingested if ingested is not None else (end or T0), holds=holds,
        due_since=due_since, fixity_ok=fixity_ok, case_tiers=cases, deleted=deleted,
    )


def hold(hid: int = 10, *, until: date | None = None, released_at: datetime | None = None) -> Hold:
    return Hold(id=hid, reason="court order 2024-17", owner="legal", until=until, released_at=released_at)


def policy(standard: int | None = 730, evidence: int | None = 10958, *, grace: int = 7,
           allow_below_floor: bool = False, floor: int = 730) -> RetentionPolicy:
    return RetentionPolicy(
        tiers={Tier.STANDARD: standard, Tier.EVIDENCE: evidence, Tier.LONG_TERM: None},
        grace_days=grace, floor_days=floor, allow_below_floor=allow_below_floor,
    )
