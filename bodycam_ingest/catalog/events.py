"""The one place that appends to the event log (the custody chain will hook in here)."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bodycam_ingest.catalog.models import Event

log = logging.getLogger("bodycam.events")


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
    row = Event(at=at, actor=actor, action=action, dock_id=dock_id, recording_id=recording_id,
                subject=subject, reason=reason, approved_by=approved_by,
                details=json.dumps(details, sort_keys=True, default=str) if details else None)
    session.add(row)
    parts = [f"action={action}", f"actor={actor}"]
    if dock_id is not None:
        parts.append(f"dock={dock_id}")
    if recording_id is not None:
        parts.append(f"recording={recording_id}")
    if subject:
        parts.append(f"file={subject!r}")
    if reason:
        parts.append(f"reason={reason!r}")
    if details:
        parts.append(json.dumps(details, sort_keys=True, default=str, ensure_ascii=False))
    log.info(" ".join(parts))
    return row
