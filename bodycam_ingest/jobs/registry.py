"""The station's jobs by name, and the one runner both front doors use.

``run_job`` is what the daemon's scheduler and ``bodycam jobs run`` (cron, systemd timers) call:
it takes the job's lock (one run of a job at a time across processes), records a ``JobRun``,
runs the job with every exception caught (a bug in a job must not kill the scheduler), finishes
the ``JobRun``, logs "job_run" in the custody log, and raises the alerts (``jobs.alerts``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.retention_models import JobRun, SchedulerJob
from bodycam_ingest.errors import BodycamError, JobAlreadyRunning
from bodycam_ingest.ingest.locks import try_lock
from bodycam_ingest.jobs.alerts import raise_alerts
from bodycam_ingest.jobs.result import JobResult
from bodycam_ingest.jobs.settings import (
    CATALOG_BACKUP,
    DEADLINE_CHECK,
    FIXITY_SCRUB,
    JOB_NAMES,
    RETENTION_SWEEP,
)

if TYPE_CHECKING:
    from bodycam_ingest.config import Config
    from bodycam_ingest.station import Station

log = logging.getLogger("bodycam.jobs")

Job = Callable[["Station", str, threading.Event], JobResult]


def _retention_sweep(station: Station, trigger: str, cancel: threading.Event) -> JobResult:
    from bodycam_ingest.retention.service import sweep_job  # written with the retention part

    result: JobResult = sweep_job(station, trigger)
    return result


def _fixity_scrub(station: Station, trigger: str, cancel: threading.Event) -> JobResult:
    from bodycam_ingest.jobs.scrub import scrub

    return scrub(station, cancel)


def _deadline_check(station: Station, trigger: str, cancel: threading.Event) -> JobResult:
    from bodycam_ingest.jobs.deadlines import check_deadlines

    return check_deadlines(station, cancel)


def _catalog_backup(station: Station, trigger: str, cancel: threading.Event) -> JobResult:
    from bodycam_ingest.jobs.backup import backup_catalog

    return backup_catalog(station, cancel)


JOBS: dict[str, Job] = {
    RETENTION_SWEEP: _retention_sweep,
    FIXITY_SCRUB: _fixity_scrub,
    DEADLINE_CHECK: _deadline_check,
    CATALOG_BACKUP: _catalog_backup,
}


def lock_path(station: Station, name: str) -> Path:
    return station.config.storage.runtime / "locks" / f"job-{name}.lock"


def _close_interrupted(session: Session, name: str, at: datetime) -> int:
    """Runs of this job left 'running' by a process that died (we hold the lock: none runs)."""
    stale = list(session.scalars(select(JobRun).where(JobRun.job == name,
                                                      JobRun.outcome.is_(None))))
    for run in stale:
        run.outcome, run.finished_at = "failed", at
        run.summary = "interrupted: the process running it stopped before it finished"
    return len(stale)


def run_job(station: Station, name: str, trigger: str, scheduled_for: datetime | None = None,
            cancel: threading.Event | None = None) -> JobResult:
    """Run job ``name`` now, recorded and alerted; raises ``JobAlreadyRunning`` if it runs."""
    job = JOBS[name]
    cancel = cancel or threading.Event()
    path = lock_path(station, name)
    lock = try_lock(path)
    if lock is None:
        raise JobAlreadyRunning(job=name, path=path)
    with lock:
        started = station.clock()
        with station.catalog.session() as session:
            _close_interrupted(session, name, started)
            run = JobRun(job=name, trigger=trigger, scheduled_for=scheduled_for,
                         started_at=started, actor=station.actor)
            session.add(run)
            session.flush()
            run_id = run.id
        log.info("job %s started (%s%s)", name, trigger,
                 f", scheduled for {scheduled_for.isoformat()}" if scheduled_for else "")
        try:
            result = job(station, trigger, cancel)
        except BodycamError as exc:
            result = JobResult("failed", exc.message())
        except Exception as exc:  # a bug in one job must not stop the others
            log.exception("job %s failed with an internal error", name)
            result = JobResult("failed", f"internal error (a bug; the station log has the "
                               f"traceback): {exc!r}")
        finished = station.clock()
        alerts = list(result.alerts)
        if result.outcome == "failed":
            alerts.append(f"job {name} failed: {result.summary}")
        with station.catalog.session() as session:
            row = session.get(JobRun, run_id)
            assert row is not None
            row.finished_at, row.outcome, row.summary = finished, result.outcome, result.summary
            record_event(session, at=finished, actor=station.actor, action="job_run",
                         subject=name, reason=result.summary,
                         details={"run_id": run_id, "trigger": trigger, "outcome": result.outcome,
                                  "alerts": len(alerts), "scheduled_for": scheduled_for})
        level = logging.INFO if result.outcome == "ok" else logging.WARNING
        log.log(level, "job %s finished: %s: %s", name, result.outcome, result.summary)
    raise_alerts(station, name, alerts)
    return result


# --- what `bodycam jobs list` and `bodycam status` show ---------------------------------------
@dataclass(frozen=True)
class JobStatus:
    name: str
    schedule: str
    enabled: bool
    next_run: datetime | None  # from the daemon's job store; None: not scheduled there
    last: JobRun | None


def job_statuses(session: Session, config: Config) -> list[JobStatus]:
    stored = {row.id: row.next_run_time for row in session.scalars(select(SchedulerJob))}
    latest = (select(JobRun.job, func.max(JobRun.id).label("id")).group_by(JobRun.job)
              .subquery())
    last = {run.job: run for run in session.scalars(
        select(JobRun).join(latest, JobRun.id == latest.c.id))}
    out: list[JobStatus] = []
    for name in JOB_NAMES:
        stamp = stored.get(name)
        next_run = datetime.fromtimestamp(stamp, UTC) if stamp is not None else None
        out.append(JobStatus(name, config.jobs.schedule_of(name), config.jobs.job(name).enabled,
                             next_run, last.get(name)))
    return out


def status_json(item: JobStatus) -> dict[str, object]:
    last = item.last
    return {"job": item.name, "schedule": item.schedule, "enabled": item.enabled,
            "next_run": item.next_run,
            "last_run": None if last is None else {
                "started_at": last.started_at, "finished_at": last.finished_at,
                "trigger": last.trigger, "outcome": last.outcome or "running",
                "summary": last.summary}}
