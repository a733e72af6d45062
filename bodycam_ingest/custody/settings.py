"""``[custody]`` section of the station config (keys, roles, matters, deadlines).

Every number R1 gives is a default here, configurable because each agency adopts its own variant;
the defaults meet the strictest seed (24 h export, 2 working days labelling).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Matter(BaseModel):
    """One enforcement matter (执法事项) a label may name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=48, pattern=r"^[a-z0-9_-]+$")
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


DEFAULT_MATTERS: tuple[Matter, ...] = (
    Matter(id="on-site-inspection", zh="现场检查", en="on-site inspection"),
    Matter(id="investigation", zh="调查取证", en="investigation and evidence collection"),
    Matter(id="hearing", zh="听证", en="hearing"),
    Matter(id="evidence-preservation", zh="证据保全", en="evidence preservation"),
    Matter(id="service-of-documents", zh="文书送达", en="service of documents"),
)

# Keys of earlier versions, refused with what replaced them (an upgrade must not be silent).
REMOVED_KEYS = {
    "roles": "roles are held by station accounts now: bodycam users add|roles (README: Accounts "
             "and roles)",
    "act_for_others": "acting for another person is a four-eyes request now: bodycam requests "
                      "act-for",
}


class CustodyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Station signing key directory (station.key 0600, station.pub, keyring/). Default <state>/keys
    key_dir: Path | None = None
    # Signed dock manifests (.json, .sig, .sha256). Default <state>/manifests
    manifest_dir: Path | None = None
    # The daemon signs a checkpoint of the custody log this often (when the log grew).
    checkpoint_interval_s: float = Field(default=300.0, gt=0)
    matters: tuple[Matter, ...] = DEFAULT_MATTERS
    export_hours: int = Field(default=24, ge=1)
    labelling_working_days: int = Field(default=2, ge=1)
    export_warn_hours: float = Field(default=4.0, ge=0)
    labelling_warn_hours: float = Field(default=24.0, ge=0)
    # "cn": China's public holidays and make-up working days (chinesecalendar); "none": only
    # the dates below. The dates below override the official ones.
    holiday_calendar: Literal["cn", "none"] = "cn"
    holidays: tuple[date, ...] = ()
    makeup_workdays: tuple[date, ...] = ()
    # audit and verify: hashing threads (0: one per core)
    hash_workers: int = Field(default=0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _removed(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key, instead in REMOVED_KEYS.items():
                if key in data:
                    raise ValueError(f"custody.{key} is no longer used: {instead}; remove it")
        return data

    @field_validator("key_dir", "manifest_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_absolute():
            raise ValueError(f"{str(value)!r} must be an absolute path")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CustodyConfig:
        ids = [m.id for m in self.matters]
        if len(set(ids)) != len(ids):
            raise ValueError(f"matter ids must be unique, got {ids}")
        both = sorted(set(self.holidays) & set(self.makeup_workdays))
        if both:
            raise ValueError(f"{both[0].isoformat()} is both a holiday and a make-up working day")
        return self

    def key_path(self, state_dir: Path) -> Path:
        return self.key_dir or state_dir / "keys"

    def manifest_path(self, state_dir: Path) -> Path:
        return self.manifest_dir or state_dir / "manifests"

    def matter(self, ident: str) -> Matter | None:
        for matter in self.matters:
            if ident in (matter.id, matter.zh, matter.en):
                return matter
        return None

