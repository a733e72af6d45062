"""forensics (issue 13): per-recording content fingerprints for the re-used content check

Existing recordings get their fingerprints at their next analysis (``bodycam analyze --all``).
Learned device profiles keep their JSON; the new chain fields are simply absent (not known).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "content_fingerprints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recording_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recording_id", "digest"),
    )
    op.create_index("ix_content_fingerprints_recording_id", "content_fingerprints",
                    ["recording_id"])
    op.create_index("ix_content_fingerprints_digest", "content_fingerprints", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_content_fingerprints_digest", table_name="content_fingerprints")
    op.drop_index("ix_content_fingerprints_recording_id", table_name="content_fingerprints")
    op.drop_table("content_fingerprints")
