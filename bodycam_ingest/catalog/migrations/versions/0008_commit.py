"""commit (issue 9 item 3): a dock may have supplementary manifests

Files that recovery commits to a dock after its manifest was signed are signed in a supplementary
manifest of the same dock, so ``custody_manifests.dock_id`` is no longer unique (an index instead).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _table(*, unique: bool) -> sa.Table:
    """custody_manifests as 0003 made it (``unique``) or as it is from here on."""
    return sa.Table(
        "custody_manifests",
        sa.MetaData(),
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
        *([sa.UniqueConstraint("dock_id")] if unique else []),
    )


def upgrade() -> None:
    # recreated (SQLite cannot drop an unnamed constraint); the same on PostgreSQL for one path
    with op.batch_alter_table("custody_manifests", recreate="always",
                              copy_from=_table(unique=False)):
        pass
    op.create_index("ix_custody_manifests_dock_id", "custody_manifests", ["dock_id"])


def downgrade() -> None:
    op.drop_index("ix_custody_manifests_dock_id", table_name="custody_manifests")
    with op.batch_alter_table("custody_manifests", recreate="always",
                              copy_from=_table(unique=True)):
        pass
