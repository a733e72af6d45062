"""``[analysis]`` section of the station config (continuity thresholds, device profiles).

Each agency adopts its own variant of the rules, so every number the analysis judges by is a key
here; the defaults are ``model.Thresholds``' own (read from it, so the two can never drift apart).
A device's profile (what its firmware writes) is learned from its first clean recordings unless
it is written here, under the camera id its file names carry.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bodycam_ingest.analysis.model import DeviceProfile, Thresholds
from bodycam_ingest.analysis.profiles import ProfileFields, profile_from_fields

_D = Thresholds()


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThresholdsConfig(_Section):
    """Mirrors ``model.Thresholds`` key for key (FINDINGS.md says what each one judges)."""

    gap_frames: float = Field(default=_D.gap_frames, gt=0)
    rate_change_frames: int = Field(default=_D.rate_change_frames, ge=2)
    frame_tolerance: float = Field(default=_D.frame_tolerance, gt=0)
    gop_tolerance_frames: int = Field(default=_D.gop_tolerance_frames, ge=0)
    min_gop_intervals: int = Field(default=_D.min_gop_intervals, ge=1)
    av_drift_s: float = Field(default=_D.av_drift_s, gt=0)
    declared_tolerance_s: float = Field(default=_D.declared_tolerance_s, gt=0)
    wallclock_tolerance_s: float = Field(default=_D.wallclock_tolerance_s, gt=0)
    time_tolerance_s: float = Field(default=_D.time_tolerance_s, gt=0)
    seam_tolerance_s: float = Field(default=_D.seam_tolerance_s, gt=0)
    start_time_resolution_s: float = Field(default=_D.start_time_resolution_s, ge=0)
    session_break_s: float = Field(default=_D.session_break_s, gt=0)
    clock_tolerance_s: float = Field(default=_D.clock_tolerance_s, gt=0)
    earliest_plausible: date | datetime = _D.earliest_plausible
    audio_join_tolerance_s: float = Field(default=_D.audio_join_tolerance_s, gt=0)
    edit_tolerance_s: float = Field(default=_D.edit_tolerance_s, gt=0)
    overlay_tolerance_s: float = Field(default=_D.overlay_tolerance_s, gt=0)
    scene_change_ratio: float = Field(default=_D.scene_change_ratio, gt=0)
    reuse_min_gops: int = Field(default=_D.reuse_min_gops, ge=1)
    seam_keyframe_ratio: float = Field(default=_D.seam_keyframe_ratio, ge=0)

    def to_thresholds(self) -> Thresholds:
        values: dict[str, Any] = self.model_dump()
        values["earliest_plausible"] = _aware(self.earliest_plausible)
        return Thresholds(**values)

    def as_json(self) -> dict[str, Any]:
        """What a stored analysis run records it was judged by."""
        data: dict[str, Any] = self.model_dump()
        data["earliest_plausible"] = _aware(self.earliest_plausible).isoformat()
        return data


def _aware(value: date | datetime) -> datetime:
    """A TOML date (2015-01-01) or datetime; a naive one is taken as UTC."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0), tzinfo=UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class LearningConfig(_Section):
    enabled: bool = True
    recordings: int = Field(default=3, ge=1, le=100)
    """A device's profile is learned from its first this many clean recordings."""


class ProfileConfig(ProfileFields):
    """A device profile written by hand; same keys as ``bodycam devices show`` prints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="after")
    def _parses(self) -> ProfileConfig:
        profile_from_fields(self)  # raises ValueError naming the bad value
        return self


class PicturesConfig(_Section):
    """Decoding a few frames per recording to read the burned-in overlay (``analysis.seams``):
    only for devices whose profile says where the overlay is (``overlay_crop``)."""

    enabled: bool = True
    engine: Literal["auto", "in-process", "programs"] = "auto"
    """``auto``: in-process (PyAV and tesserocr) when both are installed, else the programs."""
    ffmpeg: str = "ffmpeg"
    tesseract: str = "tesseract"
    timeout_s: float = Field(default=30.0, gt=0)
    """Each ffmpeg or tesseract run that takes longer is abandoned (no reading, no finding)."""


class AnalysisConfig(_Section):
    thresholds: ThresholdsConfig = ThresholdsConfig()
    learning: LearningConfig = LearningConfig()
    profiles: dict[str, ProfileConfig] = Field(default_factory=dict)
    """Per device (the camera id in its file names, else its device key): overrides learning."""
    ffprobe: str = "ffprobe"
    ffprobe_timeout_s: float = Field(default=600.0, gt=0)
    pictures: PicturesConfig = PicturesConfig()

    @model_validator(mode="after")
    def _thresholds_valid(self) -> AnalysisConfig:
        self.thresholds.to_thresholds()  # Thresholds' own cross-checks, as a config error
        return self

    def profile_for(self, device: str) -> DeviceProfile | None:
        """The configured profile of ``device``, if any."""
        fields = self.profiles.get(device)
        return None if fields is None else profile_from_fields(fields)
