"""initial catalog: devices, docks, transfers, recordings, sightings, events

Revision ID: 0001
Revises:
Create Date: 2026-11-22 03:10:54.613578
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("camera_rule", sa.String(length=64), nullable=True),
        sa.Column("usb_id", sa.String(length=9), nullable=True),
        sa.Column("serial", sa.String(length=128), nullable=True),
        sa.Column("fs_label", sa.String(length=64), nullable=True),
        sa.Column("fs_uuid", sa.String(length=64), nullable=True),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_table(
        "docks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("camera_rule", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("mount_method", sa.String(length=16), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("lock_token", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("files_total", sa.Integer(), nullable=False),
        sa.Column("files_done", sa.Integer(), nullable=False),
        sa.Column("files_skipped", sa.Integer(), nullable=False),
        sa.Column("files_rejected", sa.Integer(), nullable=False),
        sa.Column("files_failed", sa.Integer(), nullable=False),
        sa.Column("files_wiped", sa.Integer(), nullable=False),
        sa.Column("bytes_total", sa.BigInteger(), nullable=False),
        sa.Column("bytes_done", sa.BigInteger(), nullable=False),
        sa.Column("current_file", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lock_token"),
    )
    with op.batch_alter_table("docks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_docks_outcome"), ["outcome"], unique=False)

    op.create_table(
        "recordings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("store_path", sa.Text(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("first_dock_id", sa.Integer(), nullable=False),
        sa.Column("camera_path", sa.Text(), nullable=False),
        sa.Column("camera_mtime", sa.DateTime(), nullable=True),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.Column("name_pattern", sa.String(length=64), nullable=True),
        sa.Column("name_device", sa.String(length=64), nullable=True),
        sa.Column("name_officer", sa.String(length=64), nullable=True),
        sa.Column("name_start_local", sa.DateTime(), nullable=True),
        sa.Column("start_utc", sa.DateTime(), nullable=True),
        sa.Column("name_seq", sa.Integer(), nullable=True),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("probe_error", sa.Text(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("container", sa.String(length=64), nullable=True),
        sa.Column("video_codec", sa.String(length=32), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("frame_rate", sa.String(length=16), nullable=True),
        sa.Column("audio_codec", sa.String(length=32), nullable=True),
        sa.Column("sample_rate", sa.Integer(), nullable=True),
        sa.Column("creation_time", sa.DateTime(), nullable=True),
        sa.Column("probe_json", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
        ),
        sa.ForeignKeyConstraint(
            ["first_dock_id"],
            ["docks.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sha256"),
    )
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recordings_device_id"), ["device_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_recordings_ingested_at"), ["ingested_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_recordings_name_device"), ["name_device"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_recordings_name_officer"), ["name_officer"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_recordings_start_utc"), ["start_utc"], unique=False)
        batch_op.create_index(batch_op.f("ix_recordings_status"), ["status"], unique=False)

    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("dock_id", sa.Integer(), nullable=True),
        sa.Column("recording_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dock_id"],
            ["docks.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_dock_id"), ["dock_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_recording_id"), ["recording_id"], unique=False)

    op.create_table(
        "sightings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("dock_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("camera_path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("camera_mtime", sa.DateTime(), nullable=True),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("copied", sa.Boolean(), nullable=False),
        sa.Column("wiped_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
        ),
        sa.ForeignKeyConstraint(
            ["dock_id"],
            ["docks.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dock_id", "camera_path"),
    )
    with op.batch_alter_table("sightings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sightings_identity",
            ["device_id", "camera_path", "size", "camera_mtime"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_sightings_recording_id"), ["recording_id"], unique=False
        )

    op.create_table(
        "transfers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dock_id", sa.Integer(), nullable=False),
        sa.Column("camera_path", sa.Text(), nullable=False),
        sa.Column("camera_mtime", sa.DateTime(), nullable=True),
        sa.Column("staging_name", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("recording_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dock_id"],
            ["docks.id"],
        ),
        sa.ForeignKeyConstraint(
            ["recording_id"],
            ["recordings.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("staging_name"),
    )
    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_transfers_dock_id"), ["dock_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_transfers_state"), ["state"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("transfers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_transfers_state"))
        batch_op.drop_index(batch_op.f("ix_transfers_dock_id"))

    op.drop_table("transfers")
    with op.batch_alter_table("sightings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sightings_recording_id"))
        batch_op.drop_index("ix_sightings_identity")

    op.drop_table("sightings")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_recording_id"))
        batch_op.drop_index(batch_op.f("ix_events_dock_id"))
        batch_op.drop_index(batch_op.f("ix_events_at"))
        batch_op.drop_index(batch_op.f("ix_events_action"))

    op.drop_table("events")
    with op.batch_alter_table("recordings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recordings_status"))
        batch_op.drop_index(batch_op.f("ix_recordings_start_utc"))
        batch_op.drop_index(batch_op.f("ix_recordings_name_officer"))
        batch_op.drop_index(batch_op.f("ix_recordings_name_device"))
        batch_op.drop_index(batch_op.f("ix_recordings_ingested_at"))
        batch_op.drop_index(batch_op.f("ix_recordings_device_id"))

    op.drop_table("recordings")
    with op.batch_alter_table("docks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_docks_outcome"))

    op.drop_table("docks")
    op.drop_table("devices")
