"""Issue 9 item 1: the signed record is the source of truth. The audit replays the custody log and
the signed dock manifests and names every table row that disagrees; the retention sweep re-checks
that replay inside its deletion transaction and refuses to delete (alert, exit 1) on any
disagreement. D1 and D4 exactly as the issue reproduces them."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from helpers import StationEnv

from bodycam_ingest.config import load_config
from bodycam_ingest.retention.service import run_sweep
from bodycam_ingest.sim.camera import CameraSpec, build_folder_camera
from bodycam_ingest.station import Station


class Clock:
    """The station's injected clock (as the retention tests inject it)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def sql(env: StationEnv, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(env.db) as db:
        return db.execute(statement, params).fetchall()


def audit(env: StationEnv) -> tuple[int, list[str]]:
    result = env.run("audit", "--json")
    assert result.returncode in (0, 9), result.stderr
    report = json.loads(result.stdout)
    return result.returncode, [f"{f['section']}: {f['object']}: {f['problem']}"
                               for f in report["findings"]]


@pytest.fixture
def docked(station: StationEnv, tmp_path: Path) -> StationEnv:
    """A fresh station that docked one camera of three recordings, which ended minutes ago."""
    local = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)
    camera = tmp_path / "CAM"
    build_folder_camera(camera, replace(CameraSpec(segments=3, seconds=1.0),
                                        start=local - timedelta(minutes=10)))
    station.run("ingest", str(camera), check=True)
    assert [n for (n,) in sql(station, "SELECT count(*) FROM recordings")] == [3]
    return station


def sweep_at(env: StationEnv, days: int) -> tuple[list[int], list[str]]:
    station = Station.open(load_config(env.config_path),
                           clock=Clock(datetime.now(UTC) + timedelta(days=days)),
                           actor="retention-officer")
    report = run_sweep(station, trigger="cli")
    assert report.error is None, report.error
    return report.deleted, report.alerts


def test_d1_a_deleted_hold_and_a_tier_set_back_are_found_and_nothing_is_deleted(
        docked: StationEnv) -> None:
    docked.run("retain", "2", "--tier", "evidence", "--reason", "evidence for case C-7",
               check=True)
    docked.run("hold", "add", "3", "--reason", "order 17", "--owner", "legal", check=True)
    assert audit(docked)[0] == 0
    sql(docked, "delete from retention_holds where id=1")
    sql(docked, "update recordings set tier='standard',tier_reason=NULL where id=2")
    sql(docked, "delete from retention_tier_changes where recording_id=2")

    code, found = audit(docked)
    assert code == 9
    assert any("hold 1 on recording 3" in f and "missing" in f for f in found), found
    assert any("recording 2" in f and "evidence" in f for f in found), found
    assert any("tier change 1" in f and "missing" in f for f in found), found

    deleted, alerts = sweep_at(docked, 800)
    assert deleted == []
    deleted, alerts = sweep_at(docked, 810)
    assert deleted == [1]  # the recording nobody protected; 2 and 3 are refused
    refused = [a for a in alerts if "NOT deleted" in a]
    assert any("recording 2 " in a for a in refused), alerts
    assert any("recording 3 " in a and "hold 1" in a for a in refused), alerts
    assert [n for (n,) in sql(docked, "select id from recordings where deleted_at is not null")] \
        == [1]
    assert sql(docked, "select count(*) from events where action='retention_refused'") == [(2,)]
    assert audit(docked)[0] == 9


def test_d1_the_cli_sweep_exits_1_when_it_refuses(docked: StationEnv) -> None:
    docked.run("hold", "add", "3", "--reason", "order 17", "--owner", "legal", check=True)
    sql(docked, "delete from retention_holds where id=1")
    sweep_at(docked, 800)
    station = Station.open(load_config(docked.config_path),
                           clock=Clock(datetime.now(UTC) + timedelta(days=810)), actor="x")
    report = run_sweep(station, trigger="cli")
    assert report.outcome == "alerts"  # retention run exits 1 (WARNING) on alerts
    assert 3 not in report.deleted


def test_d4_an_officer_changed_in_the_catalog_is_found(docked: StationEnv) -> None:
    assert audit(docked)[0] == 0
    sql(docked, "update recordings set name_officer='B9999' where id=2")
    code, found = audit(docked)
    assert code == 9
    assert any("replay: recording 2" in f and "officer 'B9999'" in f for f in found), found


@pytest.mark.parametrize("column, value", [("camera_path", "DCIM/other.MP4"),
                                           ("start_utc", "2020-01-01 00:00:00.000000")])
def test_d4_a_camera_path_or_start_changed_in_the_catalog_is_found(
        docked: StationEnv, column: str, value: str) -> None:
    sql(docked, f"update recordings set {column}=? where id=1", value)
    code, found = audit(docked)
    assert code == 9
    assert any("replay: recording 1" in f and "signed dock manifest" in f for f in found), found


def test_d4_deleting_every_finding_is_found(station: StationEnv, tmp_path: Path) -> None:
    local = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)
    spec = replace(CameraSpec(segments=3, seconds=1.0), start=local - timedelta(minutes=10))
    camera = tmp_path / "CAM"
    build_folder_camera(camera, spec)
    next(camera.rglob(spec.file_name(1))).unlink()  # a deleted file: a missing segment
    station.run("ingest", str(camera), check=True)
    [(finding,)] = sql(station, "select id from findings where kind='missing_segment'")
    station.run("explain", str(finding), "--reason", "the officer's camera fault", check=True)
    assert audit(station)[0] == 0, audit(station)[1]

    sql(station, "delete from findings")
    code, found = audit(station)
    assert code == 9
    assert any("replay: analysis" in f and "finding(s) now" in f for f in found), found


def test_d4_a_deleted_verdict_is_found(docked: StationEnv) -> None:
    sql(docked, "delete from analysis_runs where id=1")
    code, found = audit(docked)
    assert code == 9
    assert any("replay: analysis 1 of recording" in f and "missing" in f for f in found), found
