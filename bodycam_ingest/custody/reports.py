"""R1 deadlines per recording, from the catalog: the edge around ``deadlines.assess``.

"Exported" in R1 is the officer taking the recording off the camera into storage, so the export
time is the ingest time; "labelled" is the first label carrying case number, party and officers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.custody_models import LabelRow
from bodycam_ingest.catalog.models import Recording
from bodycam_ingest.config import Config
from bodycam_ingest.custody import holidays
from bodycam_ingest.custody.deadlines import (
    Assessment,
    DeadlinePolicy,
    DeadlineStatus,
    WorkCalendar,
    assess,
)


@dataclass(frozen=True)
class DeadlineRow:
    recording_id: int
    camera_path: str
    ended: datetime
    ingested_at: datetime
    labelled_at: datetime | None
    assessment: Assessment

    @property
    def late(self) -> bool:
        return any(status is not DeadlineStatus.OK for status in
                   (self.assessment.export_status, self.assessment.labelling_status))


def policy_of(config: Config) -> DeadlinePolicy:
    custody = config.custody
    official = holidays.official_days() if custody.holiday_calendar == "cn" else \
        holidays.OfficialDays.empty()
    off, on = holidays.merge(official, custody.holidays, custody.makeup_workdays)
    calendar = WorkCalendar.of(zone=config.station.zone, holidays=off, makeup_workdays=on)
    return DeadlinePolicy(calendar=calendar, export_hours=custody.export_hours,
                          labelling_working_days=custody.labelling_working_days,
                          export_warn_before=timedelta(hours=custody.export_warn_hours),
                          labelling_warn_before=timedelta(hours=custody.labelling_warn_hours))


def recording_end(recording: Any) -> datetime:
    """When a recording ended, from a ``Recording`` or a row of ``END_COLUMNS``."""
    ended: datetime
    if recording.start_utc is not None:
        ended = recording.start_utc + timedelta(seconds=recording.duration_s or 0)
    else:
        ended = recording.camera_mtime or recording.ingested_at
    return ended


END_COLUMNS = (Recording.id, Recording.camera_path, Recording.start_utc, Recording.duration_s,
               Recording.camera_mtime, Recording.ingested_at)


def labelled_at(rows: list[LabelRow]) -> datetime | None:
    for row in rows:
        if row.case_number and row.party and row.officers and row.officers != "[]":
            return row.created_at
    return None


def deadline_rows(session: Session, config: Config, now: datetime) -> list[DeadlineRow]:
    policy = policy_of(config)
    by_recording: dict[int, list[LabelRow]] = {}
    for label in session.scalars(select(LabelRow).order_by(LabelRow.id)):
        by_recording.setdefault(label.recording_id, []).append(label)
    rows: list[DeadlineRow] = []
    # plain rows of the columns used: 20,000 recordings build no ORM objects
    for recording in session.execute(select(*END_COLUMNS).order_by(Recording.id)):
        ended = recording_end(recording)
        labelled = labelled_at(by_recording.get(recording.id, []))
        result = assess(ended, now=now, exported_at=recording.ingested_at, labelled_at=labelled,
                        policy=policy)
        rows.append(DeadlineRow(recording.id, recording.camera_path, ended, recording.ingested_at,
                                labelled, result))
    return rows
