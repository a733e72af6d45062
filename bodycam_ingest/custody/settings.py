"""``[custody]`` section of the station config (keys, roles, matters, deadlines)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class CustodyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
