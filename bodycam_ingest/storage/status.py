"""The replication lag as ``bodycam status`` shows it (one line, and the numbers for --json)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from bodycam_ingest.storage import queue

if TYPE_CHECKING:
    from bodycam_ingest.config import Config


def object_store_json(session: Session, config: Config, now: datetime) -> dict[str, Any] | None:
    """None without ``[storage.object_store]``."""
    settings = config.storage.object_store
    if settings is None:
        return None
    lag = queue.lag(session, now, timedelta(seconds=settings.deadline_seconds))
    where = f"s3://{settings.bucket}/{settings.prefix}"
    if lag.pending == 0:
        line = f"Object store {where}: all {lag.done} recording(s) verified there."
    else:
        line = (f"Object store {where}: {lag.pending} of {lag.live} recording(s) waiting, oldest "
                f"ingested {lag.seconds(now) / 3600:.1f} h ago; {lag.overdue} past the "
                f"{settings.replication_deadline_hours:g} h deadline, {lag.failed} failed.")
    return {"target": where, "live": lag.live, "verified": lag.done, "waiting": lag.pending,
            "failed": lag.failed, "overdue": lag.overdue, "lag_seconds": lag.seconds(now),
            "line": line}
