"""Audit section 'object store' (issue 12): how far the object store is behind the station.

A note with the replication lag whenever recordings are queued; a finding for every live
recording the worker could not replicate because its local copy no longer matches (that needs a
person). Past-deadline recordings are alerted by the worker, which knows the configured deadline.
Without ``[storage.object_store]`` nothing is queued and the section only counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.models import Recording
from bodycam_ingest.catalog.storage_models import Replication
from bodycam_ingest.storage import queue

if TYPE_CHECKING:
    from bodycam_ingest.custody.audit import AuditInputs, AuditReport

SECTION = "object store"
DEFAULT_DEADLINE = timedelta(hours=24)  # only for the "overdue" count in the lag


def lag_text(lag: queue.Lag, now: datetime) -> str:
    if lag.pending == 0:
        return f"object store: all {lag.done} live recording(s) verified there"
    hours = lag.seconds(now) / 3600
    return (f"object store: {lag.done} of {lag.live} live recording(s) verified there, "
            f"{lag.pending} waiting (oldest ingested {hours:.1f} h ago), {lag.failed} failed")


def check(session: Session, inputs: AuditInputs, keyring: Mapping[str, Ed25519PublicKey],
          report: AuditReport) -> None:
    now = inputs.now or datetime.now(UTC)
    queued_any = session.scalar(select(Replication.id).limit(1)) is not None
    lag = queue.lag(session, now, DEFAULT_DEADLINE)
    report.checked[SECTION] += lag.done
    if not queued_any:
        return
    report.notes.append(lag_text(lag, now))
    for row in session.scalars(select(Replication).join(
            Recording, Recording.id == Replication.recording_id).where(
            Recording.deleted_at.is_(None), Replication.state == queue.FAILED)):
        report.add(SECTION, f"recording {row.recording_id}",
                   f"not replicated: {row.last_error or 'its local copy does not match'}")
