"""What the benchmarks share to build big catalogs fast: bulk INSERTs into the migrated schema,
with the one device and the one finished dock every bench recording points at."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path


def ts(moment: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME spelling (naive UTC), so the product reads what we write."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def open_bulk(state: Path, now: datetime, *, rule: str = "bench-cam", files: int = 0,
              size: int = 0, fast: bool = False) -> sqlite3.Connection:
    """The station's catalog (migrated first), a transaction begun, device 1 and dock 1 (which
    brought ``files`` files of ``size`` bytes in all) inserted; the caller inserts the rest and
    commits. ``fast``: synchronous=OFF (a throwaway catalog)."""
    from bodycam_ingest.catalog.db import open_catalog

    path = state / "catalog.sqlite3"
    open_catalog(f"sqlite:///{path}").close()
    db = sqlite3.connect(path, isolation_level=None)
    if fast:
        db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    db.execute("INSERT INTO devices (id, key, kind, first_seen, last_seen) VALUES "
               "(1, 'usb:bench', 'usb', ?, ?)", (ts(now), ts(now)))
    db.execute("INSERT INTO docks (id, device_id, camera_rule, trigger, source, actor, host, pid, "
               "lock_token, started_at, updated_at, finished_at, outcome, files_total, files_done,"
               " files_skipped, files_rejected, files_failed, files_wiped, bytes_total, bytes_done)"
               " VALUES (1, 1, ?, 'cli', '/bench', 'bench', 'bench', 1, 'bench', ?, ?, ?, "
               "'complete', ?, ?, 0, 0, 0, 0, ?, ?)",
               (rule, ts(now), ts(now), ts(now), files, files, size, size))
    return db
