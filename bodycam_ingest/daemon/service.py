"""``bodycam daemon``: detection producers feed a bounded pool of ingest workers.

Start: recover from any crash, log the start with the config's digest, ingest cameras already docked,
then follow udev and the watch folders. SIGTERM/SIGINT: stop accepting docks, cancel running copies
(each rolls back its current file; the next dock finishes it), wait for workers, exit 0.
"""

from __future__ import annotations

import hashlib
import json
import logging
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bodycam_ingest.config import Config, watch_folder_overlaps
from bodycam_ingest.custody import service as custody
from bodycam_ingest.custody import stations
from bodycam_ingest.daemon import dock_alerts, replication
from bodycam_ingest.daemon.sdnotify import notify, watchdog_interval
from bodycam_ingest.detection.dock import device_rules, ingest_block, ingest_folder
from bodycam_ingest.detection.udev import BlockDock, UdevDetector, udevd_answers
from bodycam_ingest.detection.watch import FolderDock, FolderWatcher
from bodycam_ingest.errors import BodycamError, CatalogUnreachable, ConfigError, ExitCode
from bodycam_ingest.ingest.journal import Journal
from bodycam_ingest.ingest.pipeline import DockReport
from bodycam_ingest.jobs.alerts import raise_alerts
from bodycam_ingest.station import Station

if TYPE_CHECKING:
    from bodycam_ingest.api.server import ApiServer
    from bodycam_ingest.jobs.scheduler import JobScheduler
    from bodycam_ingest.web.server import WebServer

log = logging.getLogger("bodycam.daemon")


def config_digest(config: Config) -> str:
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def holiday_calendar_problem(config: Config, now: datetime) -> str | None:
    """Why R1 deadlines may be wrong this year (the holiday calendar stops earlier), or None."""
    from bodycam_ingest.custody import holidays

    if config.custody.holiday_calendar == "none":
        return None
    today = now.astimezone(ZoneInfo(config.station.zone)).date()
    return holidays.coverage_problem(holidays.official_days(), today, config.custody.holidays)


class Daemon:
    def __init__(self, station: Station) -> None:
        self.station = station
        self.config = station.config
        self.cancel = threading.Event()
        self.stopping = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=self.config.ingest.max_concurrent_docks,
                                       thread_name_prefix="dock")
        self._active: dict[str, Future[DockReport | None]] = {}
        self._again: set[str] = set()  # docks that changed while their ingest was running
        self._lock = threading.Lock()
        self.journal = Journal(station.catalog, station.clock, station.actor)
        self.udev = UdevDetector(device_rules(self.config), self.on_block)
        folders = [(watch.path, watch.camera) for watch in self.config.ingest.watch_folders]
        self.watcher = FolderWatcher(folders, self.config.ingest.settle_seconds, self.on_folder)
        self.jobs: JobScheduler | None = None  # the station's scheduled jobs, from start()
        self.api: ApiServer | None = None  # the local API socket, from start()
        self.web: WebServer | None = None  # the console, when [web] is configured
        self.replication: replication.ReplicationThread | None = None

    # --- producers call these ----------------------------------------------------------------
    def on_block(self, dock: BlockDock) -> None:
        rule = self.config.camera(dock.rule_name)
        self._submit(dock.devnode, lambda: ingest_block(self.station, dock.devnode, dock.props,
                                                         rule, trigger="udev", cancel=self.cancel))

    def on_folder(self, dock: FolderDock) -> None:
        rule = self.config.camera(dock.rule_name)
        self._submit(str(dock.path), lambda: ingest_folder(self.station, dock.path, rule,
                                                            device_key=None, trigger="watch",
                                                            cancel=self.cancel))

    def _submit(self, key: str, job: Callable[[], DockReport]) -> None:
        with self._lock:
            if self.stopping.is_set():
                return
            running = self._active.get(key)
            if running is not None and not running.done():
                self._again.add(key)
                return
            self._active[key] = self.pool.submit(self._run, key, job)

    def _run(self, key: str, job: Callable[[], DockReport]) -> DockReport | None:
        report: DockReport | None = None
        alerts: list[str] = []
        try:
            report = job()
            log.info("dock %s from %s finished: %s%s (stored %d, duplicates %d, skipped %d)",
                     report.dock_id, key, report.outcome,
                     f" ({report.reason})" if report.reason else "", report.stored,
                     report.duplicates, report.skipped)
            alerts = dock_alerts.report_alerts(
                key, report, dock_alerts.clock_drift_messages(self.station, report.dock_id))
        except BodycamError as exc:
            log.error("dock from %s failed: %s", key, exc.message())
            alerts = [dock_alerts.refused_alert(key, exc.message())]
        except Exception as exc:
            log.exception("dock from %s failed with an internal error", key)
            alerts = [f"dock from {key} failed with an internal error ({exc!r}); see the log"]
        if alerts and not self.stopping.is_set():
            raise_alerts(self.station, dock_alerts.JOB, alerts)
        with self._lock:
            again = key in self._again and not self.stopping.is_set()
            self._again.discard(key)
            if again:
                self._active[key] = self.pool.submit(self._run, key, job)
        return report

    # --- life cycle --------------------------------------------------------------------------
    def start(self) -> None:
        recovery = self.station.recover()
        custody.daemon_preflight(self.station)  # key usable, rotation finished, manifests signed
        self.journal.note("daemon_started", reason="start", details={
            "config_sha256": config_digest(self.config), "recovered": recovery.finished,
            "rolled_back": recovery.rolled_back})
        from bodycam_ingest.api.server import ApiServer
        from bodycam_ingest.jobs.scheduler import JobScheduler

        self.api = ApiServer(self.station)  # people's commands reach the station through it
        self.api.start()
        if self.config.web is not None:
            from bodycam_ingest.web.server import WebServer

            self.web = WebServer(self.station, self.config.web)
            self.web.start()
        calendar_problem = holiday_calendar_problem(self.config, self.station.clock())
        if calendar_problem:
            log.warning("%s", calendar_problem)
        self.jobs = JobScheduler(self.station, self.cancel)  # runs missed while stopped: once now
        self.jobs.start()
        self.replication = replication.start_for(self.station)  # [storage.object_store] only
        if self.config.cameras and not udevd_answers():
            log.error("systemd-udevd is not running: docked cameras are not announced and will not "
                      "be ingested until it runs (systemctl start systemd-udevd); watch folders "
                      "still work")
        self.udev.start()
        for dock in self.udev.existing():
            self.on_block(dock)
        self.watcher.start()
        for folder in self.watcher.existing():
            self.on_folder(folder)

    def wait_for_idle(self) -> None:
        with self._lock:
            futures = list(self._active.values())
        for future in futures:
            future.result()

    def stop(self) -> None:
        self.stopping.set()
        self.cancel.set()
        if self.web is not None:
            self.web.stop()
        if self.api is not None:
            self.api.stop()  # requests in flight finish; new connections are refused
        log.info("stopping: no new docks; running copies are cancelled and roll back their "
                 "current file")
        if self.jobs is not None:
            self.jobs.stop()  # a running scrub or backup stops at its next step (cancel)
        if self.replication is not None:
            self.replication.stop()  # an upload in flight is resumed by the next start
        self.udev.stop()
        self.watcher.stop()
        self.pool.shutdown(wait=True)
        self.journal.note("daemon_stopped", reason="signal")  # signed by Station.close()


CATALOG_RETRY_FIRST = 2.0
CATALOG_RETRY_CAP = 60.0


def catalog_retry_delay(attempt: int) -> float:
    """Seconds to wait before the ``attempt``-th (1, 2, ...) retry of an unreachable catalog:
    doubling from 2 s up to a minute."""
    return min(CATALOG_RETRY_CAP, CATALOG_RETRY_FIRST * 2.0 ** (attempt - 1))


def open_when_reachable(config: Config, stop: threading.Event,
                        opener: Callable[[Config], Station] = Station.open) -> Station | None:
    """The station, once its catalog answers; None when stopped while waiting.

    A shared PostgreSQL catalog can be away (a network outage, the server restarting) when the
    daemon starts: exiting would leave the unit down (exit 8 is a RestartPreventExitStatus, for
    faults a restart cannot fix), so the daemon says so in the journal and its status and tries
    again, doubling the wait up to a minute. Any other fault still stops it at once.
    """
    attempt = 0
    while True:
        try:
            return opener(config)
        except CatalogUnreachable as exc:
            attempt += 1
            delay = catalog_retry_delay(attempt)
            log.error("%s (attempt %d; trying again in %.0f s)", exc.message(), attempt, delay)
            notify(f"STATUS=waiting for the catalog (attempt {attempt})")
            if stop.wait(delay):
                return None


def run_daemon(config: Config) -> int:
    overlap = watch_folder_overlaps(config)
    if overlap:  # checked before anything is opened or watched (exit 3)
        raise ConfigError(path="ingest.watch_folders", problem=overlap)
    custody.load_station_key(config)  # no usable key: refuse to start, with the fix (exit 5 or 3)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping (running copies roll back their current file)",
                 signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    opened = open_when_reachable(config, stop)
    if opened is None:
        return int(ExitCode.OK)
    station = opened
    try:  # one daemon per station id on the catalog (issue 12)
        stations.take_lease(station)
    except BaseException:
        station.close()
        raise
    daemon = Daemon(station)
    try:
        daemon.start()
        notify("READY=1\nSTATUS=waiting for cameras")
        log.info("daemon ready: station %s, %d camera rule(s), %d watch folder(s)",
                 config.station.id, len(config.cameras), len(config.ingest.watch_folders))
        interval = watchdog_interval() or 5.0
        while not stop.wait(interval):
            notify("WATCHDOG=1")
            stations.heartbeat(station)
            custody.checkpoint_if_due(station)
        notify("STOPPING=1")
        daemon.stop()
    finally:
        try:
            stations.release_lease(station)
        finally:
            station.close()
    return int(ExitCode.OK)
