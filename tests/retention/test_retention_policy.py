"""Policy validation (floor, order, long_term), calendar floor arithmetic, and policy changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from retention_builders import DAY, policy

from bodycam_ingest.errors import ExitCode
from bodycam_ingest.retention.policy import (
    RetentionPolicy,
    RetentionPolicyInvalid,
    Severity,
    add_years,
    expires_at,
    longest_of,
    require_valid,
    shortened_rules,
    validate_policy,
)
from bodycam_ingest.retention.tiers import Tier

S, E, L = Tier.STANDARD, Tier.EVIDENCE, Tier.LONG_TERM


def problems(p: RetentionPolicy, severity: Severity) -> dict[str, str]:
    return {x.key: x.message for x in validate_policy(p) if x.severity is severity}


def test_default_policy_is_valid_and_silent() -> None:
    assert validate_policy(RetentionPolicy()) == []
    default = RetentionPolicy()
    assert (default.days(S), default.days(E), default.days(L)) == (730, 10958, None)
    assert default.grace_days == 7


def test_evidence_can_be_permanent() -> None:
    assert validate_policy(policy(evidence=None)) == []


def test_standard_below_the_two_year_floor_is_an_error_without_allow_below_floor() -> None:
    errors = problems(policy(standard=365), Severity.ERROR)
    assert "tiers.standard" in errors
    assert "365" in errors["tiers.standard"]
    with pytest.raises(RetentionPolicyInvalid, match=r"tiers\.standard") as info:
        require_valid(policy(standard=365))
    assert info.value.exit_code is ExitCode.CONFIG


def test_allow_below_floor_turns_the_floor_errors_into_warnings_shown_every_time() -> None:
    p = policy(standard=90, floor=90, allow_below_floor=True)
    assert problems(p, Severity.ERROR) == {}
    warnings = problems(p, Severity.WARNING)
    assert set(warnings) == {"floor_days", "allow_below_floor"}
    assert require_valid(p) == validate_policy(p)  # the warnings are returned for printing


def test_lowering_floor_days_itself_needs_allow_below_floor() -> None:
    assert "floor_days" in problems(policy(floor=365), Severity.ERROR)


@pytest.mark.parametrize(
    ("bad", "key"),
    [
        (policy(standard=-1), "tiers.standard"),
        (policy(grace=-1), "grace_days"),
        (policy(floor=-5), "floor_days"),
        (RetentionPolicy(tiers={S: 730, E: True, L: None}), "tiers.evidence"),  # a bool is not days
        (RetentionPolicy(tiers={S: 730, E: 800}), "tiers.long_term"),  # missing tier
        (RetentionPolicy(tiers={S: 730, E: 800, L: None, "forever": None}), "tiers.forever"),  # type: ignore[dict-item]
        (policy(evidence=700), "tiers.evidence"),  # below floor
    ],
)
def test_malformed_policies_name_the_key_to_fix(bad: RetentionPolicy, key: str) -> None:
    assert key in problems(bad, Severity.ERROR)


def test_long_term_with_a_period_is_refused() -> None:
    p = RetentionPolicy(tiers={S: 730, E: 10958, L: 20000})
    assert "approved decision" in problems(p, Severity.ERROR)["tiers.long_term"]


def test_evidence_keeping_less_than_standard_is_refused() -> None:
    errors = problems(policy(standard=1095, evidence=800), Severity.ERROR)
    assert "keeps less than standard" in errors["tiers.evidence"]
    assert "tiers.evidence" in problems(policy(standard=None, evidence=10958), Severity.ERROR)


def test_zero_grace_is_allowed_with_a_warning() -> None:
    p = policy(grace=0)
    assert problems(p, Severity.ERROR) == {}
    assert "grace_days" in problems(p, Severity.WARNING)


def test_every_error_is_reported_at_once() -> None:
    with pytest.raises(RetentionPolicyInvalid) as info:
        require_valid(policy(standard=100, evidence=50, grace=-1))
    text = str(info.value)
    assert "tiers.standard" in text and "tiers.evidence" in text and "grace_days" in text


def test_config_string_keys_work_like_tiers() -> None:
    p = RetentionPolicy(tiers={"standard": 1000, "evidence": None, "long_term": None})  # type: ignore[dict-item]
    assert validate_policy(p) == []
    assert p.days(S) == 1000


def test_policy_is_not_changed_by_later_edits_to_the_callers_dict() -> None:
    tiers: dict[Tier, int | None] = {S: 730, E: 10958, L: None}
    p = RetentionPolicy(tiers=tiers)
    tiers[S] = 1
    assert p.days(S) == 730


# --- the calendar floor: 730 days is not always 2 years ------------------------------------------
@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # 2024-03-01 + 730 days = 2026-03-01: days and calendar agree
        (datetime(2024, 3, 1, 12, tzinfo=UTC), datetime(2026, 3, 1, 12, tzinfo=UTC)),
        # 2024-01-01 + 730 days = 2025-12-31, one day short of 2 years (29 Feb 2024 in between)
        (datetime(2024, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
        # a 29 February start counts to 1 March (730 days would give 28 February)
        (datetime(2024, 2, 29, 9, tzinfo=UTC), datetime(2026, 3, 1, 9, tzinfo=UTC)),
        # 2027-06-01 + 730 days crosses 29 Feb 2028
        (datetime(2027, 6, 1, tzinfo=UTC), datetime(2029, 6, 1, tzinfo=UTC)),
        # a station-local start is the same instant
        (datetime(2024, 1, 1, 8, tzinfo=ZoneInfo("Asia/Shanghai")), datetime(2026, 1, 1, tzinfo=UTC)),
    ],
)
def test_standard_expiry_is_never_before_two_calendar_years(start: datetime, expected: datetime) -> None:
    assert expires_at(RetentionPolicy(), S, start) == expected
    assert expires_at(RetentionPolicy(), S, start) >= start + 730 * DAY  # type: ignore[operator]


def test_allow_below_floor_uses_the_configured_days_exactly() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert expires_at(policy(standard=90, floor=90, allow_below_floor=True), S, start) == start + 90 * DAY


def test_longer_period_than_the_floor_is_plain_days() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert expires_at(policy(standard=1095), S, start) == start + 1095 * DAY


def test_long_term_never_expires_whatever_the_policy() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert expires_at(RetentionPolicy(tiers={S: 730, E: 800, L: 900}), L, start) is None
    assert expires_at(policy(evidence=None), E, start) is None


def test_add_years_keeps_time_and_moves_29_february_to_1_march() -> None:
    moment = datetime(2023, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert add_years(moment, 2) == datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert add_years(datetime(2024, 2, 29, tzinfo=UTC), 4) == datetime(2028, 2, 29, tzinfo=UTC)
    assert add_years(datetime(2024, 2, 29, tzinfo=UTC), 1) == datetime(2025, 3, 1, tzinfo=UTC)


def test_thirty_years_of_evidence_cover_thirty_calendar_years_with_their_leap_days() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)  # 2024..2052 holds 8 leap days
    expiry = expires_at(RetentionPolicy(), E, start)
    assert expiry is not None and expiry >= add_years(start, 30)
    assert expiry - add_years(start, 30) < timedelta(days=1)


# --- policy changes --------------------------------------------------------------------------
def test_shortening_a_tier_or_the_grace_is_listed_and_lengthening_is_not() -> None:
    old = policy(standard=1095, grace=14)
    assert shortened_rules(old, policy(standard=1460, grace=30)) == []
    assert shortened_rules(old, old) == []
    assert shortened_rules(old, policy(standard=730, grace=7)) == [
        "standard: 1095 days -> 730 days", "grace: 14 days -> 7 days"]
    assert shortened_rules(policy(evidence=None), policy(evidence=10958)) == [
        "evidence: permanent -> 10958 days"]
    assert shortened_rules(policy(), policy(standard=90, floor=90, allow_below_floor=True)) == [
        "standard: 730 days -> 90 days", "floor: 730 days -> 90 days", "allow_below_floor: turned on"]


def test_longest_of_keeps_every_tier_as_long_as_either_policy() -> None:
    a = policy(standard=1095, evidence=10958, grace=7)
    b = policy(standard=730, evidence=None, grace=14)
    both = longest_of(a, b)
    assert (both.days(S), both.days(E), both.days(L), both.grace_days) == (1095, None, None, 14)
    assert validate_policy(both) == []
    assert shortened_rules(a, both) == [] and shortened_rules(b, both) == []
