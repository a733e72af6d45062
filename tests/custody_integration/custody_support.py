"""Helpers for the custody integration tests: fresh cameras (recorded minutes ago, so no R1
deadline is missed), a labelled station, and SQL on the real catalog."""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from helpers import StationEnv

from bodycam_ingest.sim.camera import CameraSpec, build_folder_camera

SPEC = CameraSpec(segments=2, seconds=1.0)


def fresh_spec(device: str = "DSJ9X001") -> CameraSpec:
    """A camera whose recordings ended a few minutes ago (camera clock: Asia/Shanghai)."""
    local = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)
    return replace(SPEC, start=local - timedelta(minutes=10), device=device)


def make_camera(master: Path, dest: Path) -> Path:
    shutil.copytree(master, dest, copy_function=shutil.copy2)
    return dest


def build_master(root: Path, spec: CameraSpec) -> Path:
    build_folder_camera(root, spec)
    return root


def sql(station: StationEnv, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    url = station.config.storage.db_url
    if not url.startswith("sqlite:///"):  # BODYCAM_TEST_CATALOG: the same SQL on PostgreSQL
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                             autocommit=True) as connection:
            cursor = connection.execute(statement.replace("?", "%s"), params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []
    with sqlite3.connect(station.db) as db:
        rows = db.execute(statement, params).fetchall()
    return rows


def ingest(station: StationEnv, camera: Path) -> dict[str, Any]:
    result = station.run("ingest", str(camera), "--json", check=True)
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def label_all(station: StationEnv, case: str = "人社监察[2026]12号") -> None:
    ids = [str(i) for (i,) in sql(station, "SELECT id FROM recordings ORDER BY id")]
    station.run("tag", *ids, "--case", case, "--party", "某某建筑有限公司", "--party-kind",
                "organisation", "--officer", "张三:44010001", "--officer", "李四:44010002",
                "--matter", "on-site-inspection", "--location", "天河区某工地", check=True)


def audit(station: StationEnv, *args: str) -> tuple[int, dict[str, Any]]:
    result = station.run("audit", "--json", *args)
    assert result.returncode in (0, 9), result.stderr
    return result.returncode, json.loads(result.stdout)


def problems(report: dict[str, Any]) -> list[str]:
    return [f"{f['section']}: {f['object']}: {f['problem']}" for f in report["findings"]]
