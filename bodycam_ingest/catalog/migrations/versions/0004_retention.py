"""retention: tiers, clock start, holds, policy approvals, runs, tombstones, replicas, fixity, jobs

Existing recordings get the ``standard`` tier and a clock start computed as the ORM does (the later
of start + duration and the ingest), so a station that upgrades keeps every period it had.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _id() -> sa.Column[int]:
    return sa.Column("id", sa.Integer(), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("tier", sa.String(length=16), nullable=False,
                                   server_default="standard"))
        batch.add_column(sa.Column("tier_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("clock_start", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("due_since", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("deleted_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("fixity_ok", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("fixity_checked_at", sa.DateTime(), nullable=True))
    _backfill_clock_start()
    op.create_index("ix_recordings_retention", "recordings", ["deleted_at", "tier", "clock_start"])
    op.create_index("ix_recordings_due_since", "recordings", ["due_since"])
    op.create_index("ix_recordings_fixity_checked_at", "recordings", ["fixity_checked_at"])

    op.create_table(
        "retention_tier_changes", _id(),
        sa.Column("recording_id", sa.Integer(), nullable=True),
        sa.Column("case_number", sa.String(length=128), nullable=True),
        sa.Column("old_tier", sa.String(length=16), nullable=True),
        sa.Column("new_tier", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_retention_tier_changes_recording_id", "retention_tier_changes", ["recording_id"])
    op.create_index("ix_retention_tier_changes_case_number", "retention_tier_changes", ["case_number"])
    op.create_table(
        "retention_case_tiers", _id(),
        sa.Column("case_number", sa.String(length=128), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["change_id"], ["retention_tier_changes.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_number"),
    )
    op.create_table(
        "retention_holds", _id(),
        sa.Column("recording_id", sa.Integer(), nullable=True),
        sa.Column("case_number", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=False),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("released_at", sa.DateTime(), nullable=True),
        sa.Column("released_by", sa.String(length=64), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.Column("release_approved_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_retention_holds_recording_id", "retention_holds", ["recording_id"])
    op.create_index("ix_retention_holds_case_number", "retention_holds", ["case_number"])
    op.create_index("ix_retention_holds_released_at", "retention_holds", ["released_at"])
    op.create_table(
        "retention_policy_approvals", _id(),
        sa.Column("policy_json", sa.Text(), nullable=False),
        sa.Column("policy_digest", sa.String(length=64), nullable=False),
        sa.Column("plan_digest", sa.String(length=64), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "retention_runs", _id(),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("policy_digest", sa.String(length=64), nullable=False),
        sa.Column("examined", sa.Integer(), nullable=False),
        sa.Column("newly_due", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Integer(), nullable=False),
        sa.Column("kept_with_alert", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "retention_deletion_manifests", _id(),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("previous_digest", sa.String(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signed_at", sa.DateTime(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["retention_runs.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id"),
    )
    op.create_table(
        "retention_tombstones", _id(),
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("camera_path", sa.Text(), nullable=False),
        sa.Column("device_key", sa.String(length=255), nullable=True),
        sa.Column("officer", sa.String(length=64), nullable=True),
        sa.Column("case_number", sa.String(length=128), nullable=True),
        sa.Column("recording_start", sa.DateTime(), nullable=True),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.Column("clock_start", sa.DateTime(), nullable=False),
        sa.Column("expired_at", sa.DateTime(), nullable=False),
        sa.Column("due_since", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("policy_digest", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("manifest_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"]),
        sa.ForeignKeyConstraint(["run_id"], ["retention_runs.id"]),
        sa.ForeignKeyConstraint(["manifest_id"], ["retention_deletion_manifests.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recording_id"),
    )
    op.create_index("ix_retention_tombstones_deleted_at", "retention_tombstones", ["deleted_at"])
    op.create_index("ix_retention_tombstones_run_id", "retention_tombstones", ["run_id"])
    op.create_table(
        "retention_archives", _id(),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("medium_label", sa.String(length=128), nullable=True),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("manifest_digest", sa.String(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=16), nullable=True),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "retention_replicas", _id(),
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("archive_id", sa.Integer(), nullable=False),
        sa.Column("relative_path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("copied_at", sa.DateTime(), nullable=False),
        sa.Column("verified_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"]),
        sa.ForeignKeyConstraint(["archive_id"], ["retention_archives.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_retention_replicas_recording_id", "retention_replicas", ["recording_id"])
    op.create_index("ix_retention_replicas_archive_id", "retention_replicas", ["archive_id"])
    op.create_table(
        "fixity_checks", _id(),
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("sha256_seen", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_fixity_checks_recording_id", "fixity_checks", ["recording_id"])
    op.create_table(
        "job_runs", _id(),
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_runs_job_started", "job_runs", ["job", "started_at"])
    op.create_table(
        "scheduler_jobs",
        sa.Column("id", sa.Unicode(length=191), nullable=False),
        sa.Column("next_run_time", sa.Float(precision=25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_scheduler_jobs_next_run_time", "scheduler_jobs", ["next_run_time"])


def _backfill_clock_start() -> None:
    """clock_start = max(ingested_at, start_utc + duration_s) for every existing recording."""
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, ingested_at, start_utc, duration_s FROM recordings")).all()
    for ident, ingested, start, duration in rows:
        ingested_at = _naive_utc(ingested)
        clock = ingested_at
        if start is not None and duration is not None:
            clock = max(ingested_at, _naive_utc(start) + timedelta(seconds=float(duration)))
        bind.execute(sa.text("UPDATE recordings SET clock_start = :clock WHERE id = :id"),
                     {"clock": clock, "id": ident})


def _naive_utc(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def downgrade() -> None:
    for table in ("scheduler_jobs", "job_runs", "fixity_checks", "retention_replicas",
                  "retention_archives", "retention_tombstones", "retention_deletion_manifests",
                  "retention_runs", "retention_policy_approvals", "retention_holds",
                  "retention_case_tiers", "retention_tier_changes"):
        op.drop_table(table)
    op.drop_index("ix_recordings_fixity_checked_at", "recordings")
    op.drop_index("ix_recordings_due_since", "recordings")
    op.drop_index("ix_recordings_retention", "recordings")
    with op.batch_alter_table("recordings") as batch:
        for column in ("fixity_checked_at", "fixity_ok", "deleted_at", "due_since", "clock_start",
                       "tier_reason", "tier"):
            batch.drop_column(column)
