"""``plan`` (dry run), ``shortening_impact`` and the catalog pre-filter, over plain iterables."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from retention_builders import DAY, POLICY, STANDARD_END, T0, TICK, hold, policy, recording

from bodycam_ingest.retention.plan import Plan, candidate_start_cutoff, plan, shortening_impact
from bodycam_ingest.retention.policy import RetentionPolicyInvalid, longest_of, shortened_rules
from bodycam_ingest.retention.rules import CaseTier, Kind, RecordingState, Why, decide
from bodycam_ingest.retention.tiers import Tier

S, E, L = Tier.STANDARD, Tier.EVIDENCE, Tier.LONG_TERM
GRACE = 7 * DAY
NOW = STANDARD_END + 20 * DAY  # recordings ending at T0 are past period and grace


def station() -> list[RecordingState]:
    """One recording per situation, all ended at T0 unless said otherwise."""
    return [
        recording(1, due_since=STANDARD_END),  # deletable
        recording(2, due_since=STANDARD_END, fixity_ok=False),  # blocked, alert
        recording(3, due_since=STANDARD_END, fixity_ok=None),  # blocked, alert
        recording(4, holds=(hold(),), due_since=STANDARD_END),  # held
        recording(5, tier=L, reason="dispute:complaint"),  # long-term
        recording(6, tier=E, reason="case 2024-17"),  # evidence
        recording(7),  # due now, never swept before: deletable in 7 days
        recording(8, due_since=NOW - 2 * DAY),  # in grace: deletable in 5 days
        recording(9, end=T0 + 25 * DAY),  # period ends in 5 days: deletable in 12 days
        recording(10, end=T0 + 60 * DAY),  # period ends in 40 days: outside a 30-day horizon
        recording(11, due_since=STANDARD_END, deleted=True),
        recording(12, due_since=STANDARD_END, cases=(CaseTier("2024-17", L, "dispute:assault"),)),
    ]


def test_plan_lists_what_would_go_now_and_within_the_horizon_and_counts_everything() -> None:
    result = plan(station(), POLICY, NOW)
    assert [d.recording_id for d in result.delete_now] == [1]
    assert [(d.recording_id, d.deletable_at) for d in result.upcoming] == [
        (8, NOW + 5 * DAY), (7, NOW + 7 * DAY), (9, NOW + 12 * DAY)]
    assert [d.recording_id for d in result.attention] == [2, 3]
    assert result.counts == {
        Why.EXPIRED: 1, Why.FIXITY_FAILED: 1, Why.FIXITY_UNKNOWN: 1, Why.HELD: 1, Why.LONG_TERM: 2,
        Why.EVIDENCE: 1, Why.NEWLY_DUE: 1, Why.GRACE: 1, Why.INSIDE_PERIOD: 2, Why.DELETED: 1}
    assert sum(result.counts.values()) == len(station())
    assert result.horizon_end == NOW + 30 * DAY


def test_plan_says_why_for_every_listed_recording() -> None:
    result = plan(station(), POLICY, NOW)
    assert "due since" in result.delete_now[0].rule
    assert all(d.rule for d in (*result.upcoming, *result.attention))


def test_the_horizon_includes_its_last_instant_and_nothing_after() -> None:
    r = [recording(9, end=T0 + 25 * DAY)]  # deletable at NOW + 12 days
    assert [d.recording_id for d in plan(r, POLICY, NOW, horizon_days=12).upcoming] == [9]
    assert plan(r, POLICY, NOW - TICK, horizon_days=12).upcoming == ()


def test_plan_with_no_horizon_lists_only_what_goes_now() -> None:
    result = plan(station(), POLICY, NOW, horizon_days=0)
    assert [d.recording_id for d in result.delete_now] == [1]
    assert result.upcoming == ()


def test_plan_refuses_a_negative_horizon_and_an_invalid_policy() -> None:
    with pytest.raises(ValueError, match="horizon"):
        plan(station(), POLICY, NOW, horizon_days=-1)
    with pytest.raises(RetentionPolicyInvalid):
        plan(station(), policy(standard=100), NOW)


def test_plan_reads_a_one_shot_stream_once_and_keeps_only_its_answer() -> None:
    """A catalog cursor is an iterator: plan must not need it twice nor hold every row."""
    count = 20_000

    def cursor() -> Iterator[RecordingState]:
        for i in range(count):  # all inside their period: nothing belongs in the answer
            yield recording(i, end=T0 + (i % 300) * DAY)

    tracemalloc.start()
    try:
        result = plan(cursor(), POLICY, T0 + 100 * DAY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.counts == {Why.INSIDE_PERIOD: count}
    assert result.delete_now == () and result.upcoming == ()
    assert peak < 1_000_000, f"plan held {peak} bytes for an empty answer over {count} recordings"


# --- policy changes --------------------------------------------------------------------------
OLD = policy(standard=1095)
NEW = policy(standard=730)
AFTER_800_DAYS = T0 + 800 * DAY


def ages() -> list[RecordingState]:
    return [
        recording(1),  # 800 days old: inside 1095, past 730
        recording(2, end=T0 + 200 * DAY),  # 600 days old: inside both
        recording(3, holds=(hold(),)),  # held: never affected
        recording(4, tier=L, reason="dispute:petition"),
        recording(5, tier=E, reason="case"),
        recording(6, deleted=True),
    ]


def test_shortening_a_tier_lists_exactly_the_recordings_it_would_bring_forward() -> None:
    impacts = shortening_impact(OLD, NEW, ages(), AFTER_800_DAYS)
    assert [i.recording_id for i in impacts] == [1]
    assert impacts[0].old.why is Why.INSIDE_PERIOD
    assert impacts[0].new.kind is Kind.DUE


def test_lengthening_a_tier_brings_nothing_forward() -> None:
    assert shortening_impact(NEW, OLD, ages(), AFTER_800_DAYS) == []
    assert shortened_rules(NEW, OLD) == []


def test_shortening_the_grace_lists_recordings_in_grace_that_would_become_deletable() -> None:
    in_grace = recording(1, due_since=STANDARD_END)
    impacts = shortening_impact(policy(grace=30), policy(grace=7), [in_grace], STANDARD_END + 10 * DAY)
    assert [(i.old.kind, i.new.kind) for i in impacts] == [(Kind.IN_GRACE, Kind.DELETE)]


def test_a_shortened_tier_deletes_nothing_until_approved_and_then_only_after_a_full_grace() -> None:
    """Config shortened from 1095 to 730 days: until approved, the run uses the longer of both."""
    records = ages()
    assert shortened_rules(OLD, NEW) == ["standard: 1095 days -> 730 days"]
    pending = longest_of(OLD, NEW)  # what the run uses while the change waits for an approved request
    for day in range(0, 60):
        now = AFTER_800_DAYS + day * DAY
        assert plan(records, pending, now).delete_now == ()
        assert all(decide(r, pending, now).kind is Kind.KEEP for r in records if not r.deleted)
    # approved: recording 1 becomes due first, and goes only a grace later
    due = decide(records[0], NEW, AFTER_800_DAYS)
    assert (due.kind, due.deletable_at) == (Kind.DUE, AFTER_800_DAYS + GRACE)
    swept = [r if r.id != 1 else recording(1, due_since=due.due_since) for r in records]
    assert plan(swept, NEW, AFTER_800_DAYS + GRACE - TICK).delete_now == ()
    assert [d.recording_id for d in plan(swept, NEW, AFTER_800_DAYS + GRACE).delete_now] == [1]


# --- the catalog pre-filter ----------------------------------------------------------------------
def test_the_cutoff_skips_long_term_and_permanent_tiers_entirely() -> None:
    assert candidate_start_cutoff(POLICY, L, NOW) is None
    assert candidate_start_cutoff(policy(evidence=None), E, NOW) is None
    assert candidate_start_cutoff(POLICY, S, NOW, 30) == NOW + 30 * DAY - 737 * DAY


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([S, E, L]),
    st.lists(st.sampled_from([S, E, L]), max_size=2),
    st.integers(0, 4000),  # days from T0 to the clock start
    st.integers(0, 4000),  # days from T0 to now
    st.integers(0, 60),
    st.sampled_from([0, 1, 7, 30]),
    st.one_of(st.none(), st.integers(-10, 4000)),
)
def test_no_recording_the_cutoff_skips_could_appear_in_the_plan(
    tier: Tier, cases: list[Tier], start_days: int, now_days: int, horizon: int, grace: int,
    due_days: int | None,
) -> None:
    p = policy(standard=730, evidence=1500, grace=grace)
    r = recording(1, tier=tier, reason="x", end=T0 + start_days * DAY,
                  cases=tuple(CaseTier(str(i), t, "x") for i, t in enumerate(cases)),
                  due_since=None if due_days is None else T0 + due_days * DAY)
    now = T0 + now_days * DAY
    result: Plan = plan([r], p, now, horizon)
    cutoff = candidate_start_cutoff(p, tier, now, horizon)
    if result.delete_now or result.upcoming:
        assert cutoff is not None and r.clock_start <= cutoff


def test_cutoff_accepts_station_local_now() -> None:
    local = NOW.astimezone(ZoneInfo("Asia/Shanghai"))
    assert candidate_start_cutoff(POLICY, S, local) == candidate_start_cutoff(POLICY, S, NOW)
    assert isinstance(candidate_start_cutoff(POLICY, S, local), datetime)
