"""Catalog tables of the custody part (they share Base with catalog.models; Alembic sees both).

All of them are append-only except the one-row chain head, which only ever moves forward: a
label change adds a row that supersedes the previous one, a checkpoint or manifest is a new row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bodycam_ingest.catalog.models import Base, StationScoped, UTCDateTime

__all__ = ["Base", "ChainHead", "CheckpointRow", "LabelRow", "ManifestRow", "StationKeyRow",
           "StationRow"]


class ChainHead(StationScoped, Base):
    """The custody log's last entry (seq, digest). One row per station (each station keeps its
    own chain); writers lock it (SELECT ... FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite)
    so sequence numbers never fork."""

    __tablename__ = "custody_chain_head"
    __table_args__ = (UniqueConstraint("station_id", name="uq_custody_chain_head_station"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))


class CheckpointRow(StationScoped, Base):
    """A signed statement that entry ``seq`` of the custody log had digest ``head_digest``."""

    __tablename__ = "custody_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, index=True)
    head_digest: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(128))  # hex of the raw 64-byte Ed25519 signature


class ManifestRow(StationScoped, Base):
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


class LabelRow(StationScoped, Base):
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


class StationRow(Base):
    """A station registered on the catalog (issue 12): its ``station.id``, the signing key it
    registered with, and the lease of the daemon running for it (host, boot id, pid, heartbeat):
    a second station with the same id is refused at start (``custody.stations``)."""

    __tablename__ = "stations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    hostname: Mapped[str] = mapped_column(String(255))
    key_id: Mapped[str] = mapped_column(String(16))
    lease_host: Mapped[str | None] = mapped_column(String(255))
    lease_boot_id: Mapped[str | None] = mapped_column(String(64))
    lease_pid: Mapped[int | None] = mapped_column(Integer)
    lease_heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StationKeyRow(Base):
    """A station's public signing key, published to the catalog at start and by ``keys init`` /
    ``keys rotate``: the bureau-wide audit checks each station against its own keyring here."""

    __tablename__ = "station_keys"
    __table_args__ = (UniqueConstraint("station_id", "key_id", name="uq_station_keys_station_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    station_id: Mapped[str] = mapped_column(ForeignKey("stations.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(16))
    public_pem: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
