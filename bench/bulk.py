"""What the benchmarks share to build big catalogs fast: bulk INSERTs into the migrated schema,
with the one device and the one finished dock every bench recording points at.

Since issue 9 the signed record is the source of truth: the audit replays the custody log and the
signed manifests and names every catalog row that neither recorded. A catalog that is to audit
clean (``bench/audit.py``) therefore also gets, through ``BulkLog``, the custody entries the
product would have written: the dock's start and end (``open_bulk(log=...)``) and one
``recording_ingested`` per copied file (``BulkLog.ingested``), chained with the product's own
``entry_digest`` and written in one ``executemany`` with the chain head.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_ACTOR = "bench"
BENCH_SOURCE = "/bench"
BENCH_DEVICE = "usb:bench"
BENCH_STATION = "bench-station"  # station.id of the benches' configs (rows name their station)


def ts(moment: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME spelling (naive UTC), so the product reads what we write."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class BulkLog:
    """Custody-log entries for a bulk-written catalog, chained as ``catalog.events.record_event``
    chains them (``logfields.event_fields`` + ``chain.entry_digest``), written by ``write``."""

    def __init__(self, station: str = BENCH_STATION) -> None:
        from bodycam_ingest.custody.chain import GENESIS

        self.station = station
        self.seq = 0
        self.digest = GENESIS
        self.rows: list[tuple[Any, ...]] = []

    def add(self, at: datetime, action: str, *, dock_id: int | None = None,
            recording_id: int | None = None, subject: str | None = None,
            reason: str | None = None, details: dict[str, Any] | None = None) -> None:
        from bodycam_ingest.custody.chain import entry_digest
        from bodycam_ingest.custody.logfields import event_fields

        text = (json.dumps(details, sort_keys=True, default=str, ensure_ascii=False)
                if details else None)
        seq = self.seq + 1
        fields = event_fields(at=at, actor=BENCH_ACTOR, action=action, dock_id=dock_id,
                              recording_id=recording_id, subject=subject, reason=reason,
                              approved_by=None, details=text)
        digest = entry_digest(self.digest, seq, fields)
        self.rows.append((seq, ts(at), BENCH_ACTOR, action, dock_id, recording_id, subject,
                          reason, text, seq, self.digest, digest))
        self.seq, self.digest = seq, digest

    def ingested(self, at: datetime, recording_id: int, camera_path: str, sha256: str,
                 size: int, dock_id: int = 1) -> None:
        """What the journal logs when a copied file becomes a new recording (and its sighting)."""
        self.add(at, "recording_ingested", dock_id=dock_id, recording_id=recording_id,
                 subject=camera_path, details={"sha256": sha256, "size": size})

    def write(self, db: sqlite3.Connection) -> None:
        """The entries and the chain head, in the caller's transaction (before anything the
        product logs itself, e.g. signing the dock's manifest)."""
        db.executemany("INSERT INTO events (id, at, actor, action, dock_id, recording_id, subject,"
                       " reason, details, seq, prev_digest, digest, station_id) VALUES "
                       "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       [(*row, self.station) for row in self.rows])
        db.execute("DELETE FROM custody_chain_head WHERE station_id = ?", (self.station,))
        db.execute("INSERT INTO custody_chain_head (seq, digest, station_id) VALUES (?, ?, ?)",
                   (self.seq, self.digest, self.station))
        self.rows.clear()


def open_bulk(state: Path, now: datetime, *, rule: str = "bench-cam", files: int = 0,
              size: int = 0, fast: bool = False, log: BulkLog | None = None,
              station: str = BENCH_STATION) -> sqlite3.Connection:
    """The station's catalog (migrated first), a transaction begun, device 1 and dock 1 (which
    brought ``files`` files of ``size`` bytes in all) inserted; the caller inserts the rest and
    commits. ``fast``: synchronous=OFF (a throwaway catalog). ``log``: the dock's start and end
    are added to it, as the journal logs them (the caller writes it before committing). Every
    per-station row the caller inserts names ``station`` (its config's station.id) too."""
    from bodycam_ingest.catalog.db import open_catalog

    path = state / "catalog.sqlite3"
    open_catalog(f"sqlite:///{path}").close()
    db = sqlite3.connect(path, isolation_level=None)
    if fast:
        db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    db.execute("INSERT INTO devices (id, key, kind, first_seen, last_seen) VALUES "
               "(1, ?, 'usb', ?, ?)", (BENCH_DEVICE, ts(now), ts(now)))
    db.execute("INSERT INTO docks (id, device_id, camera_rule, trigger, source, actor, host, pid, "
               "lock_token, started_at, updated_at, finished_at, outcome, files_total, files_done,"
               " files_skipped, files_rejected, files_failed, files_wiped, bytes_total, bytes_done,"
               " station_id) VALUES (1, 1, ?, 'cli', ?, ?, 'bench', 1, 'bench', ?, ?, ?, "
               "'complete', ?, ?, 0, 0, 0, 0, ?, ?, ?)",
               (rule, BENCH_SOURCE, BENCH_ACTOR, ts(now), ts(now), ts(now), files, files, size,
                size, station))
    if log is not None:
        log.add(now, "dock_started", dock_id=1, subject=BENCH_SOURCE,
                details={"device": BENCH_DEVICE, "trigger": "cli", "rule": rule, "mount": None})
    return db


def finish_bulk_dock(log: BulkLog, now: datetime) -> None:
    """The dock's end, as the journal logs it (after its files)."""
    log.add(now, "dock_finished", dock_id=1, details={"outcome": "complete"})
