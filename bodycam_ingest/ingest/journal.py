"""Catalog side of ingest: each state change of a dock or a file in flight is one committed unit.

The order of commits is what makes ingest crash-safe (see ``pipeline``): a transfer is journalled
``copying`` before the first byte is written, ``verified`` (with its digest) before the file is
published, and ``done`` in the same transaction that creates the recording. A restart reads the
journal and finishes or rolls back exactly what was in flight.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.db import Catalog
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.models import Device, Dock, Recording, Sighting, Transfer
from bodycam_ingest.catalog.retention_models import Tombstone
from bodycam_ingest.naming import NamePattern, parse_name

Clock = Callable[[], datetime]

_SQLITE_FULL = 13  # sqlite3.SQLITE_FULL: "database or disk is full"
_PG_DISK_FULL = "53100"  # PostgreSQL's disk_full SQLSTATE


def catalog_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is the catalog's database refusing a write because its
    disk is full (SQLITE_FULL, PostgreSQL's disk_full), however SQLAlchemy wrapped it."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, sqlite3.Error) and (
                getattr(item, "sqlite_errorcode", None) == _SQLITE_FULL
                or "database or disk is full" in str(item)):
            return True
        if getattr(item, "sqlstate", None) == _PG_DISK_FULL \
                or getattr(item, "pgcode", None) == _PG_DISK_FULL:
            return True
        orig = getattr(item, "orig", None)  # sqlalchemy.exc.DBAPIError
        todo += [orig if isinstance(orig, BaseException) else None, item.__cause__,
                 item.__context__]
    return False


def catalog_where(catalog: Catalog) -> str:
    """Where the catalog is, for people: the SQLite file's folder, or the server (no password)."""
    url = catalog.url
    if url.startswith("sqlite:///"):
        return str(PurePosixPath(url.removeprefix("sqlite:///")).parent)
    return url.split("@", 1)[-1]


@dataclass(frozen=True)
class DeviceIdentity:
    key: str
    kind: str  # usb | fs | folder | dev
    usb_id: str | None = None
    serial: str | None = None
    fs_label: str | None = None
    fs_uuid: str | None = None


@dataclass(frozen=True)
class FileMeta:
    """What the camera told us about one file, needed to catalogue it."""

    camera_path: str
    size: int
    mtime: datetime | None


class Journal:
    def __init__(self, catalog: Catalog, clock: Clock, actor: str) -> None:
        self.catalog = catalog
        self.clock = clock
        self.actor = actor

    # --- docks -------------------------------------------------------------------------------
    def start_dock(self, identity: DeviceIdentity, *, rule: str, trigger: str, source: str,
                   mount_method: str | None, lock_token: str) -> tuple[int, int]:
        now = self.clock()
        with self.catalog.session() as session:
            device = session.scalar(select(Device).where(Device.key == identity.key))
            if device is None:
                device = Device(key=identity.key, kind=identity.kind, camera_rule=rule,
                                usb_id=identity.usb_id, serial=identity.serial,
                                fs_label=identity.fs_label, fs_uuid=identity.fs_uuid,
                                first_seen=now, last_seen=now)
                session.add(device)
            else:
                device.last_seen = now
            session.flush()
            dock = Dock(device_id=device.id, camera_rule=rule, trigger=trigger, source=source,
                        mount_method=mount_method, actor=self.actor, host=socket.gethostname(),
                        pid=os.getpid(), lock_token=lock_token, started_at=now, updated_at=now,
                        files_total=0, files_done=0, files_skipped=0, files_rejected=0,
                        files_failed=0, files_wiped=0, bytes_total=0, bytes_done=0)
            session.add(dock)
            session.flush()
            record_event(session, at=now, actor=self.actor, action="dock_started",
                         dock_id=dock.id, subject=source,
                         details={"device": identity.key, "trigger": trigger, "rule": rule,
                                  "mount": mount_method})
            return dock.id, device.id

    def update_dock(self, dock_id: int, **values: object) -> None:
        with self.catalog.session() as session:
            session.execute(update(Dock).where(Dock.id == dock_id)
                            .values(updated_at=self.clock(), **values))

    def finish_dock(self, dock_id: int, outcome: str, reason: str | None,
                    details: dict[str, object]) -> None:
        now = self.clock()
        with self.catalog.session() as session:
            session.execute(update(Dock).where(Dock.id == dock_id).values(
                outcome=outcome, reason=reason, finished_at=now, updated_at=now,
                current_file=None))
            record_event(session, at=now, actor=self.actor, action="dock_finished",
                         dock_id=dock_id, reason=reason, details={"outcome": outcome, **details})

    def note(self, action: str, *, dock_id: int | None = None, recording_id: int | None = None,
             subject: str | None = None, reason: str | None = None,
             details: dict[str, object] | None = None) -> None:
        with self.catalog.session() as session:
            record_event(session, at=self.clock(), actor=self.actor, action=action,
                         dock_id=dock_id, recording_id=recording_id, subject=subject,
                         reason=reason, details=details)

    # --- what is already here ----------------------------------------------------------------
    def known_recording(self, device_id: int, meta: FileMeta) -> int | None:
        """The recording this exact camera file (path, size, mtime) was stored as, if any."""
        with self.catalog.reading() as session:
            return session.scalar(
                select(Sighting.recording_id).where(
                    Sighting.device_id == device_id, Sighting.camera_path == meta.camera_path,
                    Sighting.size == meta.size, Sighting.camera_mtime == meta.mtime,
                    Sighting.copied.is_(True)).limit(1))

    def deleted_content(self, *, sha256: str | None = None,
                        recording_id: int | None = None) -> tuple[int, int | None] | None:
        """(recording id, tombstone id) when this content (by digest or by recording) was
        deleted by retention; None when it is live or unknown."""
        query = select(Recording.id, Tombstone.id).outerjoin(
            Tombstone, Tombstone.recording_id == Recording.id).where(
            Recording.deleted_at.is_not(None))
        if sha256 is not None:
            query = query.where(Recording.sha256 == sha256)
        if recording_id is not None:
            query = query.where(Recording.id == recording_id)
        with self.catalog.reading() as session:
            row = session.execute(query.limit(1)).first()
        return None if row is None else (row[0], row[1])

    def deleted_content_seen(self, transfer_id: int, *, device_id: int | None,
                             recording_id: int, tombstone_id: int | None) -> None:
        """A camera still holds content that retention deleted: the copy is discarded (never
        stored again under the deleted recording), the sighting recorded as not copied, and the
        file stays on the camera (a wipe only takes verified, stored copies)."""
        now = self.clock()
        with self.catalog.session() as session:
            transfer = session.get_one(Transfer, transfer_id)
            transfer.state = "rolled_back"
            transfer.error = (f"content of recording {recording_id}, deleted by retention "
                              f"(tombstone {tombstone_id}); not stored again")
            transfer.finished_at = now
            transfer.recording_id = recording_id
            assert transfer.size is not None
            session.add(Sighting(recording_id=recording_id, dock_id=transfer.dock_id,
                                 device_id=device_id, camera_path=transfer.camera_path,
                                 size=transfer.size, camera_mtime=transfer.camera_mtime,
                                 seen_at=now, copied=False))
            record_event(session, at=now, actor=self.actor, action="deleted_content_seen_again",
                         dock_id=transfer.dock_id, recording_id=recording_id,
                         subject=transfer.camera_path,
                         reason="the camera still holds content deleted by retention; it was "
                                "not stored again and stays on the camera",
                         details={"tombstone_id": tombstone_id, "sha256": transfer.sha256})

    def record_sighting(self, dock_id: int, device_id: int, recording_id: int,
                        meta: FileMeta) -> None:
        with self.catalog.session() as session:
            session.add(Sighting(recording_id=recording_id, dock_id=dock_id, device_id=device_id,
                                 camera_path=meta.camera_path, size=meta.size,
                                 camera_mtime=meta.mtime, seen_at=self.clock(), copied=False))

    # --- one file in flight ------------------------------------------------------------------
    def begin_transfer(self, dock_id: int, meta: FileMeta, staging_name: str) -> int:
        with self.catalog.session() as session:
            row = Transfer(dock_id=dock_id, camera_path=meta.camera_path,
                           camera_mtime=meta.mtime, staging_name=staging_name, state="copying",
                           size=meta.size, started_at=self.clock())
            session.add(row)
            session.flush()
            return row.id

    def mark_verified(self, transfer_id: int, sha256: str, size: int) -> None:
        with self.catalog.session() as session:
            session.execute(update(Transfer).where(Transfer.id == transfer_id)
                            .values(state="verified", sha256=sha256, size=size))

    def roll_back(self, transfer_id: int, state: str, error: str) -> None:
        with self.catalog.session() as session:
            transfer = session.get_one(Transfer, transfer_id)
            transfer.state = state
            transfer.error = error
            transfer.finished_at = self.clock()
            record_event(session, at=self.clock(), actor=self.actor,
                         action="file_rolled_back" if state == "rolled_back" else "file_failed",
                         dock_id=transfer.dock_id, subject=transfer.camera_path, reason=error)

    def complete_transfer(self, transfer_id: int, *, device_id: int | None, relpath: str,
                          patterns: tuple[NamePattern, ...], zone: str) -> tuple[int, bool]:
        """Catalogue a published file; returns (recording id, whether it is new content)."""
        now = self.clock()
        with self.catalog.session() as session:
            transfer = session.get_one(Transfer, transfer_id)
            assert transfer.sha256 is not None and transfer.size is not None
            recording = session.scalar(select(Recording).where(Recording.sha256 == transfer.sha256))
            new = recording is None
            if recording is None:
                recording = _new_recording(transfer, device_id, relpath, patterns, zone, now)
                session.add(recording)
                session.flush()
            transfer.state = "done"
            transfer.finished_at = now
            transfer.recording_id = recording.id
            session.add(Sighting(recording_id=recording.id, dock_id=transfer.dock_id,
                                 device_id=device_id, camera_path=transfer.camera_path,
                                 size=transfer.size, camera_mtime=transfer.camera_mtime,
                                 seen_at=now, copied=True))
            record_event(session, at=now, actor=self.actor,
                         action="recording_ingested" if new else "content_seen_again",
                         dock_id=transfer.dock_id, recording_id=recording.id,
                         subject=transfer.camera_path,
                         details={"sha256": transfer.sha256, "size": transfer.size})
            return recording.id, new


def _new_recording(transfer: Transfer, device_id: int | None, relpath: str,
                   patterns: tuple[NamePattern, ...], zone: str, now: datetime) -> Recording:
    assert transfer.sha256 is not None and transfer.size is not None
    fields = parse_name(PurePosixPath(transfer.camera_path).name, patterns)
    start_utc = (fields.start.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
                 if fields.start else None)
    return Recording(
        sha256=transfer.sha256, size=transfer.size, store_path=relpath, device_id=device_id,
        first_dock_id=transfer.dock_id, camera_path=transfer.camera_path,
        camera_mtime=transfer.camera_mtime, ingested_at=now, name_pattern=fields.pattern,
        name_device=fields.device, name_officer=fields.officer, name_start_local=fields.start,
        start_utc=start_utc, name_seq=fields.seq, zone=zone, status="pending")


def open_transfers(session: Session, dock_ids: list[int]) -> list[Transfer]:
    return list(session.scalars(select(Transfer).where(
        Transfer.dock_id.in_(dock_ids), Transfer.state.in_(("copying", "verified")))))
