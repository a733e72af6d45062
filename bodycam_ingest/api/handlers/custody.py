"""Custody: labels (officers: their own recordings), the custody log, verify and audit, the R1
deadline report, the station's public keys.

Every handler records what it does in the custody log as the caller (``ctx.actor``); reading the
log and running an audit are themselves logged (R6).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bodycam_ingest.api import progress
from bodycam_ingest.api.handlers.recordings import RecordingId, local_time, scoped, visible
from bodycam_ingest.api.registry import Ctx, handler
from bodycam_ingest.catalog.custody_models import LabelRow
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.models import Event, Recording, row_dict
from bodycam_ingest.catalog.queries import RecordingFilter, recordings_query
from bodycam_ingest.errors import BadRequest, NotFound
from bodycam_ingest.station import Station


def section_key(section: str) -> str:
    """An audit section as a JSON key: ``custody log`` -> ``custody_log``."""
    return section.replace(" ", "_")


def _note(ctx: Ctx, action: str, **values: Any) -> None:
    with ctx.station.catalog.session() as session:
        record_event(session, at=ctx.now(), actor=ctx.actor, action=action, **values)


# --- labels ------------------------------------------------------------------------------------
@handler("labels.add")
def add_label(ctx: Ctx, ids: list[RecordingId] | None = None, device: str | None = None,
              by_officer: str | None = None, since: str | None = None,
              until: str | None = None, case: str | None = None, party: str | None = None,
              party_kind: str | None = None, officers: list[str] | None = None,
              matter: str | None = None, location: str | None = None, note: str | None = None,
              reason: str | None = None) -> dict[str, Any]:
    """Label recordings (a change supersedes the previous label, never overwrites it). An
    officer (scope OWN) labels only their own recordings: another's is "does not exist", logged."""
    from bodycam_ingest.custody import labels
    from bodycam_ingest.custody.roles import Acting

    custody = ctx.station.config.custody
    acting = Acting(actor=ctx.actor, approved_by=ctx.approved_by)  # approved: an act_for request
    party_kind = party_kind or None  # a form's empty choice: not given
    if party_kind is not None and party_kind not in labels.PARTY_KINDS:
        raise BadRequest(problem="--party-kind: use person or organisation")
    matter_id = matter or None  # a form's empty choice: not given
    if matter:
        found = custody.matter(matter)
        if found is None:
            raise BadRequest(problem=f"--matter: {matter!r} is not a configured matter; one of: "
                             + ", ".join(m.id for m in custody.matters))
        matter_id = found.id
    try:
        parsed = tuple(map(labels.Officer.parse, officers)) if officers else None
    except ValueError as exc:
        raise BadRequest(problem=f"--officer: {exc}") from None
    change = labels.LabelChange(case_number=case, party=party, party_kind=party_kind,
                                officers=parsed, matter=matter_id, location=location, note=note)
    if change == labels.LabelChange():
        raise BadRequest(problem="nothing to set: give --case, --party, --officer, --matter, "
                         "--location or --note")
    zone = ctx.station.config.station.zone
    with ctx.station.catalog.reading() as session:
        targets = select_recordings(ctx, session, ids, device, by_officer,
                                    local_time(since, zone, "--since"),
                                    local_time(until, zone, "--until"))
    with ctx.station.catalog.session() as session:
        for recording_id in targets:
            labels.set_label(session, recording_id, change, acting=acting, reason=reason,
                             at=ctx.now())
    return {"labelled": targets, "actor": acting.actor, "approved_by": acting.approved_by}


def select_recordings(ctx: Ctx, session: Session, ids: list[int] | None, device: str | None,
                      officer: str | None, since: datetime | None,
                      until: datetime | None) -> list[int]:
    """The given ids (each visible to the caller, else NotFound), or the recordings of a device,
    officer and time range within the caller's scope."""
    if ids:
        for recording_id in sorted(set(ids)):
            visible(ctx, session, recording_id)
        return sorted(set(ids))
    if not (device or officer or since or until):
        raise BadRequest(problem="give recording ids, or --device/--by-officer with a time range")
    flt = scoped(ctx, RecordingFilter(device=device, officer=officer, since=since, until=until,
                                      limit=100000))
    chosen = [row.id for row in session.scalars(recordings_query(flt))]
    if not chosen:
        raise NotFound(what="Recordings matching", ident="the selection", hint="Check with: "
                       "bodycam list --device ... --since ...")
    return chosen


# --- the custody log ---------------------------------------------------------------------------
def event_json(event: Event) -> dict[str, Any]:
    """An entry with its ``details`` as an object (stored as canonical JSON text)."""
    data = row_dict(event)
    data["details"] = json.loads(event.details) if event.details else None
    return data


@handler("log.view")
def view_log(ctx: Ctx, recording_id: RecordingId | None = None,
             case: str | None = None) -> dict[str, Any]:
    """Every custody-log entry of a recording or of a case, oldest first (a history); the
    viewing is itself an entry."""
    if (recording_id is None) == (case is None):
        raise BadRequest(problem="give a recording id or --case, not both")
    with ctx.station.catalog.reading() as session:
        if case is not None:
            ids = sorted(set(session.scalars(select(LabelRow.recording_id)
                                             .where(LabelRow.case_number == case))))
            # Entries about the case itself (its tier, its holds) name it as their subject.
            case_level: ColumnElement[bool] = (Event.recording_id.is_(None)
                                               & (Event.subject == case))
            if not ids and session.scalar(select(Event.id).where(case_level).limit(1)) is None:
                raise NotFound(what="Case", ident=case, hint="No recording was ever labelled "
                               "with it (bodycam tag --case).")
        else:
            assert recording_id is not None
            visible(ctx, session, recording_id)
            ids, case_level = [recording_id], false()
        events = [event_json(e) for e in session.scalars(select(Event).where(
            or_(Event.recording_id.in_(ids), case_level)).order_by(Event.seq))]
    subject = f"case {case}" if case is not None else f"recording {recording_id}"
    _note(ctx, "custody_log_viewed", subject=case or f"recording {recording_id}",
          details={"recordings": ids})
    return {"subject": subject, "recordings": ids, "entries": events}


# --- verify and audit --------------------------------------------------------------------------
def run_audit(station: Station, ids: list[int] | None, whole: bool,
              deadlines: bool = False) -> tuple[Any, float]:
    """The audit (of ``ids``, or of everything), with missed deadlines if asked; progress goes
    to whatever front door shows it (api.progress)."""
    started = time.monotonic()
    from bodycam_ingest.custody import early

    if ids is None:  # every file: hash the store from now on (custody.early; audit() takes it)
        early.ensure(station.store.root, station.config.custody.hash_workers)
    try:
        report = _audit(station, ids, whole)
    finally:
        early.stop_all()  # none left over for a later audit: its hashes would be stale
    if deadlines:
        _deadline_findings(station, report)
    return report, time.monotonic() - started


def _audit(station: Station, ids: list[int] | None, whole: bool) -> Any:
    from bodycam_ingest.custody import service
    from bodycam_ingest.custody.audit import AuditInputs, audit
    from bodycam_ingest.jobs.settings import period

    config = station.config
    with station.catalog.reading() as session:
        query = select(Recording.size)
        if ids is not None:
            query = query.where(Recording.id.in_(ids))
        advance = progress.task("hashing stored evidence", sum(session.scalars(query)))
        inputs = AuditInputs(store_root=station.store.root,
                             manifest_dir=service.manifest_dir(config),
                             key_dir=service.key_dir(config), workers=config.custody.hash_workers,
                             on_bytes=advance, now=station.clock(),
                             scrub_period=period(config.jobs.schedule_of("fixity-scrub"),
                                                 config.station.zone),
                             object_store=_object_store(config))
        return audit(session, inputs, recording_ids=ids, whole_station=whole)


def _deadline_findings(station: Station, report: Any) -> None:
    from bodycam_ingest.custody.reports import deadline_rows

    with station.catalog.reading() as session:
        rows = deadline_rows(session, station.config, station.clock())
    for row in rows:
        report.checked["deadlines"] += 1
        for what, status, due in (("export", row.assessment.export_status,
                                   row.assessment.export_deadline),
                                  ("labelling", row.assessment.labelling_status,
                                   row.assessment.labelling_deadline)):
            if status == "missed":
                report.add("deadlines", f"recording {row.recording_id} ({row.camera_path})",
                           f"missed the {what} deadline ({due:%Y-%m-%d %H:%M}Z)")


def report_json(report: Any, elapsed: float) -> dict[str, Any]:
    """An audit report with snake_case keys: ``checked`` by section, in the report's order."""
    from bodycam_ingest.custody.audit import SECTIONS

    rate = report.bytes_hashed / 1e6 / elapsed if elapsed > 0 else 0.0
    return {"clean": report.clean,
            "sections": [section_key(s) for s in SECTIONS],
            "checked": {section_key(s): n for s, n in report.checked.items()},
            "findings": [{"section": section_key(f.section), "object": f.object,
                          "problem": f.problem} for f in report.findings],
            "notes": report.notes, "bytes_hashed": report.bytes_hashed,
            "seconds": round(elapsed, 3), "mb_per_s": round(rate, 1)}


@handler("verify.run")
def verify(ctx: Ctx, ids: list[RecordingId] | None = None,
           all: bool = False) -> dict[str, Any]:
    """Re-hash stored files; check them against the catalog and the signed manifests."""
    if not ids and not all:
        raise BadRequest(problem="give recording ids or --all")
    chosen: list[int] | None = None
    if not all:
        chosen = sorted(set(ids or []))
        with ctx.station.catalog.reading() as session:
            for recording_id in chosen:
                visible(ctx, session, recording_id)
        from bodycam_ingest.storage.cache import ensure_local_for

        ensure_local_for(ctx.station, chosen)  # evicted ones come back, verified, to be re-hashed
    report, elapsed = run_audit(ctx.station, chosen, whole=False)
    _note(ctx, "verify_run", reason=None, details={
        "recordings": "all" if chosen is None else chosen, "problems": len(report.findings)})
    return report_json(report, elapsed)


@handler("audit.run")
def audit_station(ctx: Ctx, deadlines: bool = True) -> dict[str, Any]:
    """The whole station: fixity, manifests and their chain, the custody log and checkpoints,
    labels, continuity, deadlines (if asked), retention, holds, replicas, scrub."""
    report, elapsed = run_audit(ctx.station, None, whole=True, deadlines=deadlines)
    _note(ctx, "audit_run", details={"problems": len(report.findings),
                                     "bytes": report.bytes_hashed})
    return report_json(report, elapsed)


@handler("audit.bureau", action="audit.all_stations")
def audit_bureau(ctx: Ctx, deadlines: bool = True) -> dict[str, Any]:
    """Every registered station (issue 12): each one's chain, checkpoints and catalog rows
    against its own published keyring; this station in full; a summary and a bureau verdict."""
    from bodycam_ingest.custody.bureau import audit_bureau as run_bureau

    started = time.monotonic()

    def own(station: Station) -> Any:
        report, _elapsed = run_audit(station, None, whole=True, deadlines=deadlines)
        return report

    parts = run_bureau(ctx.station, own)
    elapsed = time.monotonic() - started
    stations = [{"station": part.station, "depth": part.depth, "keys": part.keys,
                 **report_json(part.report, elapsed)} for part in parts]
    clean = all(part.report.clean for part in parts)
    _note(ctx, "audit_bureau_run", details={
        "stations": [part.station for part in parts],
        "problems": {part.station: len(part.report.findings) for part in parts}})
    return {"clean": clean, "stations": stations, "seconds": round(elapsed, 3),
            "verdict": "clean" if clean else "findings in " + ", ".join(
                part.station for part in parts if not part.report.clean)}


# --- R1 deadlines ------------------------------------------------------------------------------
@handler("deadlines.report")
def deadlines_report(ctx: Ctx, all: bool = False) -> dict[str, Any]:
    """Recordings late (or, with ``all``, every recording) for export or labelling, newest
    first; an officer sees only their own."""
    from bodycam_ingest.custody.reports import deadline_rows

    with ctx.station.catalog.reading() as session:
        rows = deadline_rows(session, ctx.station.config, ctx.now())
        if ctx.own_only:
            mine = set(session.scalars(select(Recording.id).where(
                Recording.name_officer == (ctx.principal.officer_number or "\x00none"))))
            rows = [r for r in rows if r.recording_id in mine]
    rows = sorted((r for r in rows if all or r.late),
                  key=lambda r: (r.ended, r.recording_id), reverse=True)
    return {"zone": ctx.station.config.station.zone, "items": [
        {"recording_id": r.recording_id, "camera_path": r.camera_path, "ended": r.ended,
         "ingested_at": r.ingested_at, "labelled_at": r.labelled_at,
         "export_deadline": r.assessment.export_deadline,
         "export_status": str(r.assessment.export_status),
         "labelling_deadline": r.assessment.labelling_deadline,
         "labelling_status": str(r.assessment.labelling_status)} for r in rows]}


# --- keys --------------------------------------------------------------------------------------
@handler("keys.show")
def keys_show(ctx: Ctx) -> dict[str, Any]:
    """The current key id and every key in the keyring (checks the private key is usable)."""
    from bodycam_ingest.custody import keys, service

    directory = service.key_dir(ctx.station.config)
    private = service.load_station_key(ctx.station.config)
    return {"key_id": keys.key_id(private.public_key()), "key_dir": str(directory),
            "keyring": sorted(keys.load_keyring(directory)),
            "public_key": str(directory / keys.PUBLIC_NAME)}


def _object_store(config: Any) -> Any:
    """The S3 store evicted recordings are checked on (None without [storage.object_store])."""
    settings = config.storage.object_store
    if settings is None:
        return None
    from bodycam_ingest.storage.s3 import S3Store

    return S3Store(settings)
