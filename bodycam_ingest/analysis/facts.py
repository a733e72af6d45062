"""From what the catalog knows about a recording to the plain ``RecordingFacts`` the core reads.

Pure: the caller hands in the catalog's values and the extracted timeline; nothing here reads a
file, the database or the clock.

A recording's *device* for the analysis is the camera id its file names carry (the sequence
numbers and the profile belong to that camera, whichever cradle or folder it was docked through);
names without one fall back to the catalog's device key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bodycam_ingest.analysis.model import (
    Finding,
    FindingKind,
    MediaTimeline,
    RecordingFacts,
    SeenRecording,
    Severity,
)


def analysis_device(name_device: str | None, device_key: str | None, recording_id: int) -> str:
    return name_device or device_key or f"recording:{recording_id}"


@dataclass(frozen=True)
class CatalogRecording:
    """The catalog's fields the analysis needs, detached from the ORM session."""

    id: int
    device: str
    officer: str | None
    camera_path: str
    name_pattern: str | None  # the naming pattern that matched; None: none did
    name_start_local: datetime | None  # naive, camera-local
    name_seq: int | None
    zone: str
    camera_mtime: datetime | None  # aware
    size: int
    first_dock_id: int
    duration_s: float | None  # the probe's, for history when no analysis measured one
    # Deleted by retention: still part of the device's history (its sequence number was seen),
    # but its media can no longer be read.
    deleted: bool = False

    @property
    def named(self) -> bool:
        """Whether the name gives the session fields (start and sequence number)."""
        return self.name_start_local is not None and self.name_seq is not None


def build_facts(rec: CatalogRecording, timeline: MediaTimeline | None, problem: str | None,
                zone: str) -> RecordingFacts:
    """The facts of one recording; a name without start or sequence gets a stand-in start (see
    ``name_findings``) so the within-file checks still run."""
    start = rec.name_start_local or _stand_in_start(rec, timeline, zone)
    return RecordingFacts(
        recording_id=str(rec.id), device=rec.device, officer=rec.officer or "",
        filename_start=start, zone=zone, seq=rec.name_seq if rec.name_seq is not None else -1,
        camera_mtime=rec.camera_mtime, size=rec.size, timeline=timeline,
        timeline_problem=problem)


def _stand_in_start(rec: CatalogRecording, timeline: MediaTimeline | None,
                    zone: str) -> datetime:
    """The container's start, else the close time (camera mtime): the name gives nothing."""
    created = timeline.container.creation_time if timeline else None
    when = created or rec.camera_mtime
    if when is None:
        return datetime(2000, 1, 1)
    return when.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def name_findings(rec: CatalogRecording) -> list[Finding]:
    """A name that matches the camera's naming pattern but carries an impossible start time
    (month 13) is worth a look: renamed by hand, or a firmware fault. Names that match no
    pattern, or patterns without a sequence number, are not findings: such recordings are
    judged on their own, without a place in a session."""
    if rec.name_pattern is None or rec.name_start_local is not None:
        return []
    name = rec.camera_path.rsplit("/", 1)[-1]
    return [Finding(
        FindingKind.TIME_MISMATCH, Severity.WARNING, str(rec.id), None, "no valid start time",
        rec.name_pattern,
        f"The file name {name!r} has the camera's naming pattern ({rec.name_pattern}) but no "
        "valid start time: renamed by hand, or the camera's clock or firmware is faulty; its "
        "time and its place in the session cannot be checked.")]


def seen(rec: CatalogRecording, duration_s: float | None) -> SeenRecording | None:
    """An earlier recording as session history; None when its name gives no place in a session."""
    if rec.name_start_local is None or rec.name_seq is None:
        return None
    return SeenRecording(str(rec.id), rec.name_seq, rec.name_start_local,
                         duration_s if duration_s is not None else rec.duration_s)


def session_order(rec: CatalogRecording) -> tuple[datetime, int, int]:
    """Recordings in the order the camera made them (unnamed ones last)."""
    far = datetime.max - timedelta(days=1)
    return (rec.name_start_local or far, rec.name_seq if rec.name_seq is not None else -1, rec.id)
