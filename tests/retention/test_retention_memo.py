"""What a plan remembers (issue 14) gives what computing it afresh gives.

``expires_at`` remembers the floored span per (period, floor, start day), ``period_text`` the
text per policy and tier, the rule texts their tier words: each is compared here with the
formula it replaces, on generated starts (leap days, times of day, zones) and policies.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bodycam_ingest.retention.policy import (
    LEGAL_FLOOR_YEARS,
    RetentionPolicy,
    Severity,
    add_years,
    expires_at,
    period_text,
    validate_policy,
)
from bodycam_ingest.retention.rules import RecordingState, decide
from bodycam_ingest.retention.tiers import Tier

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ZONES = [UTC, ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York"), timezone(timedelta(hours=-11))]


def reference_expiry(policy: RetentionPolicy, tier: Tier, clock_start: datetime) -> datetime | None:
    """``expires_at`` as it was, computed for each recording."""
    if tier is Tier.LONG_TERM or policy.days(tier) is None:
        return None
    days = policy.days(tier)
    assert days is not None
    start = clock_start.astimezone(UTC)
    end = start + timedelta(days=days)
    if not policy.allow_below_floor and days < max(policy.floor_days, LEGAL_FLOOR_YEARS * 366):
        end = max(end, start + timedelta(days=policy.floor_days), add_years(start, LEGAL_FLOOR_YEARS))
    return end


starts = st.builds(lambda m, z: (datetime(2019, 12, 25, tzinfo=UTC) + timedelta(minutes=m)).astimezone(z),
                   st.integers(0, 12 * 366 * 24 * 60), st.sampled_from(ZONES))
leap_days = st.builds(lambda y, s, z: datetime(y, 2, 29, tzinfo=UTC) + timedelta(seconds=s),
                      st.sampled_from([2020, 2024, 2028]), st.integers(-86400, 2 * 86400),
                      st.sampled_from(ZONES)).map(lambda d: d)


@st.composite
def policies(draw: st.DrawFn) -> RetentionPolicy:
    allow = draw(st.booleans())
    standard = draw(st.sampled_from([0, 365, 729, 730, 731, 732, 800, 1095, None]))
    floor = draw(st.integers(0, standard or 0)) if allow else draw(st.sampled_from([730, 731, 800]))
    if not allow and standard is not None and standard < floor:
        standard = floor
    evidence = None if standard is None else draw(st.sampled_from([None, standard, standard + 400]))
    policy = RetentionPolicy(tiers={Tier.STANDARD: standard, Tier.EVIDENCE: evidence,
                                    Tier.LONG_TERM: None},
                             floor_days=floor, allow_below_floor=allow)
    assert not [p for p in validate_policy(policy) if p.severity is Severity.ERROR]
    return policy


@SETTINGS
@given(policies(), st.sampled_from(list(Tier)), starts | leap_days)
def test_the_remembered_expiry_is_the_expiry_computed_afresh(
        policy: RetentionPolicy, tier: Tier, start: datetime) -> None:
    assert expires_at(policy, tier, start) == reference_expiry(policy, tier, start)


@pytest.mark.parametrize("start", [
    datetime(2024, 2, 29, 0, 0, tzinfo=UTC), datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 2, 28, 23, 0, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC),
    datetime(2024, 2, 29, 8, tzinfo=ZoneInfo("Asia/Shanghai")),  # 2024-02-29T00:00Z
    datetime(2024, 2, 28, 20, tzinfo=ZoneInfo("America/New_York")),  # 2024-02-29T01:00Z
])
def test_a_leap_day_start_keeps_two_calendar_years_at_every_time_of_day(start: datetime) -> None:
    policy = RetentionPolicy()
    assert expires_at(policy, Tier.STANDARD, start) == reference_expiry(policy, Tier.STANDARD, start)
    assert expires_at(policy, Tier.STANDARD, start) >= add_years(start.astimezone(UTC), 2)


@SETTINGS
@given(policies())
def test_the_remembered_period_text_is_the_policys_own(policy: RetentionPolicy) -> None:
    for tier in Tier:
        first = period_text(policy, tier)
        assert period_text(policy, tier) == first
        assert period_text(replace(policy), tier) == first  # a fresh copy computes it again
    longer = replace(policy, floor_days=policy.floor_days + 1, allow_below_floor=True)
    if policy.days(Tier.STANDARD) is not None:
        assert period_text(longer, Tier.STANDARD) != period_text(policy, Tier.STANDARD) or \
            policy.allow_below_floor


@SETTINGS
@given(policies(), starts, st.sampled_from([None, "dispute:complaint", "case file"]))
def test_rule_texts_name_the_period_source_and_reason(
        policy: RetentionPolicy, start: datetime, reason: str | None) -> None:
    state = RecordingState(id=7, tier=Tier.STANDARD, tier_reason=reason, recording_end=None,
                           ingested_at=start)
    rule = decide(state, policy, start + timedelta(days=5000)).rule
    words = f"{period_text(policy, Tier.STANDARD)} (tier from recording" + (
        f", {reason})" if reason else ")")
    assert words in rule
    expiry = expires_at(policy, Tier.STANDARD, start)
    if expiry is not None:
        assert expiry.astimezone(UTC).isoformat().replace("+00:00", "Z") in rule


_odd = st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=8)


@SETTINGS
@given(policies(), starts, st.integers(0, 4000), _odd, _odd, st.sampled_from(list(Tier)),
       st.sampled_from([None, True, False]), st.booleans(), st.sampled_from(ZONES))
def test_a_written_plan_line_is_the_encoded_decision(
        policy: RetentionPolicy, start: datetime, days: int, case: str, owner: str, tier: Tier,
        fixity: bool | None, held: bool, zone: object) -> None:
    from bodycam_ingest.retention.plan_json import _dumps, decision_json, decision_line
    from bodycam_ingest.retention.rules import CaseTier, Hold

    now = start + timedelta(days=days)
    holds = (Hold(3, f'court "{owner}"', owner, until=start.date()),) if held else ()
    state = RecordingState(id=2**40 - 1, tier=Tier.STANDARD, tier_reason=owner, recording_end=start,
                           ingested_at=start.astimezone(zone), holds=holds,  # type: ignore[arg-type]
                           due_since=now - timedelta(days=days % 30), fixity_ok=fixity,
                           case_tiers=(CaseTier(case, tier, f"{case}\n\\"),))
    decision = decide(state, policy, now)
    assert decision_line(decision) == _dumps(decision_json(decision))
