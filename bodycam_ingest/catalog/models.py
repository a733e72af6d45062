"""Catalog schema (SQLAlchemy 2 typed ORM). Alembic owns the DDL: see ``migrations/versions``.

Invariants the ingest pipeline keeps:
- a ``Recording`` row exists only for content that is in the evidence store, verified;
- a ``Transfer`` row is the journal of one camera file on its way in, so that a restart after a crash
  can finish or roll back exactly that file;
- ``Event`` rows are appended, never updated (the custody log grows out of them).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC out, on every backend (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a zone first")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class StationScoped:
    """A row that belongs to one station (issue 12): on a catalog shared by a bureau's stations,
    a station's session sees and writes only rows whose ``station_id`` is its own
    (``catalog.scope``: the filter is added to every ORM statement, and new rows get the id on
    flush). Devices, device profiles and content fingerprints are bureau-wide: a physical camera
    may dock at two stations, and re-used content must be found across stations."""

    station_id: Mapped[str] = mapped_column(String(64), index=True)


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # usb | fs | folder | dev
    camera_rule: Mapped[str | None] = mapped_column(String(64))
    usb_id: Mapped[str | None] = mapped_column(String(9))
    serial: Mapped[str | None] = mapped_column(String(128))
    fs_label: Mapped[str | None] = mapped_column(String(64))
    fs_uuid: Mapped[str | None] = mapped_column(String(64))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)


class Dock(StationScoped, Base):
    """One docking (or one ``bodycam ingest PATH``): what was attempted and how it ended."""

    __tablename__ = "docks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    camera_rule: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(16))  # udev | watch | cli
    source: Mapped[str] = mapped_column(Text)
    mount_method: Mapped[str | None] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    # flock()ed by the ingesting process for the dock's life: a free lock means its owner died
    lock_token: Mapped[str] = mapped_column(String(32), unique=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # None while running; complete | incomplete | failed | interrupted
    outcome: Mapped[str | None] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    files_total: Mapped[int] = mapped_column(Integer, default=0)
    files_done: Mapped[int] = mapped_column(Integer, default=0)
    files_skipped: Mapped[int] = mapped_column(Integer, default=0)
    files_rejected: Mapped[int] = mapped_column(Integer, default=0)
    files_failed: Mapped[int] = mapped_column(Integer, default=0)
    files_wiped: Mapped[int] = mapped_column(Integer, default=0)
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    current_file: Mapped[str | None] = mapped_column(Text)


class Transfer(StationScoped, Base):
    """Journal of one camera file on its way into the store (copying -> verified -> done)."""

    __tablename__ = "transfers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dock_id: Mapped[int] = mapped_column(ForeignKey("docks.id"), index=True)
    camera_path: Mapped[str] = mapped_column(Text)
    camera_mtime: Mapped[datetime | None] = mapped_column(UTCDateTime)
    staging_name: Mapped[str] = mapped_column(String(128), unique=True)
    # copying | verified | done | rolled_back | failed
    state: Mapped[str] = mapped_column(String(16), index=True)
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recording_id: Mapped[int | None] = mapped_column(ForeignKey("recordings.id"))


class Recording(StationScoped, Base):
    """One recording's content, stored once (content-addressed), with what is known about it."""

    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))  # unique per station (each has its store)
    size: Mapped[int] = mapped_column(BigInteger)
    store_path: Mapped[str] = mapped_column(Text)  # relative to the store root
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), index=True)
    first_dock_id: Mapped[int] = mapped_column(ForeignKey("docks.id"))
    camera_path: Mapped[str] = mapped_column(Text)
    camera_mtime: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    name_pattern: Mapped[str | None] = mapped_column(String(64))
    name_device: Mapped[str | None] = mapped_column(String(64), index=True)
    name_officer: Mapped[str | None] = mapped_column(String(64), index=True)
    name_start_local: Mapped[datetime | None] = mapped_column(DateTime)  # camera's naive local time
    start_utc: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    name_seq: Mapped[int | None] = mapped_column(Integer)
    zone: Mapped[str] = mapped_column(String(64))
    # pending (probe not run yet) | ok | unreadable | empty
    status: Mapped[str] = mapped_column(String(16), index=True)
    probe_error: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[float | None] = mapped_column(Float)
    container: Mapped[str | None] = mapped_column(String(64))
    video_codec: Mapped[str | None] = mapped_column(String(32))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    frame_rate: Mapped[str | None] = mapped_column(String(16))
    audio_codec: Mapped[str | None] = mapped_column(String(32))
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    creation_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    probe_json: Mapped[str | None] = mapped_column(Text)
    # --- retention (issue 5; see catalog.retention_models for holds, tombstones, runs) ---------
    # The recording's own tier (standard | evidence | long_term); a case may make it stronger.
    tier: Mapped[str] = mapped_column(String(16), default="standard")
    tier_reason: Mapped[str | None] = mapped_column(Text)
    # The later of the recording's end (start + duration) and its ingest: where the retention
    # period starts. Kept by ``clock_start_of`` on every ORM insert/update (listener below).
    clock_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first sweep that found it due
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # tombstone in retention_tombstones
    fixity_ok: Mapped[bool | None] = mapped_column(Boolean)  # latest fixity check (None: never)
    fixity_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("station_id", "sha256", name="uq_recordings_station_sha256"),
                      Index("ix_recordings_retention", "deleted_at", "tier", "clock_start"),
                      Index("ix_recordings_due_since", "due_since"),
                      Index("ix_recordings_fixity_checked_at", "fixity_checked_at"))


def clock_start_of(ingested_at: datetime, start_utc: datetime | None,
                   duration_s: float | None) -> datetime:
    """The later of the recording's end and its ingest (an unknown end counts as the ingest)."""
    if start_utc is None or duration_s is None:
        return ingested_at
    return max(ingested_at, start_utc + timedelta(seconds=duration_s))


@event.listens_for(Recording, "before_insert")
@event.listens_for(Recording, "before_update")
def _keep_clock_start(_mapper: Any, _connection: Any, recording: Recording) -> None:
    recording.clock_start = clock_start_of(recording.ingested_at, recording.start_utc,
                                           recording.duration_s)


class Sighting(StationScoped, Base):
    """A camera file seen at a dock: copied then, or recognised as already stored."""

    __tablename__ = "sightings"
    __table_args__ = (
        UniqueConstraint("dock_id", "camera_path"),
        Index("ix_sightings_identity", "device_id", "camera_path", "size", "camera_mtime"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    dock_id: Mapped[int] = mapped_column(ForeignKey("docks.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    camera_path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    camera_mtime: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    copied: Mapped[bool] = mapped_column(Boolean)
    wiped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Event(StationScoped, Base):
    """Append-only record of who did what, when, why, approved by whom: the custody log.

    Each row is one hash-chained entry (``custody.chain``): ``seq`` counts 1, 2, 3... with no
    holes, ``prev_digest`` is the digest of entry ``seq - 1``, ``digest`` covers this row's fields.
    """

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("station_id", "seq", name="uq_events_station_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, 3... per station (its own chain)
    prev_digest: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48), index=True)
    dock_id: Mapped[int | None] = mapped_column(ForeignKey("docks.id"), index=True)
    recording_id: Mapped[int | None] = mapped_column(ForeignKey("recordings.id"), index=True)
    subject: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[str | None] = mapped_column(Text)  # JSON


def row_dict(row: Any) -> dict[str, Any]:
    """Column values of an ORM row, for ``--json`` output."""
    return {column.key: getattr(row, column.key) for column in row.__table__.columns}
