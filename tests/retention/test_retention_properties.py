"""Hypothesis: no generated state or history ever deletes what R2 says must be kept.

The oracle below restates the rules from REQUIREMENTS R2 and issue 5 independently of the code
(its own calendar arithmetic, its own idea of "held"), and every DELETE is checked against it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from retention_builders import DAY, TICK

from bodycam_ingest.retention.policy import RetentionPolicy, Severity, validate_policy
from bodycam_ingest.retention.rules import (
    CaseTier,
    Hold,
    Kind,
    RecordingState,
    decide,
    stage,
)
from bodycam_ingest.retention.tiers import Tier

BASE = datetime(2022, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
YEAR_MINUTES = 365 * 24 * 60
ZONES = [UTC, ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York")]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def moments(years: int = 12) -> st.SearchStrategy[datetime]:
    return st.builds(lambda m, z: (BASE + m * MINUTE).astimezone(z),
                     st.integers(0, years * YEAR_MINUTES), st.sampled_from(ZONES))


@st.composite
def policies(draw: st.DrawFn) -> RetentionPolicy:
    allow = draw(st.sampled_from([False, False, False, True]))
    if allow:
        standard: int | None = draw(st.integers(0, 800))
        floor = draw(st.integers(0, standard or 0))
    else:
        standard = draw(st.sampled_from([730, 730, 731, 800, 1095, None]))
        floor = 730
    evidence = None if standard is None else draw(
        st.sampled_from([None, standard, standard + 1, standard + 365, standard + 4000]))
    p = RetentionPolicy(tiers={Tier.STANDARD: standard, Tier.EVIDENCE: evidence, Tier.LONG_TERM: None},
                        grace_days=draw(st.integers(0, 40)), floor_days=floor, allow_below_floor=allow)
    assert not [x for x in validate_policy(p) if x.severity is Severity.ERROR]
    return p


case_tiers = st.builds(CaseTier, case=st.sampled_from(["A", "B"]), tier=st.sampled_from(list(Tier)),
                       reason=st.just("dispute:complaint"))
TIERS = st.sampled_from([Tier.STANDARD, Tier.STANDARD, Tier.STANDARD, Tier.EVIDENCE, Tier.LONG_TERM])
JITTER = st.sampled_from([0, 0, -1, 1, -60, 60, -1440, 1440])  # minutes around an edge


def edges(p: RetentionPolicy) -> list[int]:
    """Day offsets from the clock start at which something changes under ``p``."""
    period = p.tiers[Tier.STANDARD] or 730
    evidence = p.tiers[Tier.EVIDENCE] or period + 3000
    g = p.grace_days
    return sorted({0, 365, 729, 730, 731, period - 1, period, period + 1, period + g, period + g + 1,
                   period + 2 * g, period + 400, 2 * period, evidence, evidence + g, evidence + g + 5})


def near(start: datetime, p: RetentionPolicy) -> st.SearchStrategy[datetime]:
    """An instant at one of the edges of ``p`` for a clock that started at ``start``."""
    return st.builds(lambda d, m: start + d * DAY + m * MINUTE, st.sampled_from(edges(p)), JITTER)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[RecordingState, RetentionPolicy, datetime]:
    """Any state a catalog could hold and any ``now``, weighted towards the edges of the rules."""
    p = draw(policies())
    ingested = draw(moments(4))
    end = draw(st.one_of(st.none(), st.builds(lambda d: ingested + d * MINUTE,
                                              st.integers(-30 * 24 * 60, 3 * 24 * 60))))
    start = max(ingested, end or ingested)
    instant = st.one_of(moments(), near(start, p), near(start, p))
    holds = st.builds(Hold, id=st.integers(1, 9), reason=st.just("court order"), owner=st.just("legal"),
                      until=st.one_of(st.none(), st.dates(date(2022, 1, 1), date(2035, 1, 1))),
                      released_at=st.one_of(st.none(), instant, instant))
    no_holds: st.SearchStrategy[list[Hold]] = st.just([])
    no_cases: st.SearchStrategy[list[CaseTier]] = st.just([])
    r = RecordingState(
        id=1, tier=draw(TIERS), tier_reason="dispute:other", recording_end=end, ingested_at=ingested,
        holds=tuple(draw(st.one_of(no_holds, no_holds, st.lists(holds, max_size=2)))),
        due_since=draw(st.one_of(st.none(), instant)),
        fixity_ok=draw(st.sampled_from([True, True, None, False])),
        case_tiers=tuple(draw(st.one_of(no_cases, no_cases, st.lists(case_tiers, max_size=2)))),
    )
    after_due = [] if r.due_since is None else [
        st.builds(lambda m: r.due_since + p.grace_days * DAY + m * MINUTE, JITTER)]  # type: ignore[operator]
    return r, p, draw(st.one_of(moments(), near(start, p), *after_due))


def states() -> st.SearchStrategy[RecordingState]:
    return scenarios().map(lambda s: s[0])


# --- the oracle ------------------------------------------------------------------------------------
def two_years_after(moment: datetime) -> datetime:
    utc = moment.astimezone(UTC)
    if (utc.month, utc.day) == (2, 29):
        return utc.replace(year=utc.year + 2, month=3, day=1)
    return utc.replace(year=utc.year + 2)


def forbidden_to_delete(r: RecordingState, p: RetentionPolicy, now: datetime) -> str | None:
    """Why R2 forbids deleting ``r`` at ``now``, or None."""
    if any(h.released_at is None or h.released_at > now for h in r.holds):
        return "held"
    tiers = {r.tier} | {c.tier for c in r.case_tiers}
    if Tier.LONG_TERM in tiers:
        return "long_term"
    if r.fixity_ok is not True:
        return "fixity not ok"
    start = max(r.ingested_at, r.recording_end or r.ingested_at)
    for tier in tiers:
        days = p.tiers[tier]
        if days is None:
            return f"{tier} is permanent"
        if now < start + days * DAY:
            return f"inside the {tier} period"
    if not p.allow_below_floor and (now < two_years_after(start) or now < start + p.floor_days * DAY):
        return "inside the 2-year floor"
    return None


@SETTINGS
@given(scenarios())
def test_no_state_is_ever_deleted_when_r2_forbids_it(
    scenario: tuple[RecordingState, RetentionPolicy, datetime],
) -> None:
    r, p, now = scenario
    d = decide(r, p, now)
    event(f"{d.kind} {d.why}")
    if d.kind is Kind.DELETE:
        assert forbidden_to_delete(r, p, now) is None
        assert r.due_since is not None and r.due_since + p.grace_days * DAY <= now
        assert all(r.due_since >= h.released_at for h in r.holds if h.released_at is not None)


@SETTINGS
@given(scenarios(), st.one_of(st.integers(0, 60 * 24 * 60), st.integers(0, 12 * YEAR_MINUTES)))
def test_a_later_now_never_moves_a_recording_back_from_deletion(
    scenario: tuple[RecordingState, RetentionPolicy, datetime], later: int,
) -> None:
    r, p, now = scenario
    first, second = decide(r, p, now), decide(r, p, now + later * MINUTE)
    event(f"{first.kind} -> {second.kind}")
    assert stage(first) <= stage(second)
    if first.kind is Kind.DELETE:
        assert second.kind is Kind.DELETE


# --- histories: a caller that sweeps now and then while people hold, release, re-tier ------------
SWEEP = st.tuples(st.just("sweep"))
actions = st.one_of(
    SWEEP, SWEEP, SWEEP, SWEEP, SWEEP,
    st.tuples(st.just("hold"), st.one_of(st.none(), st.dates(date(2022, 1, 1), date(2035, 1, 1)))),
    st.tuples(st.just("release"), st.integers(0, 3)), st.tuples(st.just("release"), st.integers(0, 3)),
    st.tuples(st.just("fixity"), st.sampled_from([True, True, None, False])),
    st.tuples(st.just("tier"), TIERS),
    st.tuples(st.just("case"), TIERS),
    st.tuples(st.just("uncase")),
)
GAP_DAYS = st.sampled_from([0, 1, 3, 7, 30, 365, 730, 800])
gaps = st.builds(lambda d, m: max(0, d * 24 * 60 + m), GAP_DAYS, JITTER)
steps = st.lists(st.tuples(gaps, actions), min_size=6, max_size=40)


@SETTINGS
@given(states(), policies(), steps)
def test_no_history_deletes_what_must_be_kept_and_deletion_is_final(
    start: RecordingState, p: RetentionPolicy, history: list[tuple[int, tuple[object, ...]]],
) -> None:
    r = replace(start, holds=(), due_since=None, case_tiers=())
    now = r.ingested_at.astimezone(UTC)
    releases: list[datetime] = []
    last_due: datetime | None = None
    for minutes, action in [*history, (0, ("sweep",))]:
        now += minutes * MINUTE
        kind = action[0]
        if kind == "hold":
            assert isinstance(action[1], date | None)
            r = replace(r, holds=(*r.holds, Hold(len(r.holds) + 1, "court order", "legal", action[1])))
        elif kind == "release":
            active = [h for h in r.holds if h.released_at is None]
            if active:
                gone = active[int(str(action[1])) % len(active)]
                r = replace(r, holds=tuple(replace(h, released_at=now) if h == gone else h for h in r.holds))
                releases.append(now)
        elif kind == "fixity":
            r = replace(r, fixity_ok=action[1])  # type: ignore[arg-type]
        elif kind == "tier":
            r = replace(r, tier=action[1])  # type: ignore[arg-type]
        elif kind == "case":
            r = replace(r, case_tiers=(*r.case_tiers, CaseTier("A", action[1], "dispute:petition")))  # type: ignore[arg-type]
        elif kind == "uncase":
            r = replace(r, case_tiers=r.case_tiers[:-1])
        else:
            d = decide(r, p, now)
            event(f"history sweep: {d.kind}")
            if r.deleted:
                assert d.kind is Kind.GONE
                continue
            if d.kind is Kind.DELETE:
                event("deleted in history")
                assert forbidden_to_delete(r, p, now) is None
                # found due by a sweep at least a grace period ago, and not kept since
                assert last_due is not None and last_due == r.due_since
                assert last_due + p.grace_days * DAY <= now
                assert all(t <= last_due for t in releases)
                r = replace(r, deleted=True)
                continue
            if d.kind is Kind.DUE:
                last_due = now
            elif d.due_since is None:
                last_due = None
            r = replace(r, due_since=d.due_since)


@SETTINGS
@given(states(), policies())
def test_an_unheld_verified_standard_recording_is_deleted_exactly_when_announced(
    start: RecordingState, p: RetentionPolicy,
) -> None:
    """Liveness: a sweep at the end of the period and one a grace later delete it, not earlier.

    ``deletable_at`` of the decision inside the period is the instant the deletion happens.
    """
    r = replace(start, tier=Tier.STANDARD, holds=(), case_tiers=(), fixity_ok=True, due_since=None)
    inside = decide(r, p, r.clock_start - TICK)
    assert inside.kind is Kind.KEEP
    if p.tiers[Tier.STANDARD] is None:
        assert inside.deletable_at is None and decide(r, p, r.clock_start + 100 * 365 * DAY).kind is Kind.KEEP
        return
    assert inside.deletable_at is not None and inside.expires_at is not None
    expiry, deletable = inside.expires_at, inside.deletable_at
    assert decide(r, p, expiry - TICK).kind is Kind.KEEP
    due = decide(r, p, expiry)
    assert (due.kind, due.due_since, due.deletable_at) == (Kind.DUE, expiry, deletable)
    r = replace(r, due_since=due.due_since)
    if p.grace_days:
        assert decide(r, p, deletable - TICK).kind is Kind.IN_GRACE
    assert decide(r, p, deletable).kind is Kind.DELETE
