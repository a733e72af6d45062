"""Catalog tables of retention (issue 5): tiers, holds, runs, tombstones, replicas, fixity, jobs.

They share ``Base`` with ``catalog.models``; Alembic migration 0004 creates them. What never
changes once written: tier changes, fixity checks, tombstones, deletion manifests, replicas and job
runs are appended; a hold is released by filling its ``released_*`` columns, never deleted; a
case's tier row is replaced only together with a ``TierChange`` row saying who did it and why.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from bodycam_ingest.catalog.models import Base, StationScoped, UTCDateTime

__all__ = ["Archive", "Base", "CaseTierRow", "DeletionManifestRow", "FixityCheck", "HoldRow",
           "JobRun", "PolicyApproval", "Replica", "RetentionRun", "SchedulerJob", "TierChange",
           "Tombstone"]


class TierChange(StationScoped, Base):
    """One tier decision, on a recording or on a case (exactly one of the two is set)."""

    __tablename__ = "retention_tier_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[int | None] = mapped_column(ForeignKey("recordings.id"), index=True)
    case_number: Mapped[str | None] = mapped_column(String(128), index=True)
    old_tier: Mapped[str | None] = mapped_column(String(16))  # None: a case had no tier before
    new_tier: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)  # e.g. "dispute:complaint"
    note: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))  # required when lowering
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class CaseTierRow(StationScoped, Base):
    """The tier currently set on a case (案号); it applies to every recording labelled into it."""

    __tablename__ = "retention_case_tiers"
    __table_args__ = (UniqueConstraint("station_id", "case_number",
                                       name="uq_retention_case_tiers_station_case"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_number: Mapped[str] = mapped_column(String(128))
    tier: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    change_id: Mapped[int] = mapped_column(ForeignKey("retention_tier_changes.id"))


class HoldRow(StationScoped, Base):
    """A legal hold on a recording or on a case (exactly one of the two is set)."""

    __tablename__ = "retention_holds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[int | None] = mapped_column(ForeignKey("recordings.id"), index=True)
    case_number: Mapped[str | None] = mapped_column(String(128), index=True)
    reason: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(128))
    until: Mapped[date | None] = mapped_column(Date)  # review date; releases nothing by itself
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    released_by: Mapped[str | None] = mapped_column(String(64))
    release_reason: Mapped[str | None] = mapped_column(Text)
    release_approved_by: Mapped[str | None] = mapped_column(String(64))


class PolicyApproval(StationScoped, Base):
    """The retention policy in force from ``at``; the newest row is current.

    A configured policy that keeps at least as long as the current one is recorded without an
    approver; one that shortens anything is recorded only by an approved plan.
    """

    __tablename__ = "retention_policy_approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_json: Mapped[str] = mapped_column(Text)  # canonical JSON of the RetentionPolicy
    policy_digest: Mapped[str] = mapped_column(String(64))
    plan_digest: Mapped[str | None] = mapped_column(String(64))  # the plan that was approved
    actor: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class RetentionRun(StationScoped, Base):
    """One retention sweep (``retention run``, by hand or scheduled)."""

    __tablename__ = "retention_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(16))  # cli | schedule
    policy_digest: Mapped[str] = mapped_column(String(64))
    examined: Mapped[int] = mapped_column(Integer, default=0)
    newly_due: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    kept_with_alert: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str | None] = mapped_column(String(16))  # ok | alerts | failed; None: running
    error: Mapped[str | None] = mapped_column(Text)


class DeletionManifestRow(StationScoped, Base):
    """The signed deletion manifest of one run that deleted something; chained like dock manifests."""

    __tablename__ = "retention_deletion_manifests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("retention_runs.id"), unique=True)
    file_name: Mapped[str] = mapped_column(String(255))  # in the manifest dir, without suffix
    digest: Mapped[str] = mapped_column(String(64))
    previous_digest: Mapped[str | None] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    entries: Mapped[int] = mapped_column(Integer)


class Tombstone(StationScoped, Base):
    """What remains of a deleted recording, forever."""

    __tablename__ = "retention_tombstones"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    camera_path: Mapped[str] = mapped_column(Text)
    device_key: Mapped[str | None] = mapped_column(String(255))
    officer: Mapped[str | None] = mapped_column(String(64))
    case_number: Mapped[str | None] = mapped_column(String(128))
    recording_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    clock_start: Mapped[datetime] = mapped_column(UTCDateTime)
    expired_at: Mapped[datetime] = mapped_column(UTCDateTime)  # end of its retention period
    due_since: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    tier: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str] = mapped_column(Text)  # the decision's rule text
    policy_digest: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int] = mapped_column(ForeignKey("retention_runs.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))  # who ran the job
    manifest_id: Mapped[int | None] = mapped_column(ForeignKey("retention_deletion_manifests.id"))


class Archive(StationScoped, Base):
    """One ``bodycam archive`` onto a second medium (a disc image or a dedicated disk)."""

    __tablename__ = "retention_archives"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target: Mapped[str] = mapped_column(Text)  # the directory written
    medium_label: Mapped[str | None] = mapped_column(String(128))
    tier: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    manifest_digest: Mapped[str | None] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(16))
    entries: Mapped[int] = mapped_column(Integer, default=0)


class Replica(StationScoped, Base):
    """A verified copy of a recording on a second medium."""

    __tablename__ = "retention_replicas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    archive_id: Mapped[int] = mapped_column(ForeignKey("retention_archives.id"), index=True)
    relative_path: Mapped[str] = mapped_column(Text)  # inside the archive's target
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    copied_at: Mapped[datetime] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: not verified


class FixityCheck(StationScoped, Base):
    """One re-hash of a stored copy (scrub, verify, audit or a retention run before deleting)."""

    __tablename__ = "fixity_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ok: Mapped[bool] = mapped_column(Boolean)
    sha256_seen: Mapped[str | None] = mapped_column(String(64))  # None: file missing/unreadable
    error: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # scrub | verify | audit | retention
    actor: Mapped[str] = mapped_column(String(64))


class JobRun(StationScoped, Base):
    """One run of a station job (retention sweep, fixity scrub, deadline check, catalog backup)."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_started", "job", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(32))
    trigger: Mapped[str] = mapped_column(String(16))  # schedule | missed | cli
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))  # ok | alert | failed; None: running
    summary: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))


class SchedulerJob(StationScoped, Base):
    """APScheduler 3's SQLAlchemyJobStore table (its exact layout), created by Alembic so that
    the scheduler never issues DDL of its own; the daemon passes ``tablename="scheduler_jobs"``."""

    __tablename__ = "scheduler_jobs"

    station_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # each its own jobs
    id: Mapped[str] = mapped_column(String(191), primary_key=True)
    next_run_time: Mapped[float | None] = mapped_column(Float(25), index=True)
    job_state: Mapped[bytes] = mapped_column(LargeBinary)
