"""On a PostgreSQL catalog: the backup is a pg_dump that pg_restore reads, and the scheduler's job
store lives in the same database (a throwaway cluster from tests/pg_support.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from helpers import StationEnv

from bodycam_ingest.jobs.scheduler import JobScheduler
from bodycam_ingest.station import Station


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")
def test_postgres_catalog_backup_and_job_store(pg_station: StationEnv) -> None:
    result = pg_station.run("jobs", "run", "catalog-backup", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)["summary"]
    (dump,) = (pg_station.root / "state" / "backups").glob("catalog-*.dump")
    assert str(dump) in summary
    listing = subprocess.run(["pg_restore", "--list", str(dump)], capture_output=True, text=True,
                             check=True).stdout
    assert "TABLE public recordings" in listing and "TABLE public scheduler_jobs" in listing

    station = Station.open(pg_station.config)
    try:
        scheduler = JobScheduler(station, threading.Event())
        scheduler.start()
        scheduler.stop()
    finally:
        station.close()
    jobs = json.loads(pg_station.run("jobs", "list", "--json", check=True).stdout)
    assert all(item["next_run"] is not None for item in jobs)
    assert not Path(pg_station.db).exists()
