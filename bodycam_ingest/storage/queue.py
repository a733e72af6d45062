"""The replication queue: which recordings must reach the object store, and what became of them.

Plain SQL over ``replications`` and ``recordings``, each step one short transaction (never held
across an upload). The invariant the tests kill the worker to check: every live recording is either
``done`` (verified on the object store) or has a row still to do, because ``enqueue`` derives the
rows from the recordings table in one statement and a row becomes ``done`` only in the transaction
that records its verification.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.orm import Session

from bodycam_ingest.catalog import scope
from bodycam_ingest.catalog.models import Recording
from bodycam_ingest.catalog.storage_models import Replication

QUEUED, DONE, FAILED, DELETED = "queued", "done", "failed", "deleted"


def enqueue(session: Session, target: str, now: datetime) -> int:
    """Queue every live recording of the session's station that has no row yet; returns how
    many were queued (an INSERT ... SELECT names its station itself: ``catalog.scope``)."""
    station = scope.station_of(session)
    missing = (select(Recording.id, Recording.sha256, Recording.size, literal(target),
                      literal(QUEUED), literal(now), literal(0), literal(now), literal(False),
                      literal(station))
               .outerjoin(Replication, Replication.recording_id == Recording.id)
               .where(Replication.id.is_(None), Recording.deleted_at.is_(None),
                      Recording.station_id == station))
    result = session.execute(insert(Replication).from_select(
        ["recording_id", "sha256", "size", "target", "state", "queued_at", "attempts",
         "next_attempt_at", "legal_hold", "station_id"], missing))
    return int(getattr(result, "rowcount", 0) or 0)


def due(session: Session, now: datetime, limit: int = 50) -> list[Replication]:
    """Rows to attempt now, oldest first (deleted recordings are not uploaded)."""
    return list(session.scalars(
        select(Replication).join(Recording, Recording.id == Replication.recording_id)
        .where(Replication.state == QUEUED, Replication.next_attempt_at <= now,
               Recording.deleted_at.is_(None))
        .order_by(Replication.next_attempt_at, Replication.id).limit(limit)))


def next_attempt(session: Session) -> datetime | None:
    return session.scalar(select(func.min(Replication.next_attempt_at))
                          .where(Replication.state == QUEUED))


def replicated(session: Session, digests: Iterable[str]) -> bool:
    """True when every one of ``digests`` is verified on the object store (the camera-wipe gate).

    An empty list is True; a digest without a ``done`` row (not queued yet, queued, failed) is not.
    """
    wanted = set(digests)
    if not wanted:
        return True
    done: set[str] = set()
    items = sorted(wanted)
    for start in range(0, len(items), 500):
        done.update(session.scalars(select(Replication.sha256).where(
            Replication.sha256.in_(items[start:start + 500]), Replication.state == DONE)))
    return done >= wanted


@dataclass(frozen=True)
class Lag:
    """How far the object store is behind the station (for status and the audit)."""

    live: int  # live recordings
    done: int  # verified on the object store
    pending: int  # live recordings not verified there yet (queued, failed or not yet queued)
    failed: int
    oldest_pending_since: datetime | None  # ingest time of the oldest not-yet-verified recording
    overdue: int  # pending longer than the deadline

    def seconds(self, now: datetime) -> float:
        if self.oldest_pending_since is None:
            return 0.0
        return max(0.0, (now - self.oldest_pending_since).total_seconds())


def lag(session: Session, now: datetime, deadline: timedelta) -> Lag:
    live = Recording.deleted_at.is_(None)
    total = session.scalar(select(func.count()).select_from(Recording).where(live)) or 0
    done = session.scalar(select(func.count()).select_from(Replication)
                          .join(Recording, Recording.id == Replication.recording_id)
                          .where(live, Replication.state == DONE)) or 0
    failed = session.scalar(select(func.count()).select_from(Replication)
                            .join(Recording, Recording.id == Replication.recording_id)
                            .where(live, Replication.state == FAILED)) or 0
    pending_q = (select(Recording.ingested_at)
                 .outerjoin(Replication, Replication.recording_id == Recording.id)
                 .where(live, (Replication.id.is_(None)) | (Replication.state != DONE)))
    oldest = session.scalar(select(func.min(pending_q.subquery().c.ingested_at)))
    overdue = session.scalar(select(func.count()).select_from(
        pending_q.where(Recording.ingested_at < now - deadline).subquery())) or 0
    return Lag(live=total, done=done, pending=total - done, failed=failed,
               oldest_pending_since=oldest if oldest is None or oldest.tzinfo else
               oldest.replace(tzinfo=now.tzinfo), overdue=overdue)


def overdue_unalerted(session: Session, now: datetime, deadline: timedelta) -> list[Replication]:
    """Rows not done whose recording was ingested more than ``deadline`` ago and not yet alerted."""
    return list(session.scalars(
        select(Replication).join(Recording, Recording.id == Replication.recording_id)
        .where(Replication.state.in_((QUEUED, FAILED)), Replication.alerted_at.is_(None),
               Recording.deleted_at.is_(None), Recording.ingested_at < now - deadline)
        .order_by(Replication.id)))


def mark_alerted(session: Session, ids: list[int], now: datetime) -> None:
    if ids:
        session.execute(update(Replication).where(Replication.id.in_(ids)).values(alerted_at=now))
