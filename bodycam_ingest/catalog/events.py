"""The one place that appends to the event log, which is the hash-chained custody log.

Every event takes the next sequence number and links to the digest of the entry before it, inside
the caller's write transaction, with the chain head locked: two writers can never both take the
same ``seq`` (``custody.eventlog.lock_head``). The row is logged once the caller commits.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.models import Event
from bodycam_ingest.custody.chain import entry_digest
from bodycam_ingest.custody.eventlog import lock_head
from bodycam_ingest.custody.logfields import event_fields

log = logging.getLogger("bodycam.events")
_PENDING = "bodycam.events.pending"  # Session.info key: lines to log when the session commits


@event.listens_for(Session, "after_commit")
def _log_committed(session: Session) -> None:
    for line in session.info.pop(_PENDING, ()):
        log.info(line)


@event.listens_for(Session, "after_rollback")
def _drop_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


def record_event(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    dock_id: int | None = None,
    recording_id: int | None = None,
    subject: str | None = None,
    reason: str | None = None,
    approved_by: str | None = None,
    details: dict[str, Any] | None = None,
) -> Event:
    """Append an event in the caller's transaction; it is logged once the caller commits."""
    text = json.dumps(details, sort_keys=True, default=str, ensure_ascii=False) if details else None
    head = lock_head(session)
    seq = head.seq + 1
    fields = event_fields(at=at, actor=actor, action=action, dock_id=dock_id,
                          recording_id=recording_id, subject=subject, reason=reason,
                          approved_by=approved_by, details=text)
    digest = entry_digest(head.digest, seq, fields)
    row = Event(at=at, actor=actor, action=action, dock_id=dock_id, recording_id=recording_id,
                subject=subject, reason=reason, approved_by=approved_by, details=text,
                seq=seq, prev_digest=head.digest, digest=digest)
    session.add(row)
    head.seq, head.digest = seq, digest
    session.flush()  # the row takes its id now, so stored order is sequence order
    parts = [f"seq={seq}", f"action={action}", f"actor={actor}"]
    if dock_id is not None:
        parts.append(f"dock={dock_id}")
    if recording_id is not None:
        parts.append(f"recording={recording_id}")
    if subject:
        parts.append(f"file={subject!r}")
    if reason:
        parts.append(f"reason={reason!r}")
    if approved_by:
        parts.append(f"approved_by={approved_by!r}")
    if details:
        parts.append(json.dumps(details, sort_keys=True, default=str, ensure_ascii=False))
    session.info.setdefault(_PENDING, []).append(" ".join(parts))
    return row
