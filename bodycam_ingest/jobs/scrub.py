"""The fixity scrub: re-hash every stored recording, slowly, and keep every result.

A stored copy nobody re-reads can rot for years unnoticed. The scrub reads each live recording's
stored file, compares its SHA-256 with the catalog's, and records the result as a ``FixityCheck``
(source "scrub"). It reads at most ``jobs.scrub_max_mb_per_s`` so that docks keep the disk, in
batches (never the whole table in memory), and in this order:

1. recordings whose latest check failed, so that a restored file is cleared by the next run;
2. then the ones checked longest ago (never-checked first).

A recording checked at or after the run started is not read again in the same run, so a run always
ends. It stops early, with everything so far recorded, when the daemon shuts down (``cancel``,
mid-file) or when ``jobs.scrub_max_hours`` is used up (after the file being read, so every run
makes progress); the next run continues with the oldest checks, so a store too large for one
night is covered over several runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import case, or_, select

from bodycam_ingest.catalog.models import Recording
from bodycam_ingest.custody.fixity import FileHash, hash_file
from bodycam_ingest.jobs.result import JobResult
from bodycam_ingest.retention.fixity_log import record_fixity

if TYPE_CHECKING:
    from pathlib import Path

    from bodycam_ingest.station import Station

log = logging.getLogger("bodycam.jobs.scrub")

BATCH = 1000  # rows per query: a sort of the eligible rows per batch, amortised over the files


class _Stopped(Exception):
    """Raised inside a read when the scrub must stop at once (shutdown)."""


class RateLimiter:
    """At most ``rate`` bytes per second on average, allowing ``burst_s`` seconds of saved credit.

    ``clock`` and ``sleep`` are parameters so that a test drives it in fake time; the scrub passes
    ``cancel.wait`` as ``sleep`` so a shutdown wakes it at once.
    """

    def __init__(self, rate: float | None, *, burst_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        if rate is not None and rate <= 0:
            raise ValueError(f"rate {rate} must be positive (None: unlimited)")
        self.rate = rate
        self.burst_s = burst_s
        self.clock = clock
        self.sleep = sleep
        self._allowed_at: float | None = None  # when the bytes taken so far are paid for
        self.slept = 0.0

    def take(self, count: int) -> None:
        if self.rate is None:
            return
        now = self.clock()
        start = now if self._allowed_at is None else max(self._allowed_at, now - self.burst_s)
        self._allowed_at = start + count / self.rate
        wait = self._allowed_at - now
        if wait > 0:
            self.sleep(wait)
            self.slept += wait


@dataclass
class ScrubTally:
    checked: int = 0
    failed: int = 0
    bytes_read: int = 0
    stopped: str | None = None  # why the run ended before the store was covered


def _judge(station: Station, row: Recording, path: Path, result: FileHash) -> tuple[bool, str]:
    """(ok, source) of one file's check: its hash, or for a recording evicted to the object store
    (its file gone on purpose) the object store's HEAD."""
    if result.error is None:
        return result.sha256 == row.sha256, "scrub"
    if not path.exists() and _evicted_verified(station, row.id):
        return True, "scrub-remote"
    return False, "scrub"


def _evicted_verified(station: Station, recording_id: int) -> bool:
    """True when the recording was evicted to the object store and a HEAD there shows it as
    verified (storage.cache: the local store is a cache of the object store, issue 12)."""
    settings = station.config.storage.object_store
    if settings is None or settings.cache_size is None:
        return False
    from bodycam_ingest.storage.cache import remote_fixity
    from bodycam_ingest.storage.s3 import S3Store

    with station.catalog.reading() as session:
        remote = remote_fixity(session, S3Store(settings), [recording_id])
    return recording_id in remote and remote[recording_id] is None


def _mismatch_alert(recording: Recording, path: str, seen: str | None, error: str | None) -> str:
    problem = (f"its content changed: expected sha256 {recording.sha256}, seen {seen}"
               if seen is not None else f"{error}; expected sha256 {recording.sha256}")
    return (f"recording {recording.id} ({recording.camera_path}) fails its fixity check: stored "
            f"file {path}: {problem}. Restore the file from a verified replica (`bodycam archive` "
            f"copies; `bodycam show {recording.id}` lists them), then re-verify with "
            "`bodycam jobs run fixity-scrub`; the audit fails until it passes")


def scrub(station: Station, cancel: threading.Event | None = None, *,
          limiter: RateLimiter | None = None, monotonic: Callable[[], float] = time.monotonic,
          batch: int = BATCH) -> JobResult:
    """One scrub run; see the module doc."""
    cancel = cancel or threading.Event()
    config = station.config.jobs
    limiter = limiter or RateLimiter(config.scrub_rate(), sleep=cancel.wait)
    budget_end = monotonic() + config.scrub_max_hours * 3600 if config.scrub_max_hours else None
    started = station.clock()
    tally = ScrubTally()
    alerts: list[str] = []

    def on_bytes(count: int) -> None:
        tally.bytes_read += count
        limiter.take(count)
        if cancel.is_set():  # the budget is checked between files: each run makes progress
            raise _Stopped("the station is shutting down")

    root = station.store.root
    failing_first = case((Recording.fixity_ok.is_(False), 0), else_=1)
    query = (select(Recording)
             .where(Recording.deleted_at.is_(None),
                    or_(Recording.fixity_checked_at.is_(None),
                        Recording.fixity_checked_at < started))
             .order_by(failing_first, Recording.fixity_checked_at.asc().nulls_first(),
                       Recording.id)
             .limit(batch))
    while tally.stopped is None:
        with station.catalog.reading() as session:
            rows = list(session.scalars(query))
        if not rows:
            break
        for row in rows:
            path = root / row.store_path
            try:
                result = hash_file(path, on_bytes)
            except _Stopped as stop:
                tally.stopped = str(stop)
                break
            ok, source = _judge(station, row, path, result)
            at = max(station.clock(), started)  # never before the run: the run must end
            with station.catalog.session() as session:
                recording = session.get(Recording, row.id)
                if recording is None or recording.deleted_at is not None:
                    continue  # deleted by a retention run meanwhile
                record_fixity(session, recording, ok=ok, sha256_seen=result.sha256,
                              error=None if ok else result.error, source=source,
                              actor=station.actor, at=at)
            tally.checked += 1
            if not ok:
                tally.failed += 1
                alerts.append(_mismatch_alert(row, str(path), result.sha256, result.error))
                log.error("fixity scrub: recording %d (%s) failed: %s", row.id, path,
                          result.error or f"sha256 {result.sha256} != {row.sha256}")
            if cancel.is_set():
                tally.stopped = "the station is shutting down"
                break
            if budget_end is not None and monotonic() >= budget_end:
                tally.stopped = f"its time budget of {config.scrub_max_hours:g} h was used up"
                break
    summary = (f"{tally.checked} stored file(s) re-hashed ({tally.bytes_read / 1e6:.1f} MB), "
               f"{tally.failed} failed")
    if tally.stopped:
        summary += f"; stopped early ({tally.stopped}): the next run continues with the oldest"
    return JobResult.from_alerts(summary, alerts)

