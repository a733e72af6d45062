"""Alerts reach the log, the custody log and the configured command (the alert in its
environment); a missing, failing or hanging command is logged loudly and loses nothing."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import StationEnv
from jobs_support import Clock, with_jobs
from sqlalchemy import select

from bodycam_ingest.catalog.models import Event
from bodycam_ingest.catalog.retention_models import JobRun
from bodycam_ingest.jobs.registry import run_job
from bodycam_ingest.station import Station

RECORDER = """
import json, os, sys
record = {k: v for k, v in os.environ.items() if k.startswith("BODYCAM_ALERT_")}
record["stdin"] = sys.stdin.read()
with open(sys.argv[1], "a") as out:
    out.write(json.dumps(record) + "\\n")
"""


def _late(env: StationEnv, open_station: Callable[..., Station]) -> Station:
    """The station ten days on: both fresh recordings missed their labelling deadline."""
    clock = Clock()
    clock.advance(timedelta(days=10))
    return open_station(env, clock)


def test_the_alert_command_receives_each_alert_in_its_environment(
        populated: StationEnv, open_station: Callable[..., Station], tmp_path: Path) -> None:
    script, out = tmp_path / "record.py", tmp_path / "alerts.jsonl"
    script.write_text(RECORDER)
    argv = [sys.executable, str(script), str(out)]
    env = with_jobs(populated, f"[jobs]\nalert_command = {json.dumps(argv)}")
    station = _late(env, open_station)
    result = run_job(station, "deadline-check", "cli")
    assert result.outcome == "alert" and len(result.alerts) == 2
    received = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["BODYCAM_ALERT_MESSAGE"] for r in received] == list(result.alerts)
    for record in received:
        assert record["BODYCAM_ALERT_JOB"] == "deadline-check"
        assert record["BODYCAM_ALERT_STATION"] == "test-station"
        assert record["BODYCAM_ALERT_TIME"] == station.clock().isoformat()
        assert record["stdin"] == ""  # stdin closed: a command waiting for input cannot hang


@pytest.mark.parametrize(("command", "logged"), [
    (["/nonexistent/bin/sms-alert"], "does not exist"),
    ([sys.executable, "-c", "import sys; sys.stderr.write('gateway down'); sys.exit(3)"],
     "exited 3: gateway down"),
    ([sys.executable, "-c", "import time; time.sleep(30)"], "did not finish within 0.5 s"),
])
def test_a_broken_alert_command_is_logged_and_the_alert_is_kept(
        populated: StationEnv, open_station: Callable[..., Station],
        caplog: pytest.LogCaptureFixture, command: list[str], logged: str) -> None:
    env = with_jobs(populated, f"[jobs]\nalert_command = {json.dumps(command)}\n"
                               "alert_timeout_s = 0.5")
    station = _late(env, open_station)
    with caplog.at_level(logging.INFO):
        result = run_job(station, "deadline-check", "cli")
    assert result.outcome == "alert"
    undelivered = [r for r in caplog.records if "ALERT NOT DELIVERED" in r.getMessage()]
    assert len(undelivered) == 2 and all(logged in r.getMessage() for r in undelivered)
    assert all(r.levelno == logging.ERROR and r.name == "bodycam.alerts" for r in undelivered)
    with station.catalog.reading() as session:
        assert list(session.scalars(select(Event.reason).where(Event.action == "alert"))) == \
            list(result.alerts)
        assert list(session.scalars(select(JobRun.outcome))) == ["alert"]
