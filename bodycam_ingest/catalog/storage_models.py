"""The replication queue's table (issue 12): one row per recording on its way to the object store.

A row is ``done`` only after the object was verified on the store (checksum read back, lock read
back). Rows are created from the recordings table by the worker's own enqueue step (``storage.queue``)
in one statement, so a recording that is stored locally is either replicated or queued, whatever was
killed when. A ``station_id`` column can be added later (the shared-catalog issue) without changing
anything here but the unique key.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bodycam_ingest.catalog.models import Base, StationScoped, UTCDateTime


class Replication(StationScoped, Base):
    __tablename__ = "replications"
    __table_args__ = (Index("ix_replications_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), unique=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    target: Mapped[str] = mapped_column(String(255))  # s3://bucket/prefix
    # queued | done | failed (the local copy no longer matches: needs a person) | deleted
    state: Mapped[str] = mapped_column(String(16))
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version_id: Mapped[str | None] = mapped_column(String(1024))
    etag: Mapped[str | None] = mapped_column(String(128))
    retain_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # overdue alert raised
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # object deleted after retention
