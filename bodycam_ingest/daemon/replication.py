"""The replication worker: verified local recordings go to the object store, and stay locked there.

One pass (``Replicator.run_once``): queue what is new (``storage.queue.enqueue``), upload and verify
what is due, one recording at a time, each outcome committed in its own short transaction (never
across an upload); extend locks whose tier or holds changed; delete objects of recordings the
retention sweep deleted (the server refuses while the lock lasts); alert on recordings past the
replication deadline. The daemon runs passes on a thread (``ReplicationThread``); a failed upload
(network away, server refusing) is retried with a doubling backoff, and a restart resumes where the
queue stands, because the queue is the catalog.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from sqlalchemy import func, select, update

from bodycam_ingest.catalog.db import Catalog
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.models import Event, Recording
from bodycam_ingest.catalog.storage_models import Replication
from bodycam_ingest.errors import BodycamError
from bodycam_ingest.retention.policy import RetentionPolicy
from bodycam_ingest.retention.state import load_states
from bodycam_ingest.retention.tiering import case_recordings
from bodycam_ingest.storage import queue
from bodycam_ingest.storage.errors import LocalCopyChanged, ObjectLocked
from bodycam_ingest.storage.interface import EvidenceStore, retain_text
from bodycam_ingest.storage.local import LocalStore
from bodycam_ingest.storage.locks import Lock, backoff, desired_lock, merge
from bodycam_ingest.storage.settings import ObjectStoreConfig

if TYPE_CHECKING:
    from bodycam_ingest.ingest.store import EvidenceStore as ContentStore
    from bodycam_ingest.station import Station

log = logging.getLogger("bodycam.replication")
JOB = "replication"
# Custody entries after which a recording's lock may have to change (a recording's or a case's
# tier, a hold, a label moving a recording into a case), and those that may change any lock.
LOCK_CHANGES = ("retention_tier_set", "retention_case_tier_set", "hold_added", "hold_released",
                "label_set")
LOCK_CHANGES_ALL = ("retention_policy_approved", "retention_policy_recorded")

Opener = Callable[[str], AbstractContextManager[BinaryIO]]


@dataclass
class PassReport:
    queued: int = 0
    stored: int = 0
    retried: list[str] = field(default_factory=list)
    failed: int = 0
    relocked: int = 0
    lock_scope: int | str = 0  # recordings whose lock this pass re-checked ("all": full sweep)
    deleted: int = 0
    evicted: int = 0  # local copies evicted (kept on the object store)
    anchors: int = 0  # anchor files (checkpoints, signed manifests) copied this pass
    alerts: list[str] = field(default_factory=list)


class Replicator:
    def __init__(self, catalog: Catalog, remote: EvidenceStore, opener: Opener,
                 config: ObjectStoreConfig, policy: RetentionPolicy, clock: Callable[[], datetime],
                 actor: str, alert: Callable[[list[str]], object] | None = None,
                 anchor_dir: Path | None = None, local: ContentStore | None = None) -> None:
        self.catalog = catalog
        self.local = local  # the station's store, evicted down to config.cache_size
        self.anchor_dir = anchor_dir  # the manifest folder: its anchor files go to the store too
        self._anchored: set[str] = set()  # names known to be on the store (this process)
        self.remote = remote
        self.opener = opener
        self.config = config
        self.policy = policy
        self.clock = clock
        self.actor = actor
        self.alert = alert
        # the custody-log seq the lock check has covered (None: not yet in this process, so the
        # first pass is a full sweep), when the last full sweep ran, updates to retry
        self._lock_seq: int | None = None
        self._swept_at: datetime | None = None
        self._lock_retry: set[int] = set()

    # --- one pass ------------------------------------------------------------------------------
    def run_once(self, cancel: threading.Event | None = None) -> PassReport:
        report = PassReport()
        now = self.clock()
        with self.catalog.session() as session:
            report.queued = queue.enqueue(session, self.remote.name, now)
        with self.catalog.reading() as session:
            rows = [(r.id, r.recording_id, r.sha256, r.size, r.attempts)
                    for r in queue.due(session, now)]
        for row in rows:
            if cancel is not None and cancel.is_set():
                return report
            self._replicate(*row, report=report)
        self._sync_locks(report)
        self._delete_expired(report)
        self._copy_anchors(report)
        self._alert_overdue(report)
        self._evict(report)
        return report

    def _evict(self, report: PassReport) -> None:
        if self.config.cache_size is None or self.local is None:
            return
        from bodycam_ingest.storage.cache import evict

        report.evicted = len(evict(self.catalog, self.local, self.remote, self.config.cache_size,
                                   self.clock, self.actor))

    def _copy_anchors(self, report: PassReport) -> None:
        """Checkpoint files and signed manifests to ``anchors/<station id>/`` on the object
        store, locked for the open-ended window: with them off the station, someone who can
        rewrite the catalog and the manifest folder still cannot rewrite the history the audit
        compares with. Each station of a bureau sharing the bucket has its own folder there. A
        failure is retried next pass (the files stay on the station meanwhile)."""
        put = getattr(self.remote, "put_anchor", None)
        if self.anchor_dir is None or put is None:
            return
        from bodycam_ingest.custody.anchors import anchor_files

        lock = Lock(self.clock() + timedelta(days=self.config.open_ended_lock_days), False)
        for path in anchor_files(self.anchor_dir):
            name = f"{self.catalog.station_id}/{path.relative_to(self.anchor_dir).as_posix()}"
            if name in self._anchored:
                continue
            try:
                if put(name, path.read_bytes(), lock):
                    report.anchors += 1
            except (OSError, BodycamError) as exc:
                reason = exc.message() if isinstance(exc, BodycamError) else str(exc)
                log.warning("anchor %s not copied to the object store yet: %s", name, reason)
                return
            self._anchored.add(name)

    def drain(self, cancel: threading.Event | None = None, passes: int = 100) -> PassReport:
        """Passes until nothing is due now (tests, and ``bodycam`` commands that replicate)."""
        total = PassReport()
        for _ in range(passes):
            report = self.run_once(cancel)
            total.stored += report.stored
            total.queued += report.queued
            total.retried += report.retried
            total.failed += report.failed
            total.anchors += report.anchors
            if not report.stored and not report.queued:
                break
        return total

    def _lock_for(self, recording_id: int, now: datetime) -> Lock:
        with self.catalog.reading() as session:
            states = load_states(session, [recording_id])
        if not states:  # cannot happen for a live row; lock for the open-ended window then
            return Lock(now + timedelta(days=self.config.open_ended_lock_days), False)
        return desired_lock(states[0], self.policy, now, self.config.open_ended_lock_days)

    def _replicate(self, row_id: int, recording_id: int, digest: str, size: int, attempts: int,
                   *, report: PassReport) -> None:
        now = self.clock()
        lock = self._lock_for(recording_id, now)
        try:
            with self.opener(digest) as source:
                stored = self.remote.put(digest, source, size, lock)
        except (LocalCopyChanged, FileNotFoundError) as exc:
            reason = exc.message() if isinstance(exc, BodycamError) else (
                f"the local copy of {digest} is missing ({exc}); run `bodycam audit`")
            log.error("recording %d cannot be replicated: %s", recording_id, reason)
            with self.catalog.session() as session:
                session.execute(update(Replication).where(Replication.id == row_id).values(
                    state=queue.FAILED, attempts=attempts + 1, last_error=reason))
                record_event(session, at=now, actor=self.actor, action="replication_failed",
                             recording_id=recording_id, subject=self.remote.name, reason=reason)
            report.failed += 1
            return
        except (BodycamError, OSError) as exc:  # network away, server refusing, bad checksum
            reason = exc.message() if isinstance(exc, BodycamError) else str(exc)
            wait = backoff(attempts + 1, cap=self.config.max_backoff_seconds)
            log.warning("recording %d not replicated yet (attempt %d, next in %ds): %s",
                        recording_id, attempts + 1, wait.total_seconds(), reason)
            with self.catalog.session() as session:
                session.execute(update(Replication).where(Replication.id == row_id).values(
                    attempts=attempts + 1, last_error=reason[:2000],
                    next_attempt_at=self.clock() + wait))
            report.retried.append(reason)
            return
        done_at = self.clock()
        with self.catalog.session() as session:
            session.execute(update(Replication).where(Replication.id == row_id).values(
                state=queue.DONE, verified_at=done_at, attempts=attempts + 1, last_error=None,
                version_id=stored.version, etag=stored.checksum,
                retain_until=stored.lock.retain_until if stored.lock else None,
                legal_hold=bool(stored.lock and stored.lock.legal_hold)))
            record_event(session, at=done_at, actor=self.actor, action="object_stored",
                         recording_id=recording_id, subject=self.remote.name, details={
                             "sha256": digest, "size": size, "version": stored.version,
                             "etag": stored.checksum,
                             "retain_until": retain_text(stored.lock.retain_until)
                             if stored.lock else None,
                             "legal_hold": bool(stored.lock and stored.lock.legal_hold)})
        report.stored += 1
        log.info("recording %d verified on %s (version %s)", recording_id, self.remote.name,
                 stored.version)

    # --- locks follow retention ------------------------------------------------------------------
    def _changed_since(self, after: int, upto: int) -> set[int] | None:
        """Recordings whose retention or holds changed in custody entries ``after < seq <=
        upto``, or None when an entry may change any of them (a policy change): sweep all."""
        with self.catalog.reading() as session:
            entries = list(session.execute(
                select(Event.action, Event.recording_id, Event.subject)
                .where(Event.seq > after, Event.seq <= upto,
                       Event.action.in_((*LOCK_CHANGES, *LOCK_CHANGES_ALL)))))
            if any(entry.action in LOCK_CHANGES_ALL for entry in entries):
                return None
            ids = {entry.recording_id for entry in entries if entry.recording_id is not None}
            for case in {entry.subject for entry in entries
                         if entry.recording_id is None and entry.subject}:
                ids.update(case_recordings(session, case))  # a case's tier or hold
        return ids

    def _lock_scope(self, now: datetime) -> tuple[set[int] | None, int]:
        """Which recordings this pass re-checks (None: all, the full sweep) and the custody-log
        position it covers: all on the first pass of a process and every ``lock_sweep_hours``
        (open-ended locks to extend, holds that ended on their date), otherwise only those
        named by new protection entries and those whose update failed last time."""
        with self.catalog.reading() as session:
            head = int(session.scalar(select(func.max(Event.seq))) or 0)
        sweep = timedelta(hours=self.config.lock_sweep_hours)
        if self._lock_seq is None or self._swept_at is None or now - self._swept_at >= sweep:
            return None, head
        changed = self._changed_since(self._lock_seq, head)
        if changed is None:
            return None, head
        return changed | self._lock_retry, head

    def _sync_locks(self, report: PassReport) -> None:
        now = self.clock()
        scope, head = self._lock_scope(now)
        report.lock_scope = "all" if scope is None else len(scope)
        if scope is not None and not scope:
            self._lock_seq = head
            return
        query = (select(Replication.id, Replication.recording_id, Replication.sha256,
                        Replication.version_id, Replication.retain_until, Replication.legal_hold)
                 .join(Recording, Recording.id == Replication.recording_id)
                 .where(Replication.state == queue.DONE, Recording.deleted_at.is_(None)))
        with self.catalog.reading() as session:
            if scope is None:
                rows = list(session.execute(query))
            else:
                ordered = sorted(scope)
                rows = [row for start in range(0, len(ordered), 500) for row in session.execute(
                    query.where(Replication.recording_id.in_(ordered[start:start + 500])))]
            states = {s.id: s for s in load_states(session, [r.recording_id for r in rows])}
        days = self.config.open_ended_lock_days
        failed: set[int] = set()
        for row in rows:
            state = states.get(row.recording_id)
            if state is None:
                continue
            current = (Lock(row.retain_until, bool(row.legal_hold))
                       if row.retain_until is not None else None)
            wanted = merge(current, desired_lock(state, self.policy, now, days), now, days)
            if wanted is None:
                continue
            try:
                on_server = self.remote.set_lock(row.sha256, row.version_id, wanted)
            except BodycamError as exc:
                log.warning("lock of recording %d not updated yet: %s", row.recording_id,
                            exc.message())
                failed.add(row.recording_id)
                continue
            if on_server is None:
                continue
            with self.catalog.session() as session:
                session.execute(update(Replication).where(Replication.id == row.id).values(
                    retain_until=on_server.retain_until, legal_hold=on_server.legal_hold))
                record_event(session, at=now, actor=self.actor, action="object_lock_changed",
                             recording_id=row.recording_id, subject=self.remote.name, details={
                                 "retain_until": retain_text(on_server.retain_until),
                                 "legal_hold": on_server.legal_hold})
            report.relocked += 1
        if scope is None:
            self._swept_at = now
        else:
            failed |= self._lock_retry - {row.recording_id for row in rows} - scope
        self._lock_seq, self._lock_retry = head, failed

    # --- deletion follows the retention sweep ----------------------------------------------------
    def _delete_expired(self, report: PassReport) -> None:
        now = self.clock()
        with self.catalog.reading() as session:
            rows = list(session.execute(
                select(Replication.id, Replication.recording_id, Replication.sha256,
                       Replication.version_id, Replication.retain_until)
                .join(Recording, Recording.id == Replication.recording_id)
                .where(Replication.state == queue.DONE, Recording.deleted_at.is_not(None))))
        for row in rows:
            if row.retain_until is not None and row.retain_until > now:
                continue  # the server would refuse; the sweep's grace normally outlasts the lock
            try:
                self.remote.delete(row.sha256, row.version_id)
            except ObjectLocked as exc:
                log.warning("object of deleted recording %d still locked: %s", row.recording_id,
                            exc.message())
                continue
            except BodycamError as exc:
                log.warning("object of deleted recording %d not deleted yet: %s",
                            row.recording_id, exc.message())
                continue
            with self.catalog.session() as session:
                session.execute(update(Replication).where(Replication.id == row.id).values(
                    state=queue.DELETED, deleted_at=now))
                record_event(session, at=now, actor=self.actor, action="object_deleted",
                             recording_id=row.recording_id, subject=self.remote.name,
                             details={"sha256": row.sha256, "version": row.version_id})
            report.deleted += 1

    # --- the deadline ------------------------------------------------------------------------------
    def _alert_overdue(self, report: PassReport) -> None:
        now = self.clock()
        deadline = timedelta(seconds=self.config.deadline_seconds)
        with self.catalog.session() as session:
            rows = queue.overdue_unalerted(session, now, deadline)
            if not rows:
                return
            hours = self.config.replication_deadline_hours
            report.alerts = [
                f"recording {row.recording_id} ({row.sha256[:12]}) has not reached the object "
                f"store {self.remote.name} within {hours:g} h of its ingest"
                + (f": {row.last_error}" if row.last_error else "") for row in rows]
            queue.mark_alerted(session, [row.id for row in rows], now)
        if self.alert is not None:
            self.alert(report.alerts)


class ReplicationThread:
    """Runs ``Replicator`` passes on a thread until stopped (the daemon's part)."""

    def __init__(self, replicator: Replicator, poll_seconds: float) -> None:
        self.replicator = replicator
        self.poll = poll_seconds
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="replication", daemon=False)

    def start(self) -> None:
        self.thread.start()

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self.replicator.run_once(self.stopping)
            except Exception:  # a bug must not stop replication for good; the next pass retries
                log.exception("replication pass failed with an internal error")
            wait = self.poll
            try:
                with self.replicator.catalog.reading() as session:
                    upcoming = queue.next_attempt(session)
                if upcoming is not None:
                    until = (upcoming - datetime.now(UTC)).total_seconds()
                    wait = max(0.5, min(wait, until))
            except Exception:
                log.exception("cannot read the replication queue")
            self.wake.wait(wait)
            self.wake.clear()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        self.thread.join()


def build(station: Station, opener: Opener | None = None) -> Replicator | None:
    """The station's replicator (None without ``[storage.object_store]``); ``opener`` reads a
    stored file by digest (default: the local store; tests pass one that holds mid-way)."""
    from bodycam_ingest.jobs.alerts import raise_alerts
    from bodycam_ingest.storage.s3 import S3Store

    settings = station.config.storage.object_store
    if settings is None:
        return None
    return Replicator(
        station.catalog, S3Store(settings), opener or LocalStore(station.store).open_file,
        settings, station.config.retention.policy(), station.clock, station.actor,
        alert=lambda alerts: raise_alerts(station, JOB, alerts),
        anchor_dir=station.config.custody.manifest_path(station.config.storage.state_dir),
        local=station.store)


def start_for(station: Station) -> ReplicationThread | None:
    """The daemon's hook: a running replication thread when ``[storage.object_store]`` is set."""
    replicator = build(station)
    if replicator is None:
        return None
    worker = ReplicationThread(replicator, replicator.config.poll_seconds)
    worker.start()
    log.info("replicating verified recordings to %s", replicator.remote.name)
    return worker
