"""``[retention]`` section of the station config: periods per tier, grace, floor (R2, issue 5).

Parsed by pydantic like every section; the checks that need the whole policy (floor, tier order)
are the pure core's (``policy.validate_policy``), so the config and the decision core can never
disagree about what is allowed. Its warnings (``allow_below_floor``, a zero grace) are returned
by ``RetentionConfig.warnings`` for the caller to print at every start.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bodycam_ingest.retention.policy import (
    DEFAULT_GRACE_DAYS,
    EVIDENCE_DEFAULT_DAYS,
    LEGAL_FLOOR_DAYS,
    RetentionPolicy,
    Severity,
    validate_policy,
)
from bodycam_ingest.retention.tiers import Tier

Days = int | Literal["permanent"]


def _days(value: Days) -> int | None:
    return None if value == "permanent" else int(value)


class RetentionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Days a standard recording is kept from its clock start (the later of its end and its
    # ingest); never below floor_days, nor below 2 calendar years, unless allow_below_floor.
    standard_days: Days = LEGAL_FLOOR_DAYS
    # Days a recording used as evidence is kept (default 30 years), or "permanent".
    evidence_days: Days = EVIDENCE_DEFAULT_DAYS
    # long_term has no period: it is kept until an approved decision lowers its tier.
    # Days a recording waits between "due" and deletion, in which it can still be rescued.
    grace_days: int = Field(default=DEFAULT_GRACE_DAYS, ge=0)
    floor_days: int = Field(default=LEGAL_FLOOR_DAYS, ge=0)
    # Allows periods below the 2-year floor of R2 (000#37); a warning is printed at every start.
    allow_below_floor: bool = False
    # How far ahead `bodycam retention plan` looks for recordings that become deletable.
    plan_horizon_days: int = Field(default=30, ge=0, le=3650)

    def policy(self) -> RetentionPolicy:
        return RetentionPolicy(
            tiers={Tier.STANDARD: _days(self.standard_days), Tier.EVIDENCE: _days(self.evidence_days),
                   Tier.LONG_TERM: None},
            grace_days=self.grace_days, floor_days=self.floor_days,
            allow_below_floor=self.allow_below_floor)

    def warnings(self) -> list[str]:
        """What must be printed at every start (the policy is usable but unusual)."""
        return [f"retention.{_key(p.key)}: {p.message}" for p in validate_policy(self.policy())
                if p.severity is Severity.WARNING]

    @model_validator(mode="after")
    def _valid_policy(self) -> RetentionConfig:
        errors = [f"{_key(p.key)}: {p.message}" for p in validate_policy(self.policy())
                  if p.severity is Severity.ERROR]
        if errors:
            raise ValueError("; ".join(errors))
        return self


def _key(policy_key: str) -> str:
    """The config key a policy problem is about ("tiers.standard" -> "standard_days")."""
    if policy_key.startswith("tiers."):
        return f"{policy_key.removeprefix('tiers.')}_days"
    return policy_key
