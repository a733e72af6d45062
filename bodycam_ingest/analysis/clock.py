"""The camera's three clocks for one file: name time, container time and close time.

Cameras write local wall time into file names and, often, into container fields that are meant
to be UTC; FAT stores local mtimes that a reader may take for UTC. A reading that is off by
exactly the camera's zone offset is that convention, not a problem, and is corrected here so
that a clean recording is never flagged for its zone. Pure: the zone rules come from zoneinfo's
database, never from the station's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bodycam_ingest.analysis.model import RecordingFacts


def to_utc(local: datetime, zone: str) -> datetime:
    """A naive camera-local time in the camera's zone, as aware UTC."""
    return local.replace(tzinfo=ZoneInfo(zone)).astimezone(ZoneInfo("UTC"))


def zone_offset(local: datetime, zone: str) -> timedelta:
    return ZoneInfo(zone).utcoffset(local) or timedelta(0)


def corrected(observed: datetime, expected: datetime, offset: timedelta,
              tolerance_s: float) -> tuple[datetime, bool]:
    """``observed``, or ``observed`` minus/plus the zone offset when only that matches.

    Returns the reading to trust and whether it was a local time written as UTC.
    """
    if abs((observed - expected).total_seconds()) <= tolerance_s or not offset:
        return observed, False
    for shifted in (observed - offset, observed + offset):
        if abs((shifted - expected).total_seconds()) <= tolerance_s:
            return shifted, True
    return observed, False


@dataclass(frozen=True)
class Clocks:
    """The three readings, zone-corrected where that makes them agree."""

    name_start: datetime  # from the file name, UTC
    container_start: datetime | None
    close: datetime | None  # camera mtime
    container_local: bool  # the container holds local time labelled as UTC
    close_local: bool


def clocks(facts: RecordingFacts, duration_s: float | None, tolerance_s: float) -> Clocks:
    name_start = to_utc(facts.filename_start, facts.zone)
    offset = zone_offset(facts.filename_start, facts.zone)
    created = facts.timeline.container.creation_time if facts.timeline else None
    container_local = close_local = False
    if created is not None:
        created, container_local = corrected(created, name_start, offset, tolerance_s)
    close = facts.camera_mtime
    if close is not None:
        expected_close = name_start + timedelta(seconds=duration_s or 0.0)
        close, close_local = corrected(close, expected_close, offset, tolerance_s)
    return Clocks(name_start, created, close, container_local, close_local)
