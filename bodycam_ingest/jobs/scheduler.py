"""The daemon's job scheduler: APScheduler 3 with its job store in the catalog.

Why a persistent store: a station is switched off at night and over holidays. Each job's next run
time lives in the catalog table ``scheduler_jobs``, so a run that fell due while the station was
off is found at the next start and run once (``coalesce``: one run however many were missed;
``misfire_grace_time=None``: however late). Such a run is recorded with trigger "missed".

``add_job(replace_existing=True)`` would recompute the next run time from *now* and so forget
the missed run, so at start each stored job is looked up first and only replaced (rescheduled)
when its schedule changed in the config; otherwise its stored next run time is kept. Jobs
disabled in the config are removed from the store.

The stored job names a plain function by reference (``FUNC_REF`` with the job name as argument),
never a pickled closure, so the store survives code changes; that function finds the daemon's
station through the module-level context set by ``JobScheduler.start``.

SQLite: the job store uses the catalog's engine, one pooled connection per access and a short
transaction each time (APScheduler's ``engine.begin()``), on the scheduler's own thread, so it
never holds a connection another session of the same thread waits for.
"""

from __future__ import annotations

import logging
import pickle
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.executors.base import run_job as _apscheduler_run_job
from apscheduler.executors.pool import ThreadPoolExecutor as _PoolExecutor
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.util import datetime_to_utc_timestamp, utc_timestamp_to_datetime
from sqlalchemy import Column, Float, LargeBinary, MetaData, String, Table, Unicode, select
from sqlalchemy.exc import IntegrityError

from bodycam_ingest.errors import JobAlreadyRunning
from bodycam_ingest.jobs.registry import run_job
from bodycam_ingest.jobs.settings import JOB_NAMES, cron_trigger

if TYPE_CHECKING:
    from bodycam_ingest.station import Station

log = logging.getLogger("bodycam.jobs")

FUNC_REF = "bodycam_ingest.jobs.scheduler:run_scheduled"
TABLE = "scheduler_jobs"
LATE = timedelta(minutes=5)  # a run starting this late after its time is recorded as "missed"
STOP_WAIT_S = 60.0


@dataclass
class _Context:
    station: Station
    cancel: threading.Event
    started: datetime
    triggers: dict[str, Any]
    running: set[str] = field(default_factory=set)
    changed: threading.Condition = field(default_factory=threading.Condition)


_context: _Context | None = None
_times = threading.local()  # (first missed run time, run time) of the run on this thread


def classify(first: datetime | None, scheduled: datetime | None, *, scheduler_started: datetime,
             now: datetime) -> str:
    """"missed" when runs were coalesced, fell due before the scheduler ran, or start late."""
    if scheduled is None:
        return "schedule"
    if first is not None and first < scheduled:
        return "missed"
    if scheduled < scheduler_started or now - scheduled > LATE:
        return "missed"
    return "schedule"


def run_scheduled(name: str) -> None:
    """What the job store calls (by reference): run job ``name`` for the daemon's station."""
    context = _context
    if context is None:
        log.error("job %s fell due but the scheduler has no station (not started by the daemon)",
                  name)
        return
    first, scheduled = getattr(_times, "value", (None, None))
    now = datetime.now(UTC)
    trigger = classify(first, scheduled, scheduler_started=context.started, now=now)
    with context.changed:
        context.running.add(name)
    try:
        run_job(context.station, name, trigger, scheduled_for=scheduled, cancel=context.cancel)
    except JobAlreadyRunning as exc:
        log.warning("scheduled run skipped: %s", exc.message())
    except Exception:  # the catalog may be unusable; the scheduler must live on
        log.exception("job %s could not be run or recorded", name)
    finally:
        with context.changed:
            context.running.discard(name)
            context.changed.notify_all()
    trig = context.triggers.get(name)
    if trig is not None and not context.cancel.is_set():
        upcoming = trig.get_next_fire_time(None, datetime.now(UTC))
        log.info("job %s: next run %s", name, _when(upcoming))


def _call_with_times(times: tuple[datetime | None, datetime | None], *args: Any) -> Any:
    _times.value = times
    try:
        return _apscheduler_run_job(*args)
    finally:
        _times.value = (None, None)


class _Executor(_PoolExecutor):  # type: ignore[misc]
    """APScheduler's thread pool, telling each run when it was due and since when it was missed.

    APScheduler passes neither to the job function; both are known here, synchronously, before
    the scheduler moves the job's next run time on.
    """

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        times = (job.next_run_time, run_times[-1] if run_times else None)

        def callback(future: Any) -> None:
            exc = future.exception()
            if exc is not None:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, future.result())

        future = self._pool.submit(_call_with_times, times, job, job._jobstore_alias, run_times,
                                   self._logger.name)
        future.add_done_callback(callback)


class _CatalogJobStore(SQLAlchemyJobStore):  # type: ignore[misc]
    """The job store on the catalog's engine, which belongs to the station: not disposed here.

    On a catalog shared by stations (issue 12) the store holds each station's jobs under its
    ``station_id`` (part of the key): APScheduler's Core statements are its own, so every one of
    them is restated here with the station's condition (the ORM scope does not reach them)."""

    def __init__(self, *, engine: Any, tablename: str, station_id: str) -> None:
        super().__init__(engine=engine, tablename=tablename)
        self.station_id = station_id
        self.jobs_t = Table(tablename, MetaData(),
                            Column("station_id", String(64), primary_key=True),
                            Column("id", Unicode(191), primary_key=True),
                            Column("next_run_time", Float(25), index=True),
                            Column("job_state", LargeBinary, nullable=False))
        self._mine = self.jobs_t.c.station_id == station_id

    def shutdown(self) -> None:
        pass

    def lookup_job(self, job_id: str) -> Any:
        query = select(self.jobs_t.c.job_state).where(self._mine, self.jobs_t.c.id == job_id)
        with self.engine.begin() as connection:
            state = connection.execute(query).scalar()
            return self._reconstitute_job(state) if state else None

    def get_due_jobs(self, now: datetime) -> list[Any]:
        return list(self._get_jobs(self.jobs_t.c.next_run_time <= datetime_to_utc_timestamp(now)))

    def get_next_run_time(self) -> datetime | None:
        query = (select(self.jobs_t.c.next_run_time)
                 .where(self._mine, self.jobs_t.c.next_run_time.is_not(None))
                 .order_by(self.jobs_t.c.next_run_time).limit(1))
        with self.engine.begin() as connection:
            return utc_timestamp_to_datetime(connection.execute(query).scalar())  # type: ignore[no-any-return]

    def add_job(self, job: Any) -> None:
        row = {"station_id": self.station_id, "id": job.id,
               "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
               "job_state": pickle.dumps(job.__getstate__(), self.pickle_protocol)}
        with self.engine.begin() as connection:
            try:
                connection.execute(self.jobs_t.insert().values(**row))
            except IntegrityError:
                raise ConflictingIdError(job.id) from None

    def update_job(self, job: Any) -> None:
        statement = self.jobs_t.update().where(self._mine, self.jobs_t.c.id == job.id).values(
            next_run_time=datetime_to_utc_timestamp(job.next_run_time),
            job_state=pickle.dumps(job.__getstate__(), self.pickle_protocol))
        with self.engine.begin() as connection:
            if connection.execute(statement).rowcount == 0:
                raise JobLookupError(job.id)

    def remove_job(self, job_id: str) -> None:
        statement = self.jobs_t.delete().where(self._mine, self.jobs_t.c.id == job_id)
        with self.engine.begin() as connection:
            if connection.execute(statement).rowcount == 0:
                raise JobLookupError(job_id)

    def remove_all_jobs(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(self.jobs_t.delete().where(self._mine))

    def _get_jobs(self, *conditions: Any) -> list[Any]:
        return super()._get_jobs(self._mine, *conditions)  # type: ignore[no-any-return]


def _same_trigger(stored: Any, wanted: Any) -> bool:
    return (str(stored) == str(wanted) and str(stored.timezone) == str(wanted.timezone)
            and stored.start_date == wanted.start_date and stored.end_date == wanted.end_date
            and stored.jitter == wanted.jitter)


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "never (no run left)"


class JobScheduler:
    """Start with the daemon, stop with it; see the module doc."""

    def __init__(self, station: Station, cancel: threading.Event) -> None:
        self.station = station
        self.cancel = cancel
        config = station.config
        self.zone = config.station.zone
        self.triggers = {name: cron_trigger(config.jobs.schedule_of(name), self.zone)
                         for name in JOB_NAMES if config.jobs.job(name).enabled}
        self.scheduler = BackgroundScheduler(
            jobstores={"default": _CatalogJobStore(engine=station.catalog.engine,
                                                   tablename=TABLE,
                                                   station_id=station.config.station.id)},
            executors={"default": _Executor(max_workers=len(JOB_NAMES))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=self.zone)

    def start(self) -> None:
        global _context  # noqa: PLW0603 - the one reference the stored jobs resolve through
        _context = _Context(self.station, self.cancel, datetime.now(UTC), dict(self.triggers))
        self.scheduler.start(paused=True)  # nothing runs before the store matches the config
        try:
            self._sync()
        except BaseException:
            self.scheduler.shutdown(wait=False)
            _context = None
            raise
        now = datetime.now(UTC)
        for name in JOB_NAMES:
            job = self.scheduler.get_job(name)
            if job is None:
                log.info("job %s: disabled ([jobs.%s] enabled = false)", name,
                         name.replace("-", "_"))
                continue
            late = job.next_run_time is not None and job.next_run_time <= now
            log.info("job %s (%s): next run %s%s", name,
                     self.station.config.jobs.schedule_of(name), _when(job.next_run_time),
                     " (missed while the station was stopped: runs once now)" if late else "")
        self.scheduler.resume()

    def _sync(self) -> None:
        for name in JOB_NAMES:
            existing = self.scheduler.get_job(name)
            trigger = self.triggers.get(name)
            if trigger is None:
                if existing is not None:
                    self.scheduler.remove_job(name)
                continue
            if existing is None:
                self.scheduler.add_job(FUNC_REF, trigger=trigger, args=[name], id=name, name=name,
                                       replace_existing=True)
            elif existing.func_ref != FUNC_REF or list(existing.args) != [name]:
                self.scheduler.remove_job(name)
                self.scheduler.add_job(FUNC_REF, trigger=trigger, args=[name], id=name, name=name,
                                       replace_existing=True)
            elif not _same_trigger(existing.trigger, trigger):
                log.info("job %s: schedule changed to %s", name,
                         self.station.config.jobs.schedule_of(name))
                self.scheduler.reschedule_job(name, trigger=trigger)
            elif (existing.coalesce, existing.max_instances, existing.misfire_grace_time) != (
                    True, 1, None):
                existing.modify(coalesce=True, max_instances=1, misfire_grace_time=None)
            # else: unchanged, and its stored next run time (maybe a missed one) is kept

    def running(self) -> set[str]:
        context = _context
        return set(context.running) if context is not None else set()

    def stop(self, wait_s: float = STOP_WAIT_S) -> None:
        """Stop scheduling, ask running jobs to stop (``cancel``), wait for them a while."""
        global _context  # noqa: PLW0603
        self.cancel.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        context = _context
        if context is not None:
            with context.changed:
                if not context.changed.wait_for(lambda: not context.running, timeout=wait_s):
                    log.warning("job(s) %s still running %g s after the stop request; they are "
                                "recorded as interrupted at their next run",
                                ", ".join(sorted(context.running)), wait_s)
        _context = None
