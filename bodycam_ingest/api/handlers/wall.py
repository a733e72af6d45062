"""The dock wall: one tile per camera docked now or lately. No party names, no labels."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select

from bodycam_ingest.api.registry import Ctx, handler
from bodycam_ingest.catalog.analysis_models import FindingRow
from bodycam_ingest.catalog.models import Device, Dock, Recording, Sighting

RECENT = timedelta(minutes=30)  # finished docks stay on the wall this long


def tile_state(dock: Dock) -> str:
    """What the officer must do: wait, undock, or dock again."""
    if dock.outcome is None:
        return "do_not_undock"
    if dock.outcome == "complete":
        return "safe_to_undock"
    return "dock_again"


def progress(dock: Dock, now: datetime) -> dict[str, Any]:
    elapsed = max((now - dock.started_at).total_seconds(), 0.001)
    speed = dock.bytes_done / elapsed
    left = dock.bytes_total - dock.bytes_done
    return {"files_done": dock.files_done, "files_total": dock.files_total - dock.files_skipped,
            "bytes_done": dock.bytes_done, "bytes_total": dock.bytes_total,
            "bytes_per_s": round(speed), "seconds_left": round(left / speed)
            if dock.outcome is None and speed > 0 and left > 0 else None}


@handler("wall.view", action="status.view")
def wall(ctx: Ctx) -> dict[str, Any]:
    now = ctx.now()
    with ctx.station.catalog.reading() as session:
        docks = list(session.scalars(select(Dock).where(or_(
            Dock.outcome.is_(None), Dock.finished_at >= now - RECENT)).order_by(Dock.id.desc())
            .limit(24)))
        ids = [d.id for d in docks]
        officers: dict[int, set[str]] = {}
        devices: dict[int, set[str]] = {}
        for dock_id, officer, device in session.execute(
                select(Sighting.dock_id, Recording.name_officer, Recording.name_device)
                .join(Recording, Recording.id == Sighting.recording_id)
                .where(Sighting.dock_id.in_(ids)).distinct()):
            if officer:
                officers.setdefault(dock_id, set()).add(officer)
            if device:
                devices.setdefault(dock_id, set()).add(device)
        keys = dict(session.execute(select(Device.id, Device.key).where(
            Device.id.in_([d.device_id for d in docks if d.device_id]))).all())
        drift = dict(session.execute(
            select(Sighting.dock_id, func.max(FindingRow.message))
            .join(FindingRow, FindingRow.recording_id == Sighting.recording_id)
            .where(Sighting.dock_id.in_(ids), FindingRow.kind == "clock_drift",
                   FindingRow.current.is_(True)).group_by(Sighting.dock_id)).all())
    tiles = [{"dock": d.id, "state": tile_state(d), "outcome": d.outcome,
              "reason": d.reason if d.outcome not in (None, "complete") else None,
              "officer": sorted(officers.get(d.id, ())), "device": sorted(devices.get(d.id, ()))
              or [keys.get(d.device_id, d.source) if d.device_id else d.source],
              "started_at": d.started_at, "finished_at": d.finished_at,
              "current_file": d.current_file if d.outcome is None else None,
              "clock_warning": drift.get(d.id), **progress(d, now)} for d in docks]
    refused = getattr(ctx.station, "refused_devices", None)
    return {"now": now, "tiles": tiles,
            "refused": list(refused.recent(now)) if refused is not None else []}
