"""Read-side queries used by the CLI (and later the audit)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.models import Device, Dock, Event, Recording, Sighting


@dataclass(frozen=True)
class RecordingFilter:
    device: str | None = None  # the device id from the file name, or the device key
    officer: str | None = None
    since: datetime | None = None  # aware; compared with the recording's start (UTC)
    until: datetime | None = None
    status: str | None = None
    limit: int = 1000
    newest_first: bool = False


def recordings_query(flt: RecordingFilter) -> Select[Recording]:
    query = select(Recording)
    if flt.device:
        device_ids = select(Device.id).where(Device.key == flt.device).scalar_subquery()
        query = query.where((Recording.name_device == flt.device)
                            | (Recording.device_id.in_(device_ids)))
    if flt.officer:
        query = query.where(Recording.name_officer == flt.officer)
    if flt.since:
        query = query.where(Recording.start_utc >= flt.since)
    if flt.until:
        query = query.where(Recording.start_utc < flt.until)
    if flt.status:
        query = query.where(Recording.status == flt.status)
    if flt.newest_first:
        return query.order_by(Recording.start_utc.desc(), Recording.id.desc()).limit(flt.limit)
    return query.order_by(Recording.start_utc, Recording.id).limit(flt.limit)


def running_docks(session: Session) -> list[Dock]:
    return list(session.scalars(select(Dock).where(Dock.outcome.is_(None)).order_by(Dock.id)))


def recent_docks(session: Session, limit: int = 10) -> list[Dock]:
    return list(session.scalars(select(Dock).where(Dock.outcome.is_not(None))
                                .order_by(Dock.id.desc()).limit(limit)))


def sightings_of(session: Session, recording_id: int) -> list[Sighting]:
    return list(session.scalars(select(Sighting).where(Sighting.recording_id == recording_id)
                                .order_by(Sighting.id)))


def events_of(session: Session, recording_id: int) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.recording_id == recording_id)
                                .order_by(Event.id)))


def session_neighbours(session: Session, recording: Recording) -> list[Recording]:
    """Recordings of the same device and day in sequence order: the recording's place in its session."""
    if recording.name_device is None or recording.name_start_local is None:
        return []
    day = datetime.combine(recording.name_start_local.date(), time())
    return list(session.scalars(
        select(Recording).where(Recording.name_device == recording.name_device,
                                Recording.name_start_local >= day,
                                Recording.name_start_local < day + timedelta(days=1))
        .order_by(Recording.name_start_local, Recording.name_seq)))
