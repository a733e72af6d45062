"""The catalog backup: a copy that opens, passes integrity_check, holds the same recordings, and
only the newest ``backup_keep`` copies are kept."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from helpers import StationEnv
from jobs_support import Clock, with_jobs

from bodycam_ingest.jobs.backup import backup_postgres, pg_dump_command
from bodycam_ingest.jobs.registry import run_job
from bodycam_ingest.station import Station


def test_backups_are_verified_copies_and_old_ones_are_pruned(
        populated: StationEnv, open_station: Callable[..., Station]) -> None:
    env = with_jobs(populated, "[jobs]\nbackup_keep = 2")
    clock = Clock()
    station = open_station(env, clock)
    names = []
    for _ in range(3):
        result = run_job(station, "catalog-backup", "cli")
        assert result.outcome == "ok", result.summary
        assert "2 recording(s), integrity ok" in result.summary
        names.append(f"catalog-{clock.now:%Y%m%dT%H%M%SZ}.sqlite3")
        clock.advance(timedelta(days=1))
    backups = env.root / "state" / "backups"
    assert sorted(p.name for p in backups.iterdir()) == names[1:]  # oldest pruned, no temp left
    newest = backups / names[-1]
    assert stat.S_IMODE(newest.stat().st_mode) == 0o600
    with sqlite3.connect(f"file:{newest}?mode=ro", uri=True) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert copy.execute("SELECT count(*) FROM recordings").fetchone() == (2,)
        with sqlite3.connect(env.db) as live:
            digests = live.execute("SELECT sha256 FROM recordings ORDER BY id").fetchall()
        assert copy.execute("SELECT sha256 FROM recordings ORDER BY id").fetchall() == digests


def test_an_unwritable_backup_dir_fails_the_job_and_alerts(
        populated: StationEnv, open_station: Callable[..., Station]) -> None:
    blocker = populated.root / "not-a-dir"
    blocker.write_text("")
    env = with_jobs(populated, f'[jobs]\nbackup_dir = "{blocker / "backups"}"')
    station = open_station(env)
    result = run_job(station, "catalog-backup", "cli")
    assert result.outcome == "failed" and "catalog backup into" in result.summary


def test_postgres_backup_uses_pg_dump_without_the_password_in_argv(tmp_path: Path) -> None:
    argv, env = pg_dump_command("postgresql+psycopg://bodycam:s3cret@db.example/bodycam",
                                tmp_path / "x.dump")
    assert argv[:2] == ["pg_dump", "--format=custom"]
    assert argv[-1] == "--dbname=postgresql://bodycam@db.example/bodycam"
    assert "s3cret" not in " ".join(argv) and env == {"PGPASSWORD": "s3cret"}
    try:
        backup_postgres("postgresql://x@h/db", tmp_path, Clock().now, which=lambda _name: None)
    except FileNotFoundError as exc:
        assert "pg_dump is not on PATH" in str(exc) and "--format=custom" in str(exc)
    else:
        raise AssertionError("a missing pg_dump must fail the backup")
