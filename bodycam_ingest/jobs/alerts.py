"""Raising a job's alerts: the log, the custody log, and the optional alert command.

An alert must never be lost, so each one goes first to the process log (the journal) and the
custody log, and only then to the configured command (a mail or SMS gateway), which may be missing,
slow or broken. A command that fails is itself logged at ERROR and changes nothing else: the job's
run is already recorded and the alert is in both logs.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bodycam_ingest.catalog.events import record_event

if TYPE_CHECKING:
    from bodycam_ingest.station import Station

log = logging.getLogger("bodycam.alerts")

_OUTPUT_TAIL = 500  # characters of the command's stderr quoted in the log


@dataclass(frozen=True)
class Delivery:
    """What became of one alert at the alert command (``error`` None: delivered)."""

    message: str
    error: str | None = None


def alert_environment(job: str, message: str, station_id: str, at: datetime,
                      base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The command's environment: the station's, plus the alert."""
    return {**base, "BODYCAM_ALERT_JOB": job, "BODYCAM_ALERT_MESSAGE": message,
            "BODYCAM_ALERT_STATION": station_id, "BODYCAM_ALERT_TIME": at.isoformat()}


def run_alert_command(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> str | None:
    """Run the command once; None when it exited 0, else why it did not deliver."""
    try:
        result = subprocess.run(list(argv), env=dict(env), stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        return f"alert command {argv[0]!r} does not exist; fix jobs.alert_command"
    except PermissionError:
        return f"alert command {argv[0]!r} is not executable; fix its mode or jobs.alert_command"
    except subprocess.TimeoutExpired:
        return (f"alert command {argv[0]!r} did not finish within {timeout:g} s and was killed; "
                "raise jobs.alert_timeout_s or fix the command")
    except OSError as exc:
        return f"alert command {argv[0]!r} cannot be run: {exc.strerror or exc}"
    if result.returncode != 0:
        tail = (result.stderr or result.stdout or "").strip()[-_OUTPUT_TAIL:]
        return (f"alert command {argv[0]!r} exited {result.returncode}"
                + (f": {tail}" if tail else ""))
    return None


def raise_alerts(station: Station, job: str, alerts: Sequence[str]) -> list[Delivery]:
    """Log each alert, append it to the custody log (event "alert"), then hand it to the command.

    Never raises: a failure to write the custody log or to run the command is logged loudly and
    the next step still happens.
    """
    if not alerts:
        return []
    at = station.clock()
    for message in alerts:
        log.error("ALERT [%s] %s", job, message)
    try:
        with station.catalog.session() as session:
            for message in alerts:
                record_event(session, at=at, actor=station.actor, action="alert", subject=job,
                             reason=message)
    except Exception:  # the alerts are in the journal; the command still runs
        log.exception("the %d alert(s) of job %s could not be written to the custody log "
                      "(they are in this log above)", len(alerts), job)
    jobs = station.config.jobs
    if jobs.alert_command is None:
        return [Delivery(message, "no jobs.alert_command configured") for message in alerts]
    deliveries: list[Delivery] = []
    for message in alerts:
        env = alert_environment(job, message, station.config.station.id, at)
        error = run_alert_command(jobs.alert_command, env, jobs.alert_timeout_s)
        if error is not None:
            log.error("ALERT NOT DELIVERED [%s] %s (the alert is in the custody log): %s",
                      job, error, message)
        deliveries.append(Delivery(message, error))
    return deliveries
