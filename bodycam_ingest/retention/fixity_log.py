"""Recording a re-hash of a stored copy: one ``FixityCheck`` row, and the recording's latest result.

Every re-hash that decides something (the weekly scrub, a retention run before it deletes,
``bodycam verify``) is kept, so the audit and the retention decision both see the newest result.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bodycam_ingest.catalog.models import Recording
from bodycam_ingest.catalog.retention_models import FixityCheck


def record_fixity(session: Session, recording: Recording, *, ok: bool, sha256_seen: str | None,
                  error: str | None, source: str, actor: str, at: datetime) -> FixityCheck:
    """Append the check and make it the recording's latest result (in the caller's transaction)."""
    check = FixityCheck(recording_id=recording.id, checked_at=at, ok=ok, sha256_seen=sha256_seen,
                        error=error, source=source, actor=actor)
    session.add(check)
    recording.fixity_ok = ok
    recording.fixity_checked_at = at
    return check
