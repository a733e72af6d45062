"""The retention sweep: one run over the catalog, in batches, with every change logged.

Per batch of candidate recordings (``state.candidate_batches``: selected in SQL, never a
full-table loop) the pure ``rules.decide`` says what to do:

* newly due: ``due_since = now`` is stored (the grace period starts), ``retention_due`` logged;
* kept before its grace ended (a hold, a tier, a longer policy): the due mark is cleared,
  ``retention_rescued`` logged, so a later due starts a full grace period again;
* deletable (or past its grace but not verified recently): the stored copy is re-hashed now,
  then ``deletion.delete_checked`` decides again on fresh state inside one write transaction
  and writes tombstone, ``deleted_at`` and ``recording_deleted``; the file goes after the
  commit. A failed re-hash keeps the recording and raises an alert.

At the start a run completes what an interrupted run left (files still present, tombstones not
yet signed); at the end it signs one deletion manifest for its deletions. Without the station
key nothing is deleted (deletion without a signed manifest is not allowed); due marks still are.
A ``RetentionRun`` row and one ``retention_run`` custody entry record every run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update

from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.models import Recording
from bodycam_ingest.catalog.retention_models import RetentionRun
from bodycam_ingest.custody.fixity import FileHash, hash_files
from bodycam_ingest.custody.service import load_station_key, manifest_dir
from bodycam_ingest.errors import BodycamError, JobAlreadyRunning
from bodycam_ingest.ingest.locks import try_lock
from bodycam_ingest.retention import deletion, deletion_manifest
from bodycam_ingest.retention.rules import Decision, Kind, RecordingState, Why, decide_unchecked
from bodycam_ingest.retention.service import SessionFactory, attention_rows, settle_policy
from bodycam_ingest.retention.state import RecordingRow, candidate_batches, states_for, tier_cutoffs

if TYPE_CHECKING:
    from bodycam_ingest.station import Station

log = logging.getLogger("bodycam.retention")


@dataclass
class SweepReport:
    run_id: int
    trigger: str
    started_at: datetime
    policy_digest: str
    finished_at: datetime | None = None
    examined: int = 0
    newly_due: int = 0
    rescued: int = 0
    rehashed: int = 0
    deleted: list[int] = field(default_factory=list)
    kept_with_alert: int = 0
    leftovers_removed: int = 0
    manifests: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    pending_policy: tuple[str, ...] = ()
    refused: str | None = None  # why nothing could be deleted (no key)
    error: str | None = None  # the run failed part-way (what was done is committed)

    @property
    def outcome(self) -> str:
        if self.error is not None:
            return "failed"
        return "alerts" if self.alerts else "ok"

    def summary(self) -> str:
        text = (f"retention run {self.run_id}: {self.examined} examined, {self.newly_due} newly "
                f"due, {self.rescued} rescued, {len(self.deleted)} deleted, "
                f"{self.kept_with_alert} kept with an alert")
        if self.pending_policy:
            text += f"; policy shortening waiting for approval ({'; '.join(self.pending_policy)})"
        return text


def lock_path(station: Station) -> Path:
    return station.config.storage.runtime / "locks" / "retention-sweep.lock"


def run_sweep(station: Station, *, trigger: str) -> SweepReport:
    """One retention run. One run at a time per station: an flock, which the kernel drops when
    a process dies (the scheduler's job lock is a different file: both may be held)."""
    path = lock_path(station)
    lock = try_lock(path)
    if lock is None:
        raise JobAlreadyRunning(job="retention sweep", path=str(path))
    with lock:
        return _Sweep(station, trigger).run()


class _Sweep:
    def __init__(self, station: Station, trigger: str) -> None:
        self.station = station
        self.trigger = trigger
        self.now = station.clock()
        self.actor = station.actor
        self.store_root = station.store.root
        self.manifest_dir = manifest_dir(station.config)
        self.key: Ed25519PrivateKey | None = None
        self.key_problem = ""

    def run(self) -> SweepReport:
        station, now = self.station, self.now
        with station.catalog.session() as session:
            state = settle_policy(session, station.config.retention.policy(), actor=self.actor,
                                  at=now)
            run = RetentionRun(started_at=now, actor=self.actor, trigger=self.trigger[:16],
                               policy_digest=state.digest, examined=0, newly_due=0, deleted=0,
                               kept_with_alert=0)
            session.add(run)
            session.flush()
            run_id = run.id
        self.policy = state.effective
        report = SweepReport(run_id, self.trigger, now, state.digest, pending_policy=state.shortened)
        self.report = report
        self.ctx = deletion.RunContext(run_id, self.actor, now, state.effective, state.digest)
        try:
            self.key = load_station_key(station.config)
        except BodycamError as exc:
            self.key_problem = exc.message()
        try:
            self._finish_interrupted()
            self._sweep()
            self._sign(run_id)
        except Exception as exc:  # recorded on the run; the next run completes what it left
            log.exception("retention run %d failed", run_id)
            report.error = f"{type(exc).__name__}: {exc}"
        self._close()
        return report

    # -- steps --------------------------------------------------------------------------------
    def _finish_interrupted(self) -> None:
        """Complete what a crashed or failed run left: files still present, unsigned tombstones."""
        report = self.report
        with self.station.catalog.reading() as session:
            leftovers = deletion.leftover_digests(session, report.run_id)
        if leftovers:
            removed, problems = deletion.remove_leftovers(self.store_root,
                                                          [sha for _run, sha in leftovers])
            report.leftovers_removed += removed
            report.alerts.extend(problems)
            runs = sorted({run for run, _sha in leftovers})
            with self.station.catalog.session() as session:
                session.execute(update(RetentionRun).where(
                    RetentionRun.id.in_(runs), RetentionRun.outcome.is_(None)).values(
                    outcome="failed", finished_at=self.now,
                    error=f"interrupted (crash or kill); completed by run {report.run_id}"))
                if removed:
                    record_event(session, at=self.now, actor=self.actor,
                                 action="retention_leftovers_removed",
                                 reason="deleted by an interrupted run; its stored files remained",
                                 details={"runs": runs, "files": removed,
                                          "run_id": report.run_id})
        with self.station.catalog.reading() as session:
            pending = [r for r in deletion_manifest.pending_runs(session) if r != report.run_id]
        for run_id in pending:
            self._sign(run_id)

    def _sign(self, run_id: int) -> None:
        if self.key is None:
            return
        with self.station.catalog.session() as session:
            row = deletion_manifest.sign_run(session, manifest_dir=self.manifest_dir,
                                             station_id=self.station.config.station.id,
                                             run_id=run_id, private_key=self.key, now=self.now)
            if row is not None:
                self.report.manifests.append(f"{deletion_manifest.DIRECTORY}/{row.file_name}.json")

    def _sweep(self) -> None:
        sessions: SessionFactory = self.station.catalog.reading
        # every recording past its period (to mark it due), not only the deletable ones
        cutoffs = tier_cutoffs(self.policy, self.now, horizon_days=self.policy.grace_days)
        for rows in candidate_batches(sessions, cutoffs, include_due=True):
            self._batch(rows)
        with sessions() as session:
            extra = attention_rows(session, self.now, cutoffs)
        for part in range(0, len(extra), 500):
            self._batch(extra[part:part + 500])

    def _batch(self, rows: list[RecordingRow]) -> None:
        report, now = self.report, self.now
        with self.station.catalog.reading() as session:
            states = states_for(session, rows)
        report.examined += len(states)
        marks: list[tuple[RecordingState, Decision]] = []
        to_check: list[int] = []
        for state in states:
            decision = decide_unchecked(state, self.policy, now)
            if decision.due_since != state.due_since:
                marks.append((state, decision))
            if decision.kind is Kind.DELETE or decision.why is Why.FIXITY_UNKNOWN:
                to_check.append(state.id)
            else:
                self._alerts(decision)
        if marks:
            self._mark(marks)
        if to_check and self.key is not None:
            self._delete(to_check, {row.id: row for row in rows})
        elif to_check:
            report.kept_with_alert += len(to_check)
            if report.refused is None:
                report.refused = ("nothing was deleted: deletion without a signed deletion "
                                  f"manifest is not allowed, and {self.key_problem}")
                report.alerts.append(report.refused)

    def _alerts(self, decision: Decision) -> None:
        if decision.alerts:
            self.report.kept_with_alert += 1
            self.report.alerts.extend(decision.alerts)

    def _mark(self, marks: list[tuple[RecordingState, Decision]]) -> None:
        """Store each decision's due mark: newly due starts the grace clock, cleared is rescued."""
        report, now = self.report, self.now
        with self.station.catalog.session() as session:
            for state, decision in marks:
                session.execute(update(Recording).where(Recording.id == state.id,
                                                        Recording.deleted_at.is_(None))
                                .values(due_since=decision.due_since))
                if decision.due_since is None:
                    report.rescued += 1
                    record_event(session, at=now, actor=self.actor, action="retention_rescued",
                                 recording_id=state.id, reason=decision.rule,
                                 details={"run_id": report.run_id, "was_due_since": state.due_since,
                                          "why": decision.why.value})
                else:
                    report.newly_due += 1
                    record_event(session, at=now, actor=self.actor, action="retention_due",
                                 recording_id=state.id, reason=decision.rule,
                                 details={"run_id": report.run_id,
                                          "due_since": decision.due_since,
                                          "deletable_at": decision.deletable_at,
                                          "policy_digest": report.policy_digest})

    def _delete(self, ids: list[int], rows: dict[int, RecordingRow]) -> None:
        """Re-hash now, then decide again and delete in one transaction, then unlink."""
        report = self.report
        with self.station.catalog.reading() as session:
            digests = dict(session.execute(select(Recording.id, Recording.sha256)
                                           .where(Recording.id.in_(ids))).all())
        paths = [deletion.stored_path(self.store_root, digests[i]) for i in ids if i in digests]
        present = [i for i in ids if i in digests]
        hashes: dict[int, FileHash] = dict(zip(present, hash_files(
            paths, workers=self.station.config.custody.hash_workers), strict=True))
        report.rehashed += len(hashes)
        with self.station.catalog.session() as session:
            deleted, decisions = deletion.delete_checked(session, present, hashes, self.ctx)
            for decision in decisions:  # a fresh due mark (e.g. a hold released meanwhile)
                if decision.kind is not Kind.DELETE and decision.due_since != rows[
                        decision.recording_id].due_since:
                    session.execute(update(Recording).where(Recording.id == decision.recording_id)
                                    .values(due_since=decision.due_since))
        for decision in decisions:
            if decision.kind is not Kind.DELETE:
                self._alerts(decision)
        report.deleted.extend(d.recording_id for d in deleted)
        _removed, problems = deletion.remove_stored(self.store_root, [d.sha256 for d in deleted])
        if problems:
            report.alerts.extend(problems)
            report.error = problems[0]

    def _close(self) -> None:
        report = self.report
        report.finished_at = self.station.clock()
        try:
            with self.station.catalog.session() as session:
                session.execute(update(RetentionRun).where(RetentionRun.id == report.run_id).values(
                    finished_at=report.finished_at, examined=report.examined,
                    newly_due=report.newly_due, deleted=len(report.deleted),
                    kept_with_alert=report.kept_with_alert, outcome=report.outcome,
                    error=report.error))
                record_event(session, at=self.now, actor=self.actor, action="retention_run",
                             subject=f"run {report.run_id}", reason=report.refused,
                             details={"run_id": report.run_id, "trigger": report.trigger,
                                      "outcome": report.outcome, "examined": report.examined,
                                      "newly_due": report.newly_due, "rescued": report.rescued,
                                      "deleted": len(report.deleted), "rehashed": report.rehashed,
                                      "kept_with_alert": report.kept_with_alert,
                                      "alerts": len(report.alerts),
                                      "manifests": report.manifests,
                                      "policy_digest": report.policy_digest,
                                      "pending_policy": list(report.pending_policy),
                                      "error": report.error})
        except Exception:
            log.exception("retention run %d could not be closed", report.run_id)
            raise
