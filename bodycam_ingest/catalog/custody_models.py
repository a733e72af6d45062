"""Catalog tables of the custody part (they share Base with catalog.models; Alembic sees both).

All of them are append-only except the one-row chain head, which only ever moves forward: a
label change adds a row that supersedes the previous one, a checkpoint or manifest is a new row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bodycam_ingest.catalog.models import Base, UTCDateTime

__all__ = ["Base", "ChainHead", "CheckpointRow", "LabelRow", "ManifestRow"]


class ChainHead(Base):
    """The custody log's last entry (seq, digest). Row 1 only; writers lock it (SELECT ... FOR
    UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite) so sequence numbers never fork."""

    __tablename__ = "custody_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))


class CheckpointRow(Base):
    """A signed statement that entry ``seq`` of the custody log had digest ``head_digest``."""

    __tablename__ = "custody_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, index=True)
    head_digest: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(128))  # hex of the raw 64-byte Ed25519 signature


class ManifestRow(Base):
    """One signed dock manifest; ``id`` is its position in the station's manifest chain. A dock
    has one, plus a supplementary one per recovery that committed files after it was signed."""

    __tablename__ = "custody_manifests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dock_id: Mapped[int] = mapped_column(ForeignKey("docks.id"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))  # in the manifest dir, without suffix
    digest: Mapped[str] = mapped_column(String(64))
    previous_digest: Mapped[str | None] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(16))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    entries: Mapped[int] = mapped_column(Integer)


class LabelRow(Base):
    """A recording's label as set at ``created_at``; the newest row per recording is current."""

    __tablename__ = "custody_labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("custody_labels.id"))
    case_number: Mapped[str | None] = mapped_column(String(128), index=True)
    party: Mapped[str | None] = mapped_column(Text)
    party_kind: Mapped[str | None] = mapped_column(String(16))  # person | organisation
    officers: Mapped[str | None] = mapped_column(Text)  # JSON list of {"name", "certificate"}
    matter: Mapped[str | None] = mapped_column(String(48))
    location: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
