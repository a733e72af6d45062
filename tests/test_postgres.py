"""The catalog works on a real PostgreSQL server through the same code and migrations (the server
and a database per test come from tests/pg_support.py)."""

from __future__ import annotations

import json

from conftest_media import FolderCamera
from helpers import StationEnv


def test_ingest_list_and_redock_on_postgresql(pg_station: StationEnv,
                                              folder_camera: FolderCamera) -> None:
    first = json.loads(pg_station.run("ingest", str(folder_camera.root), "--json",
                                      check=True).stdout)
    assert (first["outcome"], first["stored"]) == ("complete", 3)
    again = json.loads(pg_station.run("ingest", str(folder_camera.root), "--json",
                                      check=True).stdout)
    assert (again["stored"], again["skipped"]) == (0, 3)
    listed = json.loads(pg_station.run("list", "--json", check=True).stdout)
    assert [row["name_seq"] for row in listed] == [3, 2, 1]  # newest first
    assert all(row["status"] == "ok" for row in listed)
    shown = json.loads(pg_station.run("show", str(listed[-1]["id"]), "--json", check=True).stdout)
    assert shown["start_utc"].startswith("2026-11-20T01:30:00")
    assert not pg_station.db.exists(), "the catalog must be in PostgreSQL, not SQLite"
