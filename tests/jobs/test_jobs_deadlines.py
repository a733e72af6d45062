"""The hourly deadline check alerts once per recording and deadline, never again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from helpers import StationEnv
from jobs_support import Clock, ingest, make_station
from sqlalchemy import select

from bodycam_ingest.catalog.models import Event
from bodycam_ingest.jobs.registry import run_job
from bodycam_ingest.sim.camera import CameraSpec, build_folder_camera
from bodycam_ingest.station import Station


def test_a_missed_labelling_deadline_is_alerted_once(
        populated: StationEnv, open_station: Callable[..., Station]) -> None:
    clock = Clock()
    station = open_station(populated, clock)
    clock.advance(timedelta(hours=1))
    on_time = run_job(station, "deadline-check", "schedule")
    assert on_time.outcome == "ok" and on_time.alerts == ()
    assert "0 newly missed" in on_time.summary

    clock.advance(timedelta(days=10))  # two working days passed whatever the weekday
    late = run_job(station, "deadline-check", "schedule")
    assert late.outcome == "alert" and len(late.alerts) == 2
    assert all("missed its R1 labelling deadline" in a and "still not labelled" in a
               and "bodycam tag" in a for a in late.alerts)
    assert "2 newly missed deadline(s) (0 export, 2 labelling)" in late.summary

    clock.advance(timedelta(hours=1))
    again = run_job(station, "deadline-check", "schedule")
    assert again.outcome == "ok" and again.alerts == ()
    assert "2 alerted before" in again.summary
    with station.catalog.reading() as session:
        remembered = list(session.execute(select(Event.recording_id, Event.subject)
                                          .where(Event.action == "deadline_alert")))
    assert sorted(remembered) == [(1, "labelling"), (2, "labelling")]


def test_a_late_ingest_is_alerted_as_a_missed_export_once(
        tmp_path: Path, open_station: Callable[..., Station]) -> None:
    env = make_station(tmp_path / "station")
    local = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)
    build_folder_camera(tmp_path / "camera", replace(CameraSpec(segments=2, seconds=1.0),
                                                     start=local - timedelta(days=3)))
    ingest(env, tmp_path / "camera")  # docked three days after recording: 24 h were allowed
    station = open_station(env)
    result = run_job(station, "deadline-check", "cli")
    exports = [a for a in result.alerts if "missed its R1 export deadline" in a]
    assert result.outcome == "alert" and len(exports) == 2
    assert "2 export" in result.summary
    again = run_job(station, "deadline-check", "cli")
    assert not [a for a in again.alerts if "export" in a]
