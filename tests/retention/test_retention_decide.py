"""``decide`` at chosen instants: every tier, holds, grace edges, floor, case tiers, clock start."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from retention_builders import (
    DAY,
    EVIDENCE_END,
    POLICY,
    STANDARD_END,
    T0,
    TICK,
    hold,
    policy,
    recording,
)

from bodycam_ingest.retention.policy import RetentionPolicy, RetentionPolicyInvalid
from bodycam_ingest.retention.rules import CaseTier, Decision, Kind, RecordingState, Why, decide
from bodycam_ingest.retention.tiers import Tier

S, E, L = Tier.STANDARD, Tier.EVIDENCE, Tier.LONG_TERM
GRACE = 7 * DAY
FAR = T0 + 200 * 365 * DAY  # two centuries later


# (id, tier, policy, now, stored due_since, fixity_ok) -> (kind, why, due_since to store, deletable_at)
CASES: list[tuple[str, Tier, RetentionPolicy, datetime, datetime | None, bool | None,
                  Kind, Why, datetime | None, datetime | None]] = [
    ("standard-day-one", S, POLICY, T0, None, True,
     Kind.KEEP, Why.INSIDE_PERIOD, None, STANDARD_END + GRACE),
    ("standard-last-instant-inside", S, POLICY, STANDARD_END - TICK, None, True,
     Kind.KEEP, Why.INSIDE_PERIOD, None, STANDARD_END + GRACE),
    ("standard-period-ends-becomes-due", S, POLICY, STANDARD_END, None, True,
     Kind.DUE, Why.NEWLY_DUE, STANDARD_END, STANDARD_END + GRACE),
    ("standard-found-due-late", S, POLICY, STANDARD_END + 40 * DAY, None, True,
     Kind.DUE, Why.NEWLY_DUE, STANDARD_END + 40 * DAY, STANDARD_END + 47 * DAY),
    ("standard-in-grace", S, POLICY, STANDARD_END + 3 * DAY, STANDARD_END, True,
     Kind.IN_GRACE, Why.GRACE, STANDARD_END, STANDARD_END + GRACE),
    ("standard-grace-last-instant", S, POLICY, STANDARD_END + GRACE - TICK, STANDARD_END, True,
     Kind.IN_GRACE, Why.GRACE, STANDARD_END, STANDARD_END + GRACE),
    ("standard-exactly-at-due-plus-grace", S, POLICY, STANDARD_END + GRACE, STANDARD_END, True,
     Kind.DELETE, Why.EXPIRED, STANDARD_END, STANDARD_END + GRACE),
    ("standard-long-after-grace", S, POLICY, FAR, STANDARD_END, True,
     Kind.DELETE, Why.EXPIRED, STANDARD_END, STANDARD_END + GRACE),
    ("standard-grace-over-fixity-unknown", S, POLICY, STANDARD_END + GRACE, STANDARD_END, None,
     Kind.KEEP, Why.FIXITY_UNKNOWN, STANDARD_END, None),
    ("standard-grace-over-fixity-failed", S, POLICY, STANDARD_END + GRACE, STANDARD_END, False,
     Kind.KEEP, Why.FIXITY_FAILED, STANDARD_END, None),
    ("standard-stale-due-since-restarts-grace", S, POLICY, STANDARD_END + GRACE, STANDARD_END - DAY, True,
     Kind.DUE, Why.NEWLY_DUE, STANDARD_END + GRACE, STANDARD_END + 2 * GRACE),
    ("standard-due-since-after-now-restarts-grace", S, POLICY, STANDARD_END + DAY, STANDARD_END + 5 * DAY,
     True, Kind.DUE, Why.NEWLY_DUE, STANDARD_END + DAY, STANDARD_END + 8 * DAY),
    ("standard-1095-days", S, policy(standard=1095), T0 + 1095 * DAY - TICK, None, True,
     Kind.KEEP, Why.INSIDE_PERIOD, None, T0 + 1102 * DAY),
    ("standard-1095-days-ends", S, policy(standard=1095), T0 + 1095 * DAY, None, True,
     Kind.DUE, Why.NEWLY_DUE, T0 + 1095 * DAY, T0 + 1102 * DAY),
    ("standard-permanent", S, policy(standard=None, evidence=None), FAR, STANDARD_END, True,
     Kind.KEEP, Why.INSIDE_PERIOD, None, None),
    ("grace-zero-deletes-at-due-since", S, policy(grace=0), STANDARD_END, STANDARD_END, True,
     Kind.DELETE, Why.EXPIRED, STANDARD_END, STANDARD_END),
    ("grace-thirty", S, policy(grace=30), STANDARD_END + 29 * DAY, STANDARD_END, True,
     Kind.IN_GRACE, Why.GRACE, STANDARD_END, STANDARD_END + 30 * DAY),
    ("evidence-after-standard-period", E, POLICY, STANDARD_END + GRACE, STANDARD_END, True,
     Kind.KEEP, Why.EVIDENCE, None, EVIDENCE_END + GRACE),
    ("evidence-last-instant-inside", E, POLICY, EVIDENCE_END - TICK, None, True,
     Kind.KEEP, Why.EVIDENCE, None, EVIDENCE_END + GRACE),
    ("evidence-period-ends", E, POLICY, EVIDENCE_END, None, True,
     Kind.DUE, Why.NEWLY_DUE, EVIDENCE_END, EVIDENCE_END + GRACE),
    ("evidence-exactly-at-due-plus-grace", E, POLICY, EVIDENCE_END + GRACE, EVIDENCE_END, True,
     Kind.DELETE, Why.EXPIRED, EVIDENCE_END, EVIDENCE_END + GRACE),
    ("evidence-permanent", E, policy(evidence=None), FAR, EVIDENCE_END, True,
     Kind.KEEP, Why.EVIDENCE, None, None),
    ("long-term-day-one", L, POLICY, T0, None, True, Kind.KEEP, Why.LONG_TERM, None, None),
    ("long-term-two-centuries", L, POLICY, FAR, STANDARD_END, True, Kind.KEEP, Why.LONG_TERM, None, None),
]


@pytest.mark.parametrize(
    ("tier", "pol", "now", "due_since", "fixity", "kind", "why", "store", "deletable"),
    [c[1:] for c in CASES], ids=[c[0] for c in CASES],
)
def test_decision_at_each_instant_of_each_tier(
    tier: Tier, pol: RetentionPolicy, now: datetime, due_since: datetime | None, fixity: bool | None,
    kind: Kind, why: Why, store: datetime | None, deletable: datetime | None,
) -> None:
    reason = {S: None, E: "case 2024-17", L: "dispute:complaint"}[tier]
    d = decide(recording(tier=tier, reason=reason, due_since=due_since, fixity_ok=fixity), pol, now)
    assert (d.kind, d.why, d.due_since, d.deletable_at) == (kind, why, store, deletable)
    assert d.tier is tier and d.tier_source == "recording"
    assert (d.kind is Kind.DELETE) == (why is Why.EXPIRED)


def test_decision_does_not_depend_on_the_zone_now_is_given_in() -> None:
    r = recording(due_since=STANDARD_END)
    now = STANDARD_END + GRACE
    assert decide(r, POLICY, now) == decide(r, POLICY, now.astimezone(ZoneInfo("Asia/Shanghai")))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        decide(recording(), POLICY, datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="ingested_at"):
        recording(end=datetime(2024, 1, 1))


def test_an_invalid_policy_decides_nothing() -> None:
    with pytest.raises(RetentionPolicyInvalid):
        decide(recording(), policy(standard=365), FAR)


def test_a_deleted_recording_stays_gone() -> None:
    d = decide(recording(deleted=True, due_since=STANDARD_END), POLICY, FAR)
    assert (d.kind, d.why, d.due_since) == (Kind.GONE, Why.DELETED, None)


# --- fixity ------------------------------------------------------------------------------------
@pytest.mark.parametrize("now", [T0, STANDARD_END, STANDARD_END + 3 * DAY, STANDARD_END + GRACE, FAR])
def test_a_failed_fixity_check_always_alerts_and_is_never_deleted(now: datetime) -> None:
    d = decide(recording(fixity_ok=False, due_since=STANDARD_END), POLICY, now)
    assert d.kind is not Kind.DELETE
    assert any("failed its fixity check" in a for a in d.alerts)


def test_an_unverified_copy_past_grace_alerts_asking_for_a_scrub() -> None:
    d = decide(recording(fixity_ok=None, due_since=STANDARD_END), POLICY, STANDARD_END + GRACE)
    assert d.kind is Kind.KEEP
    assert any("fixity scrub" in a for a in d.alerts)
    assert decide(recording(fixity_ok=None), POLICY, T0).alerts == ()  # not yet relevant: no alert


# --- holds -------------------------------------------------------------------------------------
PAST_GRACE = STANDARD_END + 30 * DAY


@pytest.mark.parametrize("tier", [S, E, L])
def test_an_active_hold_keeps_the_recording_whatever_the_tier(tier: Tier) -> None:
    r = recording(tier=tier, reason="dispute:assault", holds=(hold(),), due_since=STANDARD_END)
    for now in (T0, PAST_GRACE, EVIDENCE_END + GRACE, FAR):
        d = decide(r, POLICY, now)
        assert (d.kind, d.why, d.due_since, d.active_holds) == (Kind.KEEP, Why.HELD, None, (10,))
        assert "court order 2024-17" in d.rule


def test_a_hold_past_its_review_date_still_holds_and_raises_an_alert() -> None:
    r = recording(holds=(hold(until=date(2026, 3, 1)),), due_since=STANDARD_END)
    d = decide(r, POLICY, PAST_GRACE)
    assert (d.kind, d.why) == (Kind.KEEP, Why.HELD)
    assert any("passed its review date 2026-03-01" in a for a in d.alerts)
    on_the_day = decide(r, POLICY, datetime(2026, 3, 1, 23, 59, tzinfo=UTC))
    assert on_the_day.why is Why.HELD and on_the_day.alerts == ()


def test_a_hold_released_before_the_recording_was_due_does_not_delay_it() -> None:
    r = recording(holds=(hold(released_at=T0 + 100 * DAY),), due_since=STANDARD_END)
    assert decide(r, POLICY, STANDARD_END + GRACE).kind is Kind.DELETE


def test_releasing_a_hold_restarts_the_whole_grace_period() -> None:
    released = STANDARD_END + 20 * DAY
    # due_since was stored before the hold (the sweep did not run while it was held)
    r = recording(holds=(hold(released_at=released),), due_since=STANDARD_END)
    d = decide(r, POLICY, released + DAY)
    assert (d.kind, d.due_since, d.deletable_at) == (Kind.DUE, released + DAY, released + DAY + GRACE)


def test_a_hold_released_after_now_was_still_in_force_at_now() -> None:
    r = recording(holds=(hold(released_at=PAST_GRACE + DAY),), due_since=STANDARD_END)
    assert decide(r, POLICY, PAST_GRACE).why is Why.HELD


def test_one_active_hold_among_released_ones_keeps_it() -> None:
    r = recording(holds=(hold(1, released_at=T0 + DAY), hold(2), hold(3, released_at=T0 + 2 * DAY)),
                  due_since=STANDARD_END)
    d = decide(r, POLICY, PAST_GRACE)
    assert (d.why, d.active_holds) == (Why.HELD, (2,))


# --- case tiers --------------------------------------------------------------------------------
def test_a_case_set_to_long_term_keeps_a_standard_recording() -> None:
    r = recording(cases=(CaseTier("人社监察(2024)17号", L, "dispute:petition"),), due_since=STANDARD_END)
    d = decide(r, POLICY, FAR)
    assert (d.kind, d.why, d.tier) == (Kind.KEEP, Why.LONG_TERM, L)
    assert d.tier_source == "case 人社监察(2024)17号"
    assert "dispute:petition" in d.rule


def test_a_case_set_to_evidence_gives_its_recordings_the_evidence_period() -> None:
    r = recording(cases=(CaseTier("2024-17", E, "court request"),))
    assert decide(r, POLICY, STANDARD_END + GRACE).why is Why.EVIDENCE
    assert decide(r, POLICY, EVIDENCE_END).kind is Kind.DUE


def test_a_weaker_case_tier_never_shortens_the_recordings_own() -> None:
    r = recording(tier=L, reason="dispute:obstruction", cases=(CaseTier("A", S), CaseTier("B", E, "x")))
    d = decide(r, POLICY, FAR)
    assert (d.why, d.tier, d.tier_source) == (Why.LONG_TERM, L, "recording")


def test_the_strongest_of_several_cases_applies() -> None:
    r = recording(cases=(CaseTier("A", E, "x"), CaseTier("B", L, "dispute:emergency"), CaseTier("C", S)))
    assert decide(r, POLICY, FAR).tier_source == "case B"


# --- when the clock starts -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("end", "ingested", "start"),
    [
        (T0, T0 + 3 * DAY, T0 + 3 * DAY),  # ingested late: the period runs from the ingest
        (T0 + 2 * DAY, T0, T0 + 2 * DAY),  # camera clock ahead: the end is after the ingest
        (T0, T0, T0),
        (None, T0 + DAY, T0 + DAY),  # end unknown (unreadable media): the ingest counts
    ],
    ids=["end-before-ingest", "end-after-ingest", "same-instant", "end-unknown"],
)
def test_the_clock_starts_at_the_later_of_end_and_ingest(
    end: datetime | None, ingested: datetime, start: datetime,
) -> None:
    r = recording(end=end, ingested=ingested)
    assert r.clock_start == start
    inside = decide(r, POLICY, start + 730 * DAY - TICK)
    assert inside.why is Why.INSIDE_PERIOD and inside.clock_start == start
    assert decide(r, POLICY, start + 730 * DAY).kind is Kind.DUE


# --- the floor ---------------------------------------------------------------------------------
def test_a_recording_is_not_due_after_730_days_when_two_years_are_not_over() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)  # 29 February 2024 lies inside the first year
    r = recording(end=start)
    assert decide(r, POLICY, start + 730 * DAY).why is Why.INSIDE_PERIOD  # 2025-12-31
    assert decide(r, POLICY, datetime(2026, 1, 1, tzinfo=UTC)).kind is Kind.DUE


def test_below_the_floor_only_with_allow_below_floor_and_then_exactly_as_configured() -> None:
    short = policy(standard=90, floor=90, allow_below_floor=True)
    r = recording(due_since=T0 + 90 * DAY)
    assert decide(r, short, T0 + 90 * DAY - TICK).why is Why.INSIDE_PERIOD
    assert decide(r, short, T0 + 97 * DAY).kind is Kind.DELETE
    with pytest.raises(RetentionPolicyInvalid):
        decide(r, policy(standard=90), T0 + 97 * DAY)


# --- what the tombstone keeps ----------------------------------------------------------------------
def test_the_rule_of_a_deletion_names_tier_period_clock_due_and_grace() -> None:
    d: Decision = decide(recording(due_since=STANDARD_END), POLICY, STANDARD_END + GRACE)
    assert d.kind is Kind.DELETE
    for part in ("standard: 730 days", "clock start 2024-03-01T12:00:00Z", "period ends 2026-03-01T12:00:00Z",
                 "due since 2026-03-01T12:00:00Z", "grace 7 days ends 2026-03-08T12:00:00Z",
                 "no active hold", "stored copy verified"):
        assert part in d.rule
    assert d == decide(recording(due_since=STANDARD_END), POLICY, STANDARD_END + GRACE)  # deterministic


def test_state_accepts_lists_and_keeps_tuples() -> None:
    r = RecordingState(1, S, None, T0, T0, holds=[hold()], case_tiers=[CaseTier("A", E, "x")])  # type: ignore[arg-type]
    assert isinstance(r.holds, tuple) and isinstance(r.case_tiers, tuple)
    assert r.effective_tier() == (E, "case A", "x")
    assert timedelta(0) == r.clock_start - T0
