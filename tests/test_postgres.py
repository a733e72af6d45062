"""The catalog works on a real PostgreSQL server through the same code and migrations."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest_media import IS_ROOT, FolderCamera
from helpers import StationEnv, write_config

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PORT = 55433
_names = itertools.count()


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    """A throwaway PostgreSQL 15 cluster on 127.0.0.1 (run as 'postgres': it refuses root)."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip("postgresql-15 is not installed (scripts/setup.sh installs it)")
    if not IS_ROOT or shutil.which("runuser") is None:
        pytest.skip("starting a throwaway cluster as the postgres user needs root")
    # not under pytest's tmp dir: that is private to root, and the server runs as 'postgres'
    base = Path(tempfile.mkdtemp(prefix="bodycam-pg-", dir="/var/tmp"))
    base.chmod(0o755)
    data = base / "data"
    shutil.chown(base, "postgres", "postgres")

    def as_postgres(*argv: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True,
                       capture_output=True, text=True)

    as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                "-E", "UTF8", "--no-sync")
    as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-o",
                f"-c listen_addresses=127.0.0.1 -p {PORT} -k {base} -c fsync=off", "start")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{PORT}"
    finally:
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_station(tmp_path: Path, pg_server: str) -> StationEnv:
    name = f"bodycam_{next(_names)}"
    subprocess.run(["runuser", "-u", "postgres", "--", str(PG_BIN / "psql"), "-h", "127.0.0.1",
                    "-p", str(PORT), "-c", f"CREATE DATABASE {name}"], check=True,
                   capture_output=True)
    root = tmp_path / "station"
    root.mkdir()
    path = write_config(root)
    path.write_text(path.read_text().replace(
        "free_space_reserve = 0", f'free_space_reserve = 0\ndatabase_url = "{pg_server}/{name}"'))
    return StationEnv(root=root, config_path=path)


@pytest.mark.root
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
