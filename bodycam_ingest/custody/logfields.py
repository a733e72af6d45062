"""What a custody-log entry's digest covers, as a pure function (no model import, so the 0003
migration can chain old events with exactly the code that chains new ones).

The digest covers the fields exactly as they read back from the database: ``at`` as its RFC 3339
UTC spelling, ``details`` as the stored JSON text (a string, so a float in some detail never meets
the integer-only canonical JSON), everything else as stored.
"""

from __future__ import annotations

from datetime import datetime

from bodycam_ingest.custody.manifest import JsonValue, format_timestamp


def event_fields(*, at: datetime, actor: str, action: str, dock_id: int | None,
                 recording_id: int | None, subject: str | None, reason: str | None,
                 approved_by: str | None, details: str | None) -> dict[str, JsonValue]:
    return {"at": format_timestamp(at), "actor": actor, "action": action, "dock_id": dock_id,
            "recording_id": recording_id, "subject": subject, "reason": reason,
            "approved_by": approved_by, "details": details}
