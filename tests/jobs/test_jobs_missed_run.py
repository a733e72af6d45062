"""MUST SHOW: a run missed while the daemon was stopped happens exactly once after restart.

The real daemon (`bodycam daemon`) runs the scheduler with its job store in the catalog. Between
two runs of the daemon, the stored next run time of the deadline check is moved three days back,
as if the station had been off over 72 hourly runs. The next start runs it once (coalesced),
recorded with trigger "missed", and moves its next run into the future.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from helpers import BODYCAM, StationEnv
from jobs_support import make_station


def _start(station: StationEnv, log: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([*BODYCAM, "daemon"], text=True, stdout=log.open("w"),
                            stderr=subprocess.STDOUT,
                            env={**os.environ, "BODYCAM_CONFIG": str(station.config_path)})
    _wait(lambda: "daemon ready" in log.read_text(), "the daemon to start", log, proc)
    return proc


def _stop(proc: subprocess.Popen[str], log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log.read_text()


def _wait(predicate: Callable[[], object], what: str, log: Path,
          proc: subprocess.Popen[str] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc is None or proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{log.read_text()}"
        time.sleep(0.05)


def _sql(station: StationEnv, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(station.db, timeout=30) as db:
        return db.execute(statement, params).fetchall()


def _move_next_run(station: StationEnv, job: str, when: datetime) -> None:
    """What a station switched off for days looks like to the job store (state and column)."""
    ((blob,),) = _sql(station, "SELECT job_state FROM scheduler_jobs WHERE id = ?", job)
    state = pickle.loads(blob)  # the store's own format, written by this test's daemon
    state["next_run_time"] = when.astimezone(state["next_run_time"].tzinfo)
    _sql(station, "UPDATE scheduler_jobs SET job_state = ?, next_run_time = ? WHERE id = ?",
         pickle.dumps(state), when.timestamp(), job)


def _runs(station: StationEnv) -> list[tuple[Any, ...]]:
    return _sql(station, "SELECT trigger, outcome, scheduled_for FROM job_runs "
                         "WHERE job = 'deadline-check' ORDER BY id")


def test_a_run_missed_while_the_daemon_was_stopped_happens_once_after_restart(
        tmp_path: Path) -> None:
    # hourly, at a minute half an hour away: no on-time run can fall inside this test
    minute = (datetime.now(UTC).minute + 30) % 60
    station = make_station(tmp_path / "station", f"""
[jobs.deadline_check]
schedule = "{minute} * * * *"
[jobs.retention_sweep]
enabled = false
[jobs.fixity_scrub]
enabled = false
[jobs.catalog_backup]
enabled = false
""")
    log = tmp_path / "daemon.log"
    proc = _start(station, log)
    _stop(proc, log)
    assert _sql(station, "SELECT id FROM scheduler_jobs") == [("deadline-check",)]
    assert _runs(station) == []

    _move_next_run(station, "deadline-check", datetime.now(UTC) - timedelta(days=3))
    proc = _start(station, log)
    try:
        _wait(lambda: _runs(station) and _runs(station)[0][1] is not None, "the missed run", log,
              proc)
        # the store has moved on: nothing else is due until the next hour's run
        _wait(lambda: _sql(station, "SELECT next_run_time FROM scheduler_jobs")[0][0]
              > time.time(), "the next run to be stored", log, proc)
        _wait(lambda: "job deadline-check: next run" in log.read_text(), "the run's end", log, proc)
    finally:
        _stop(proc, log)
    ((trigger, outcome, scheduled_for),) = _runs(station)  # once, not 72 times
    assert trigger == "missed" and outcome == "ok"
    assert datetime.fromisoformat(scheduled_for).replace(tzinfo=UTC) > \
        datetime.now(UTC) - timedelta(hours=1, minutes=5)  # the latest missed time, coalesced
    assert "missed while the station was stopped: runs once now" in log.read_text()

    # a restart with the schedule unchanged keeps the stored next run: nothing runs again
    stored = _sql(station, "SELECT next_run_time FROM scheduler_jobs")
    proc = _start(station, log)
    _stop(proc, log)
    assert _sql(station, "SELECT next_run_time FROM scheduler_jobs") == stored
    assert len(_runs(station)) == 1
    listing = {i["job"]: i for i in json.loads(station.run("jobs", "list", "--json",
                                                           check=True).stdout)}
    assert listing["deadline-check"]["last_run"]["trigger"] == "missed"
    assert datetime.fromisoformat(listing["deadline-check"]["next_run"]) > datetime.now(UTC)
    assert listing["fixity-scrub"]["next_run"] is None and not listing["fixity-scrub"]["enabled"]
