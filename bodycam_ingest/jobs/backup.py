"""The daily catalog backup: a consistent, verified copy, the newest ``backup_keep`` kept.

SQLite: Python's ``sqlite3`` online backup API copies the live catalog into
``<backup_dir>/catalog-<UTC stamp>.sqlite3``. It is written under a temporary name, switched to
rollback-journal mode (a self-contained single file), fsynced, checked with
``PRAGMA integrity_check``, and only then renamed to its final name, so a file with the final
name is always a complete, verified copy.

The copy is taken in one step on purpose. The catalog runs in WAL mode, where a reader never
blocks a writer: docks keep committing while the backup reads its snapshot. Copying in several
steps (``pages=N``) would not make docks faster, but every commit by another connection between
two steps makes SQLite restart the copy from the first page, so a busy station might never finish
a backup.

PostgreSQL: ``pg_dump --format=custom`` into ``catalog-<stamp>.dump`` (restore with
``pg_restore --clean --dbname=URL FILE``), checked with ``pg_restore --list``. Without
``pg_dump`` on PATH the job fails and says which command to install or run.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import threading
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL, make_url

from bodycam_ingest.jobs.result import JobResult

if TYPE_CHECKING:
    from bodycam_ingest.station import Station

PG_DUMP_TIMEOUT_S = 6 * 3600


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _final_name(directory: Path, base: str, suffix: str) -> Path:
    target = directory / f"{base}{suffix}"
    counter = 1
    while target.exists():  # two backups in one second (a manual run next to the timer)
        target = directory / f"{base}-{counter}{suffix}"
        counter += 1
    return target


def prune(directory: Path, suffix: str, keep: int) -> list[Path]:
    """Remove all but the newest ``keep`` backups (names sort by time) and stale temp files."""
    backups = sorted(p for p in directory.glob(f"catalog-*{suffix}") if p.is_file())
    removed = backups[:-keep] if len(backups) > keep else []
    removed += [p for p in directory.glob(f".catalog-*{suffix}.tmp") if p.is_file()]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def backup_sqlite(source: Path, directory: Path, now: datetime) -> tuple[Path, int]:
    """Copy, verify and publish one SQLite backup; returns (path, recordings in the copy)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    base = f"catalog-{stamp(now)}"
    temp = directory / f".{base}.sqlite3.tmp"
    temp.unlink(missing_ok=True)
    if not source.exists():
        raise FileNotFoundError(f"the catalog {source} does not exist")
    with closing(sqlite3.connect(source, timeout=30)) as src, \
            closing(sqlite3.connect(temp)) as dst:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    os.chmod(temp, 0o600)  # as private as the catalog
    _fsync(temp)
    with closing(sqlite3.connect(f"file:{temp}?mode=ro", uri=True)) as check:
        verdict = [row[0] for row in check.execute("PRAGMA integrity_check")]
        recordings = int(check.execute("SELECT count(*) FROM recordings").fetchone()[0])
    if verdict != ["ok"]:
        temp.unlink(missing_ok=True)
        raise RuntimeError(f"the copy fails PRAGMA integrity_check: {'; '.join(verdict[:5])}")
    target = _final_name(directory, base, ".sqlite3")
    temp.rename(target)
    _fsync(directory)
    return target, recordings


def pg_dump_command(url: str, target: Path,
                    password: str | None = None) -> tuple[list[str], dict[str, str]]:
    """pg_dump's argv and extra environment (the password goes in PGPASSWORD, never in argv;
    without one, pg_dump reads ~/.pgpass or PGPASSFILE as the product does)."""
    parsed = make_url(url)
    password = password or parsed.password
    env = {"PGPASSWORD": password} if password else {}
    plain = URL.create("postgresql", username=parsed.username, host=parsed.host,
                       port=parsed.port, database=parsed.database, query=parsed.query)
    dsn = plain.render_as_string(hide_password=False)
    return ["pg_dump", "--format=custom", f"--file={target}", f"--dbname={dsn}"], env


def backup_postgres(url: str, directory: Path, now: datetime,
                    which: Callable[[str], str | None] = shutil.which,
                  password_file: Path | None = None) -> Path:
    documented = (f"pg_dump --format=custom --file={directory}/catalog-STAMP.dump "
                  "--dbname=postgresql://USER@HOST/DB")
    if which("pg_dump") is None:
        raise FileNotFoundError(f"pg_dump is not on PATH: install the PostgreSQL client "
                                f"(apt install postgresql-client) or back up by hand with "
                                f"`{documented}`")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    base = f"catalog-{stamp(now)}"
    temp = directory / f".{base}.dump.tmp"
    password = None
    if password_file is not None:
        from bodycam_ingest.catalog.db import read_password_file

        password = read_password_file(password_file)
    argv, extra = pg_dump_command(url, temp, password)
    result = subprocess.run(argv, env={**os.environ, **extra}, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=PG_DUMP_TIMEOUT_S,
                            check=False)
    if result.returncode != 0:
        temp.unlink(missing_ok=True)
        raise RuntimeError(f"pg_dump exited {result.returncode}: {result.stderr.strip()[-500:]}")
    if which("pg_restore") is not None:
        listing = subprocess.run(["pg_restore", "--list", str(temp)], capture_output=True,
                                 text=True, check=False, stdin=subprocess.DEVNULL)
        if listing.returncode != 0:
            temp.unlink(missing_ok=True)
            raise RuntimeError(f"the dump does not read back (pg_restore --list exited "
                               f"{listing.returncode}: {listing.stderr.strip()[-300:]})")
    os.chmod(temp, 0o600)
    _fsync(temp)
    target = _final_name(directory, base, ".dump")
    temp.rename(target)
    _fsync(directory)
    return target


def backup_catalog(station: Station, cancel: threading.Event | None = None) -> JobResult:
    """One backup run; see the module doc."""
    config = station.config
    directory = config.jobs.backup_path(config.storage.state_dir)
    url = make_url(station.catalog.url)
    now = station.clock()
    try:
        if url.get_backend_name() == "sqlite":
            if not url.database:
                return JobResult("failed", "the catalog is an in-memory SQLite database: "
                                 "nothing to back up")
            target, recordings = backup_sqlite(Path(url.database), directory, now)
            what = f"{recordings} recording(s), integrity ok"
            suffix = ".sqlite3"
        elif url.get_backend_name() == "postgresql":
            target = backup_postgres(station.catalog.url, directory, now,
                                     password_file=station.catalog.password_file)
            what = "pg_dump custom format, readable by pg_restore"
            suffix = ".dump"
        else:
            return JobResult("failed", f"no backup method for a {url.get_backend_name()} "
                             "catalog; back it up with the database's own tools")
    except (OSError, sqlite3.Error, RuntimeError, subprocess.TimeoutExpired) as exc:
        return JobResult("failed", f"catalog backup into {directory} failed: {exc}")
    removed = prune(directory, suffix, config.jobs.backup_keep)
    size = target.stat().st_size
    return JobResult("ok", f"catalog backed up to {target} ({size / 1e6:.1f} MB, {what}); "
                     f"{len(removed)} older backup(s) removed, newest "
                     f"{config.jobs.backup_keep} kept")
