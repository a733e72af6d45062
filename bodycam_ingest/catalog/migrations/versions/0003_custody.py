"""custody: hash-chained events, checkpoints, manifests, labels

Events already in the catalog are chained in id order, so an older station's history is covered by
the first checkpoint it signs. The digest function is imported from the custody core: its format
is versioned inside the digested bytes ("bodycam-custody-entry/1") and never changes meaning.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from bodycam_ingest.custody.chain import GENESIS, entry_digest
from bodycam_ingest.custody.logfields import event_fields

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "custody_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "custody_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("head_digest", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_custody_checkpoints_seq", "custody_checkpoints", ["seq"])
    op.create_table(
        "custody_manifests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dock_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("previous_digest", sa.String(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("signed_at", sa.DateTime(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["dock_id"], ["docks.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dock_id"),
    )
    op.create_table(
        "custody_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("case_number", sa.String(length=128), nullable=True),
        sa.Column("party", sa.Text(), nullable=True),
        sa.Column("party_kind", sa.String(length=16), nullable=True),
        sa.Column("officers", sa.Text(), nullable=True),
        sa.Column("matter", sa.String(length=48), nullable=True),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"]),
        sa.ForeignKeyConstraint(["supersedes_id"], ["custody_labels.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_custody_labels_recording_id", "custody_labels", ["recording_id"])
    op.create_index("ix_custody_labels_case_number", "custody_labels", ["case_number"])

    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("prev_digest", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("digest", sa.String(length=64), nullable=True))
    head_seq, head_digest = _chain_existing_events()
    op.get_bind().execute(sa.text("INSERT INTO custody_chain_head (id, seq, digest) "
                                  "VALUES (1, :seq, :digest)"),
                          {"seq": head_seq, "digest": head_digest})
    with op.batch_alter_table("events") as batch:
        batch.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("prev_digest", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("digest", existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint("uq_events_seq", ["seq"])


def _chain_existing_events() -> tuple[int, str]:
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT id, at, actor, action, dock_id, recording_id, subject, reason, approved_by, "
        "details FROM events ORDER BY id")).mappings().all()
    seq, digest = 0, GENESIS
    for row in rows:
        at = row["at"]
        if isinstance(at, str):  # SQLite hands back text through a plain text() query
            at = datetime.fromisoformat(at)
        fields = event_fields(
            at=at.replace(tzinfo=UTC), actor=row["actor"], action=row["action"],
            dock_id=row["dock_id"], recording_id=row["recording_id"], subject=row["subject"],
            reason=row["reason"], approved_by=row["approved_by"], details=row["details"])
        seq, previous = seq + 1, digest
        digest = entry_digest(previous, seq, fields)
        bind.execute(sa.text("UPDATE events SET seq = :seq, prev_digest = :prev, digest = :digest "
                             "WHERE id = :id"),
                     {"seq": seq, "prev": previous, "digest": digest, "id": row["id"]})
    return seq, digest


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("uq_events_seq", type_="unique")
        batch.drop_column("digest")
        batch.drop_column("prev_digest")
        batch.drop_column("seq")
    op.drop_table("custody_labels")
    op.drop_table("custody_manifests")
    op.drop_table("custody_checkpoints")
    op.drop_table("custody_chain_head")
