"""``[analysis]`` section of the station config (continuity thresholds, device profiles)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AnalysisConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
