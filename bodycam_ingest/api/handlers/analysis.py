"""Continuity analysis: findings (officers: their own recordings), explanations (R4), devices.

Explained and unexplained findings are always given apart: an explanation never hides a finding.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import select

from bodycam_ingest.api.handlers.recordings import RecordingId, visible
from bodycam_ingest.api.registry import Ctx, handler
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.models import Recording
from bodycam_ingest.errors import BadRequest, NotFound

FindingId = Annotated[int, Field(ge=1, le=2**31 - 1)]  # INTEGER keys: 32 bits on PostgreSQL


def _own_recordings(ctx: Ctx) -> set[int] | None:
    """The recordings an officer (scope OWN) may see; None: all of them."""
    if not ctx.own_only:
        return None
    with ctx.station.catalog.reading() as session:
        return set(session.scalars(select(Recording.id).where(
            Recording.name_officer == (ctx.principal.officer_number or "\x00none"))))


@handler("findings.list")
def list_findings(ctx: Ctx, unexplained: bool = False, recording: RecordingId | None = None,
                  kind: str | None = None, history: bool = False) -> dict[str, Any]:
    """Unexplained and explained findings apart, newest first (officers: their own);
    ``findings``: both, unexplained first (one list for the console's queue)."""
    from bodycam_ingest.analysis import views
    from bodycam_ingest.analysis.model import FindingKind

    known = [k.value for k in FindingKind]
    if kind is not None and kind not in known:
        raise BadRequest(problem=f"--kind: {kind!r} is not a finding kind; known: "
                         f"{', '.join(known)}")
    mine = _own_recordings(ctx)
    with ctx.station.catalog.reading() as session:
        if recording is not None:
            visible(ctx, session, recording)
        items = views.findings(session, recording_id=recording, kind=kind, history=history)
    items = [f for f in reversed(items) if mine is None or f.recording_id in mine]
    open_ = [f.as_json() for f in items if not f.explained]
    done = [] if unexplained else [f.as_json() for f in items if f.explained]
    return {"unexplained": open_, "explained": done, "findings": open_ + done}


@handler("findings.explain")
def explain(ctx: Ctx, finding_id: FindingId, reason: str) -> dict[str, Any]:
    """Record why a finding is justified (R4); the finding stays, marked explained. An officer
    explains only findings of their own recordings: another's is "does not exist", logged."""
    from bodycam_ingest.analysis import service
    from bodycam_ingest.catalog.analysis_models import FindingRow

    if not reason.strip():
        raise BadRequest(problem="--reason: say what happened (weather, device fault, "
                         "battery...)")
    mine = _own_recordings(ctx)
    if mine is not None:
        with ctx.station.catalog.reading() as session:
            row = session.get(FindingRow, finding_id)
            recording_id = None if row is None else row.recording_id
        if recording_id is not None and recording_id not in mine:
            with ctx.station.catalog.session() as session:
                record_event(session, at=ctx.now(), actor=ctx.actor, action="access_refused",
                             recording_id=recording_id, subject=f"finding {finding_id}",
                             reason="not the caller's own recording")
            raise NotFound(what="Finding", ident=finding_id,
                           hint="List findings with: bodycam findings")
    view = service.explain(dataclasses.replace(ctx.station, actor=ctx.actor), finding_id, reason)
    return view.as_json()


# --- devices -----------------------------------------------------------------------------------
@handler("devices.list", action="devices.view")
def devices_list(ctx: Ctx) -> list[dict[str, Any]]:
    """Every camera with recordings: how it was docked, its profile, open findings."""
    from bodycam_ingest.analysis import views

    cfg = ctx.station.config.analysis
    with ctx.station.catalog.reading() as session:
        return [dataclasses.asdict(views.device_summary(session, d, d in cfg.profiles,
                                                        cfg.learning.recordings))
                for d in views.devices(session)]


@handler("devices.show", action="devices.view")
def devices_show(ctx: Ctx, device: str) -> dict[str, Any]:
    """One camera: the profile it is judged by, its recordings with verdicts, its docks."""
    from bodycam_ingest.analysis import views

    cfg = ctx.station.config.analysis
    with ctx.station.catalog.reading() as session:
        recs = views.device_recordings(session, device)
        if not recs:
            raise NotFound(what="Device", ident=device, hint="List devices with: bodycam "
                           "devices list")
        summary = views.device_summary(session, device, device in cfg.profiles,
                                       cfg.learning.recordings)
        configured = cfg.profiles.get(device)
        stored = views.latest_profile(session, device, "learned")
        profile: dict[str, Any] | None = None
        if configured is not None:
            profile = {"source": "config", "fields": configured.model_dump(mode="json")}
        elif stored is not None:
            profile = {"source": "learned", "id": stored.id, "updated_at": stored.updated_at,
                       "learned_from": json.loads(stored.learned_from),
                       "fields": json.loads(stored.profile)}
        recordings = [{"id": r.id, "seq": r.name_seq, "start_local": r.name_start_local,
                       "file": r.camera_path, "verdict": views.verdict(session, r.id).summary()}
                      for r in recs]
        docks = [{"id": d.id, "started_at": d.started_at, "outcome": d.outcome,
                  "source": d.source, "files": d.files_total}
                 for d in views.device_docks(session, recs)]
    return {**dataclasses.asdict(summary), "profile_in_force": profile,
            "recordings": recordings, "docks": docks}
