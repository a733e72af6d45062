"""Recordings: list (newest first, scoped), show (every viewing is registered, R6)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bodycam_ingest.api.handlers import show_parts
from bodycam_ingest.api.registry import Ctx, handler
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.models import Recording, row_dict
from bodycam_ingest.catalog.queries import (
    RecordingFilter,
    events_of,
    recordings_query,
    session_neighbours,
    sightings_of,
)
from bodycam_ingest.errors import BadRequest, NotFound

RecordingId = Annotated[int, Field(ge=1, le=2**31 - 1)]  # INTEGER keys: 32 bits on PostgreSQL


def recording_json(row: Recording, retention: dict[str, Any] | None = None) -> dict[str, Any]:
    data = row_dict(row)
    data.pop("probe_json", None)
    if retention is not None:
        data["retention"] = dict(retention)
    return data


def local_time(value: str | None, zone: str, what: str) -> datetime | None:
    """A date or date-time as a person types it, in the station's zone, as aware UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(problem=f"{what} {value!r} is not a date; use YYYY-MM-DD or "
                         "YYYY-MM-DDTHH:MM") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(zone))).astimezone(UTC)


def scoped(ctx: Ctx, flt: RecordingFilter) -> RecordingFilter:
    """An officer (scope OWN) sees only recordings bearing their own officer number."""
    if not ctx.own_only:
        return flt
    mine = ctx.principal.officer_number or "\x00no officer number"
    if flt.officer not in (None, mine):
        mine = "\x00another officer"
    return RecordingFilter(device=flt.device, officer=mine, since=flt.since, until=flt.until,
                           status=flt.status, limit=flt.limit, newest_first=flt.newest_first)


def visible(ctx: Ctx, session: Session, recording_id: int) -> Recording:
    """The recording if the caller may see it; otherwise NotFound, the same answer as for a
    recording that does not exist (an officer learns nothing of others' recordings), and the
    refused attempt is registered in the custody log."""
    row = session.get(Recording, recording_id)
    if row is not None and (not ctx.own_only
                            or (ctx.principal.officer_number is not None
                                and row.name_officer == ctx.principal.officer_number)):
        return row
    if row is not None:
        with ctx.station.catalog.session() as writing:
            record_event(writing, at=ctx.now(), actor=ctx.actor, action="access_refused",
                         recording_id=recording_id, reason="not the caller's own recording")
    raise NotFound(what="Recording", ident=recording_id, hint="List recordings with: bodycam list")


@handler("recordings.list")
def list_recordings(ctx: Ctx, device: str | None = None, officer: str | None = None,
                    since: str | None = None, until: str | None = None,
                    state: str | None = None,
                    limit: Annotated[int, Field(ge=1, le=1_000_000)] = 1000) -> dict[str, Any]:
    """Newest first; ``total`` is how many match, ``items`` the first ``limit`` of them."""
    zone = ctx.station.config.station.zone
    flt = scoped(ctx, RecordingFilter(device=device, officer=officer,
                                      since=local_time(since, zone, "since"),
                                      until=local_time(until, zone, "until"),
                                      status=state, limit=limit, newest_first=True))
    with ctx.station.catalog.reading() as session:
        rows = list(session.scalars(recordings_query(flt)))
        count = recordings_query(flt).limit(None).order_by(None).with_only_columns(
            func.count(Recording.id))
        total = session.scalar(count) or 0
        retention = show_parts.list_retention(session, rows)  # bulk, not per row
        items = [recording_json(row, retention[row.id]) for row in rows]
    return {"total": total, "items": items}


@handler("recordings.show")
def show_recording(ctx: Ctx, recording_id: RecordingId) -> dict[str, Any]:
    """Everything known about one recording; the viewing is a custody-log entry (R6)."""
    station = ctx.station
    with station.catalog.reading() as session:
        row = visible(ctx, session, recording_id)
        data = recording_json(row)
        data["store_file"] = str(station.store.root / row.store_path)
        data["sightings"] = [row_dict(s) for s in sightings_of(session, recording_id)]
        data["events"] = [row_dict(e) for e in events_of(session, recording_id)]
        neighbours = [n.id for n in session_neighbours(session, row)]
        data["session"] = neighbours
        place = show_parts.session_place(session, row)
        data.update(show_parts.json_parts(session, row, place))
        pairs = show_parts.pairs(session, row, ctx.now(), place)
    with station.catalog.session() as session:  # R6: every viewing is registered
        record_event(session, at=ctx.now(), actor=ctx.actor, action="recording_viewed",
                     recording_id=recording_id)
    data["display"] = [[key, _text(value)] for key, value in pairs]
    return data


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def count_recordings(session: Session) -> int:
    return session.scalar(select(func.count(Recording.id))) or 0
