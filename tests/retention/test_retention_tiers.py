"""Tier order, approval for lowering a tier, and the reasons R2 asks to be recorded with a tier."""

from __future__ import annotations

import pytest

from bodycam_ingest.retention.tiers import (
    LONG_TERM_REASONS,
    TIER_ORDER,
    DisputeGround,
    Tier,
    dispute_ground,
    parse_tier,
    strongest,
    tier_change_requires_approval,
    tier_reason_problem,
)

S, E, L = Tier.STANDARD, Tier.EVIDENCE, Tier.LONG_TERM


def test_tier_order_is_standard_then_evidence_then_long_term() -> None:
    assert TIER_ORDER == (S, E, L)


@pytest.mark.parametrize(
    ("old", "new", "needs_approver"),
    [
        (S, S, False), (S, E, False), (S, L, False),
        (E, S, True), (E, E, False), (E, L, False),
        (L, S, True), (L, E, True), (L, L, False),
    ],
)
def test_only_lowering_a_tier_needs_an_approver(old: Tier, new: Tier, needs_approver: bool) -> None:
    assert tier_change_requires_approval(old, new) is needs_approver


def test_releasing_long_term_to_standard_needs_an_approver() -> None:
    assert tier_change_requires_approval(L, S)


@pytest.mark.parametrize(
    ("tiers", "expected"),
    [((), S), ((S,), S), ((S, E), E), ((E, S), E), ((S, L, E), L), ((L, S), L)],
)
def test_strongest_tier_wins_whatever_the_order(tiers: tuple[Tier, ...], expected: Tier) -> None:
    assert strongest(tiers) is expected


@pytest.mark.parametrize(
    ("reason", "ground"),
    [
        ("dispute:objection", DisputeGround.OBJECTION), ("dispute:complaint", DisputeGround.OBJECTION),
        ("dispute:petition", DisputeGround.OBJECTION), ("dispute:obstruction", DisputeGround.OBSTRUCTION),
        ("dispute:assault", DisputeGround.OBSTRUCTION),
        ("dispute:mass_incident", DisputeGround.MASS_INCIDENT),
        ("dispute:emergency", DisputeGround.MASS_INCIDENT), ("dispute:other", DisputeGround.OTHER),
    ],
)
def test_every_dispute_reason_of_r2_maps_to_its_ground(reason: str, ground: DisputeGround) -> None:
    assert dispute_ground(reason) is ground
    note = "party filed a reconsideration request" if ground is DisputeGround.OTHER else None
    assert tier_reason_problem(L, reason, note) is None


def test_the_four_grounds_of_000_38_are_all_reachable() -> None:
    assert set(LONG_TERM_REASONS.values()) == set(DisputeGround)


@pytest.mark.parametrize("reason", [None, "", "complaint", "dispute:", "dispute:unhappy", "case:2024-1"])
def test_long_term_without_a_dispute_reason_is_refused(reason: str | None) -> None:
    problem = tier_reason_problem(L, reason)
    assert problem is not None
    assert "dispute:complaint" in problem  # the message lists what is allowed


def test_dispute_other_needs_a_note_saying_why() -> None:
    assert tier_reason_problem(L, "dispute:other") is not None
    assert tier_reason_problem(L, "dispute:other", "   ") is not None
    assert tier_reason_problem(L, "dispute:other", "journalist request pending") is None


def test_evidence_needs_a_reason_and_standard_needs_none() -> None:
    assert tier_reason_problem(E, None) is not None
    assert tier_reason_problem(E, "case 人社监察(2024)17号") is None
    assert tier_reason_problem(S, None) is None


def test_unknown_tier_name_is_refused_with_the_allowed_names() -> None:
    assert parse_tier("long_term") is L
    with pytest.raises(ValueError, match="standard, evidence, long_term"):
        parse_tier("forever")
