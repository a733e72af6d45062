"""Catalog tables of the analysis part (they share Base with catalog.models; Alembic sees both).

Nothing here is ever deleted (R4: an unexplained gap must stay visible). Re-analysing a recording
adds a new ``AnalysisRun`` version with its findings and marks the previous version's rows
``current = False``; an explanation is keyed by the finding's fingerprint, so it stays with the
finding in every later version that finds the same thing at the same place.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bodycam_ingest.catalog.models import Base, StationScoped, UTCDateTime

__all__ = ["AnalysisRun", "Base", "ContentFingerprintRow", "DeviceProfileRow", "ExplanationRow",
           "FindingRow"]


class DeviceProfileRow(Base):
    """What a device normally writes, as learned or configured; the newest row per device is the
    one in force (older rows stay: runs name the profile they were judged by)."""

    __tablename__ = "device_profiles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device: Mapped[str] = mapped_column(String(255), index=True)
    profile: Mapped[str] = mapped_column(Text)  # JSON of analysis.profiles.ProfileFields
    learned_from: Mapped[str] = mapped_column(Text)  # JSON list of recording ids ([] for config)
    source: Mapped[str] = mapped_column(String(16))  # learned | config
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AnalysisRun(StationScoped, Base):
    """One analysis of one recording; a clean verdict is a run with no findings."""

    __tablename__ = "analysis_runs"
    __table_args__ = (UniqueConstraint("recording_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    current: Mapped[bool] = mapped_column(Boolean, index=True)
    analyzed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(16))  # dock | analyze
    dock_id: Mapped[int | None] = mapped_column(ForeignKey("docks.id"))  # the session's dock
    device: Mapped[str] = mapped_column(String(255), index=True)
    reader: Mapped[str | None] = mapped_column(String(16))  # index | ffprobe | None: unreadable
    problem: Mapped[str | None] = mapped_column(Text)
    media_duration_s: Mapped[float | None] = mapped_column(Float)
    profile_id: Mapped[int | None] = mapped_column(ForeignKey("device_profiles.id"))
    thresholds: Mapped[str] = mapped_column(Text)  # JSON: what it was judged by
    engine: Mapped[str] = mapped_column(String(16))  # analysis code version
    critical: Mapped[int] = mapped_column(Integer)
    warning: Mapped[int] = mapped_column(Integer)


class FindingRow(StationScoped, Base):
    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    analysis_id: Mapped[int] = mapped_column(ForeignKey("analysis_runs.id"), index=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    offset_s: Mapped[float | None] = mapped_column(Float)
    measured: Mapped[str | None] = mapped_column(Text)  # JSON: a number or a text
    threshold: Mapped[str | None] = mapped_column(Text)  # JSON
    message: Mapped[str] = mapped_column(Text)
    stream: Mapped[int | None] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(255), index=True)
    analysis_version: Mapped[int] = mapped_column(Integer)
    analyzed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    current: Mapped[bool] = mapped_column(Boolean, index=True)


class ExplanationRow(StationScoped, Base):
    """An officer's or custodian's justification (R4: weather, device fault...). It never removes
    the finding; it applies to every version of the finding with the same fingerprint."""

    __tablename__ = "explanations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(255), index=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"))  # the row explained
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    explained_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContentFingerprintRow(Base):
    """One telling GOP of a recording, as the digest of its frame sizes (``analysis.reuse``):
    a recording's rows are its fingerprint, and a re-used picture is one indexed lookup away.
    Written once per recording (the stored file never changes)."""

    __tablename__ = "content_fingerprints"
    __table_args__ = (UniqueConstraint("recording_id", "digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    digest: Mapped[str] = mapped_column(String(16), index=True)
