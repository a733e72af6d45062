"""The hourly deadline check: alert once on every recording that missed an R1 deadline.

R1 gives 24 hours to export (ingest) a recording and 2 working days to label it. ``bodycam report
deadlines`` lists where every recording stands; this job makes sure somebody hears of a miss
without asking. Each (recording, deadline) is alerted exactly once: the alert is remembered as a
custody-log event "deadline_alert" (subject "export" or "labelling"), which this job reads back,
so no table of its own is needed and the memory is as tamper-evident as the log.

Only recordings ingested within ``LOOKBACK`` before the previous successful check are examined
(all of them on the first run): a deadline falls at most a few working days (plus holidays) after
a recording ends, and every older miss was alerted by an earlier run. The arithmetic is the pure
``custody.deadlines.assess``, as the report uses it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bodycam_ingest.catalog.custody_models import LabelRow
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.models import Event, Recording
from bodycam_ingest.catalog.retention_models import JobRun
from bodycam_ingest.custody.deadlines import Assessment, DeadlineStatus, assess
from bodycam_ingest.custody.reports import labelled_at, policy_of, recording_end
from bodycam_ingest.jobs.result import JobResult
from bodycam_ingest.jobs.settings import DEADLINE_CHECK

if TYPE_CHECKING:
    from bodycam_ingest.station import Station

LOOKBACK = timedelta(days=62)
BATCH = 500
ACTION = "deadline_alert"


@dataclass(frozen=True)
class Missed:
    """One missed deadline of one recording, to alert on."""

    recording_id: int
    deadline: str  # "export" | "labelling"
    message: str


def missed_deadlines(recording_id: int, camera_path: str, assessment: Assessment,
                     *, ingested_at: datetime, labelled: datetime | None, zone: str,
                     already: set[tuple[int, str]]) -> list[Missed]:
    """The missed deadlines of one recording not alerted before (pure)."""
    local = ZoneInfo(zone)

    def when(moment: datetime) -> str:
        return moment.astimezone(local).strftime("%Y-%m-%d %H:%M %Z")

    name = f"recording {recording_id} ({camera_path})"
    out: list[Missed] = []
    if (assessment.export_status is DeadlineStatus.MISSED
            and (recording_id, "export") not in already):
        out.append(Missed(recording_id, "export", (
            f"{name} missed its R1 export deadline {when(assessment.export_deadline)}: it was "
            f"ingested {when(ingested_at)}; record the reason in its custody history "
            f"(`bodycam tag {recording_id} --note ...`) and remind the officer to dock daily")))
    if (assessment.labelling_status is DeadlineStatus.MISSED
            and (recording_id, "labelling") not in already):
        done = (f"it was labelled only {when(labelled)}" if labelled is not None
                else f"it is still not labelled; label it now with `bodycam tag {recording_id} "
                "--case ... --party ... --officer ...`")
        out.append(Missed(recording_id, "labelling", (
            f"{name} missed its R1 labelling deadline {when(assessment.labelling_deadline)}: "
            f"{done}")))
    return out


def _batches(station: Station, since: datetime | None) -> Iterable[Sequence[Recording]]:
    last_id = 0
    while True:
        query = (select(Recording).where(Recording.deleted_at.is_(None), Recording.id > last_id)
                 .order_by(Recording.id).limit(BATCH))
        if since is not None:
            query = query.where(Recording.ingested_at >= since)
        with station.catalog.reading() as session:
            rows = list(session.scalars(query))
        if not rows:
            return
        yield rows
        last_id = rows[-1].id


def check_deadlines(station: Station, cancel: threading.Event | None = None) -> JobResult:
    """One hourly check; see the module doc."""
    now = station.clock()
    config = station.config
    policy = policy_of(config)
    with station.catalog.reading() as session:
        previous = session.scalar(
            select(JobRun.started_at).where(JobRun.job == DEADLINE_CHECK,
                                            JobRun.outcome.in_(("ok", "alert")))
            .order_by(JobRun.started_at.desc()).limit(1))
    since = previous - LOOKBACK if previous is not None else None
    checked = due_soon = repeated = 0
    alerts: list[str] = []
    counts = {"export": 0, "labelling": 0}
    for rows in _batches(station, since):
        ids = [row.id for row in rows]
        with station.catalog.reading() as session:
            labels: dict[int, list[LabelRow]] = {}
            for label in session.scalars(select(LabelRow).where(LabelRow.recording_id.in_(ids))
                                         .order_by(LabelRow.id)):
                labels.setdefault(label.recording_id, []).append(label)
            already = {(rid, str(subject)) for rid, subject in session.execute(
                select(Event.recording_id, Event.subject).where(
                    Event.action == ACTION, Event.recording_id.in_(ids)))
                if rid is not None}
        fresh: list[Missed] = []
        for row in rows:
            checked += 1
            labelled = labelled_at(labels.get(row.id, []))
            assessment = assess(recording_end(row), now=now, exported_at=row.ingested_at,
                                labelled_at=labelled, policy=policy)
            if DeadlineStatus.DUE_SOON in (assessment.export_status,
                                           assessment.labelling_status):
                due_soon += 1
            repeated += sum(1 for which, status in (("export", assessment.export_status),
                                                    ("labelling", assessment.labelling_status))
                            if status is DeadlineStatus.MISSED and (row.id, which) in already)
            fresh += missed_deadlines(row.id, row.camera_path, assessment,
                                      ingested_at=row.ingested_at, labelled=labelled,
                                      zone=config.station.zone, already=already)
        if fresh:
            with station.catalog.session() as session:  # remembered in the custody log
                for item in fresh:
                    record_event(session, at=now, actor=station.actor, action=ACTION,
                                 recording_id=item.recording_id, subject=item.deadline,
                                 reason=item.message)
            for item in fresh:
                counts[item.deadline] += 1
                alerts.append(item.message)
        if cancel is not None and cancel.is_set():
            break
    scope = "all recordings" if since is None else "recordings ingested since " \
        f"{since.astimezone(ZoneInfo(config.station.zone)):%Y-%m-%d}"
    summary = (f"{checked} live recording(s) checked ({scope}): {len(alerts)} newly missed "
               f"deadline(s) ({counts['export']} export, {counts['labelling']} labelling), "
               f"{repeated} alerted before, {due_soon} due soon")
    return JobResult.from_alerts(summary, alerts)
