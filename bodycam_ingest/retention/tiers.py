"""Retention tiers, their order, and the reasons a tier is set with (R2, issue 5).

Pure: names and comparisons only, so the CLI (``bodycam retain``), the catalog and the decision
core agree on one vocabulary.

Tier order (weakest to strongest): ``standard`` < ``evidence`` < ``long_term``
-------------------------------------------------------------------------------
* ``standard``: every recording; at least the 2-year floor (000#37).
* ``evidence``: used as evidence in a case, kept with the case archive for the archive's period
  (003#27); default 30 years, configurable to permanent.
* ``long_term``: one of the four dispute grounds of 000#38; kept until an approved decision
  releases it, with no expiry at all. It is the strongest because nothing but a person with
  authority ends it, whereas an evidence period ends by itself.

"Strongest" means "keeps longest". The policy validation (``policy.validate_policy``) rejects a
configuration whose periods do not follow this order, so the strongest tier always has the latest
expiry and the effective tier of a recording (its own and its cases', see ``strongest``) can never
shorten what any one of them asks for. Moving down this order (including releasing ``long_term``)
shortens retention, so it needs an approver; moving up needs only a reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType


class Tier(StrEnum):
    STANDARD = "standard"
    EVIDENCE = "evidence"
    LONG_TERM = "long_term"


TIER_ORDER: tuple[Tier, ...] = (Tier.STANDARD, Tier.EVIDENCE, Tier.LONG_TERM)
_RANK: Mapping[Tier, int] = MappingProxyType({tier: rank for rank, tier in enumerate(TIER_ORDER)})


class DisputeGround(StrEnum):
    """The four grounds of 000#38 for long-term retention."""

    OBJECTION = "objection"  # (1) the party objects, complains or petitions
    OBSTRUCTION = "obstruction"  # (2) evades, refuses, obstructs; abuses, insults, assaults officers
    MASS_INCIDENT = "mass_incident"  # (3) a mass incident or an emergency
    OTHER = "other"  # (4) other cases that need it: a note must say why


# Every spelling the CLI accepts (``--reason dispute:complaint``) and the ground it records. The
# aliases are the words of 000#38, so an officer can type what happened rather than learn a code.
LONG_TERM_REASONS: Mapping[str, DisputeGround] = MappingProxyType({
    "dispute:objection": DisputeGround.OBJECTION,
    "dispute:complaint": DisputeGround.OBJECTION,
    "dispute:petition": DisputeGround.OBJECTION,
    "dispute:obstruction": DisputeGround.OBSTRUCTION,
    "dispute:assault": DisputeGround.OBSTRUCTION,
    "dispute:mass_incident": DisputeGround.MASS_INCIDENT,
    "dispute:emergency": DisputeGround.MASS_INCIDENT,
    "dispute:other": DisputeGround.OTHER,
})


def parse_tier(text: str) -> Tier:
    """The tier named ``text``; ValueError naming the allowed names otherwise."""
    try:
        return Tier(text)
    except ValueError:
        allowed = ", ".join(t.value for t in TIER_ORDER)
        raise ValueError(f"unknown retention tier {text!r}; use one of {allowed}") from None


def rank(tier: Tier) -> int:
    """Position in ``TIER_ORDER``: a higher rank keeps at least as long."""
    return _RANK[tier]


def strongest(tiers: Iterable[Tier]) -> Tier:
    """The strongest of ``tiers`` (``standard`` when there are none: every recording has it)."""
    return max(tiers, key=rank, default=Tier.STANDARD)


def tier_change_requires_approval(old_tier: Tier, new_tier: Tier) -> bool:
    """True when going from ``old_tier`` to ``new_tier`` shortens retention (an approver is needed).

    Raising a tier, or setting the same one again (a new reason), needs only a reason.
    """
    return rank(new_tier) < rank(old_tier)


def tier_reason_problem(tier: Tier, reason: str | None, note: str | None = None) -> str | None:
    """Why ``reason`` cannot be recorded with ``tier``, or None when it can.

    * ``long_term`` needs one of ``LONG_TERM_REASONS`` (R2: "the reason is recorded with the
      tier"); ``dispute:other`` also needs a note saying why, because "other cases that need it"
      says nothing by itself.
    * ``evidence`` needs a non-empty reason (the case or the request it serves).
    * ``standard`` needs none: it is what every recording has.
    """
    text = (reason or "").strip()
    if tier is Tier.LONG_TERM:
        ground = LONG_TERM_REASONS.get(text)
        if ground is None:
            allowed = ", ".join(LONG_TERM_REASONS)
            return f"long_term needs one of the dispute reasons of R2 ({allowed}), not {text!r}"
        if ground is DisputeGround.OTHER and not (note or "").strip():
            return "dispute:other needs a note saying why the recording must be kept long-term"
        return None
    if tier is Tier.EVIDENCE and not text:
        return "evidence needs a reason naming the case or request the recording is evidence for"
    return None


def dispute_ground(reason: str | None) -> DisputeGround | None:
    """The 000#38 ground a long-term reason records, or None for any other text."""
    return LONG_TERM_REASONS.get((reason or "").strip())
