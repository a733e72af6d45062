"""CLI commands of the custody part; registered on the main app by cli.app.

Thin: parse, call the custody services, render, exit. Every command that appends to the custody
log signs a checkpoint before it returns (``custody.service.after_command``).
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table
from sqlalchemy import false, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bodycam_ingest.catalog.custody_models import LabelRow
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.models import Event, Recording, row_dict
from bodycam_ingest.catalog.queries import RecordingFilter, recordings_query
from bodycam_ingest.cli import common, render
from bodycam_ingest.custody import keys, labels, service
from bodycam_ingest.custody.audit import SECTIONS, AuditInputs, AuditReport, audit
from bodycam_ingest.custody.reports import deadline_rows
from bodycam_ingest.custody.roles import resolve_actor
from bodycam_ingest.errors import ExitCode, NotFound
from bodycam_ingest.jobs.settings import period
from bodycam_ingest.station import Station

_station = common.open_station
ConfigOpt = common.ConfigOpt
JsonOpt = common.JsonOpt
AsOpt = Annotated[str | None, typer.Option("--as", help="Act for NAME (needs a role in "
                                           "custody.act_for_others; you are recorded as approver).")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (recorded in the custody log).")]

keys_app = typer.Typer(no_args_is_help=True, help="The station's Ed25519 signing key.")
report_app = typer.Typer(no_args_is_help=True, help="Reports (R1 deadlines).")


def _note(station: Station, action: str, *, actor: str | None = None, **values: Any) -> None:
    with station.catalog.session() as session:
        record_event(session, at=station.clock(), actor=actor or station.actor, action=action,
                     **values)


# --- keys --------------------------------------------------------------------------------------
@keys_app.command("init")
def keys_init(config: ConfigOpt = None) -> None:
    """Create the station key (private key mode 0600); refuses if one exists (use rotate)."""
    with _station(config) as station:
        directory = service.key_dir(station.config)
        ident = keys.generate(directory)
        _note(station, "key_created", subject=ident, details={"key_dir": str(directory)})
        service.after_command(station)
    render.out.print(render.key_values("Station key created", [
        ("key id", ident), ("private key", directory / keys.PRIVATE_NAME),
        ("public key", directory / keys.PUBLIC_NAME)]))


@keys_app.command("show")
def keys_show(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """The current key id and every key in the keyring (checks the private key is usable)."""
    with _station(config, read_only=True) as station:
        directory = service.key_dir(station.config)
        private = service.load_station_key(station.config)
        current = keys.key_id(private.public_key())
        ring = sorted(keys.load_keyring(directory))
    data = {"key_id": current, "key_dir": str(directory), "keyring": ring,
            "public_key": str(directory / keys.PUBLIC_NAME)}
    if as_json:
        render.emit_json(data)
        return
    render.out.print(render.key_values("Station key", [
        ("key id", current), ("public key", data["public_key"]),
        ("keyring", " ".join(ring))]))


@keys_app.command("export")
def keys_export(to: Annotated[Path, typer.Option("--to", help="Folder to write the public keys to.")],
                config: ConfigOpt = None) -> None:
    """Write station.pub and every keyring public key to a folder, for verifiers."""
    with _station(config) as station:
        directory = service.key_dir(station.config)
        ring = keys.load_keyring(directory)
        (to / keys.KEYRING_NAME).mkdir(parents=True, exist_ok=True)
        (to / keys.PUBLIC_NAME).write_bytes((directory / keys.PUBLIC_NAME).read_bytes())
        for ident, public in ring.items():
            (to / keys.KEYRING_NAME / f"{ident}.pub").write_bytes(keys.public_pem(public))
        _note(station, "public_keys_exported", subject=str(to), details={"keys": sorted(ring)})
        service.after_command(station)
    render.out.print(f"exported {len(ring)} public key(s) to {to}")


@keys_app.command("rotate")
def keys_rotate(config: ConfigOpt = None, reason: ReasonOpt = None) -> None:
    """Replace the signing key; the old public key stays in the keyring for verification."""
    with _station(config) as station:
        old, new = keys.rotate(service.key_dir(station.config))
        _note(station, "key_rotated", subject=new, reason=reason,
              details={"old_key_id": old, "new_key_id": new})
        service.after_command(station)
    render.out.print(f"station key rotated: {old} -> {new}")


# --- verify and audit --------------------------------------------------------------------------
def _run_audit(station: Station, ids: list[int] | None, whole: bool) -> tuple[AuditReport, float]:
    config = station.config
    with station.catalog.reading() as session:
        query = select(Recording.size)
        if ids is not None:
            query = query.where(Recording.id.in_(ids))
        total = sum(session.scalars(query))
        progress = Progress(*Progress.get_default_columns()[:-1], BarColumn(), DownloadColumn(),
                            TransferSpeedColumn(), console=render.err, transient=True,
                            disable=not render.err.is_terminal)
        with progress:
            task = progress.add_task("hashing stored evidence", total=total)
            inputs = AuditInputs(store_root=station.store.root,
                                 manifest_dir=service.manifest_dir(config),
                                 key_dir=service.key_dir(config),
                                 workers=config.custody.hash_workers,
                                 on_bytes=lambda n: progress.advance(task, n),
                                 now=station.clock(),
                                 scrub_period=period(config.jobs.schedule_of("fixity-scrub"),
                                                     config.station.zone))
            started = time.monotonic()
            report = audit(session, inputs, recording_ids=ids, whole_station=whole)
            elapsed = time.monotonic() - started
    return report, elapsed


def _deadline_findings(station: Station, report: AuditReport) -> None:
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


def _render_report(report: AuditReport, elapsed: float, title: str, as_json: bool) -> None:
    rate = report.bytes_hashed / 1e6 / elapsed if elapsed > 0 else 0.0
    if as_json:
        render.emit_json({"clean": report.clean, "checked": report.checked,
                          "findings": [vars(f) for f in report.findings], "notes": report.notes,
                          "bytes_hashed": report.bytes_hashed, "seconds": round(elapsed, 3),
                          "mb_per_s": round(rate, 1)})
        return
    summary = Table(title=title)
    for column in ("check", "checked", "problems"):
        summary.add_column(column)
    for section in SECTIONS:
        problems = sum(1 for f in report.findings if f.section == section)
        summary.add_row(section, str(report.checked.get(section, 0)),
                        render.plain(problems) if problems == 0 else f"[bold red]{problems}[/]")
    render.out.print(summary)
    if report.findings:
        table = Table(title=f"Problems ({len(report.findings)})")
        for column in ("check", "object", "problem"):
            table.add_column(column, overflow="fold")
        for finding in report.findings:
            table.add_row(*map(render.plain, (finding.section, finding.object, finding.problem)))
        render.out.print(table)
    for note in report.notes:
        render.out.print(render.plain(f"note: {note}"))
    render.out.print(render.plain(f"{render.human_size(report.bytes_hashed)} hashed in "
                                  f"{elapsed:.1f} s ({rate:.0f} MB/s); "
                                  + ("clean" if report.clean else
                                     f"{len(report.findings)} problem(s)")))


def verify(ids: Annotated[list[int] | None, typer.Argument(help="Recording ids.")] = None,
           all_: Annotated[bool, typer.Option("--all", help="Every recording.")] = False,
           config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Re-hash stored files; check them against the catalog and the signed manifests."""
    if not ids and not all_:
        raise typer.BadParameter("give recording ids or --all", param_hint="IDS")
    with _station(config) as station:
        report, elapsed = _run_audit(station, None if all_ else list(ids or []), whole=False)
        _note(station, "verify_run", reason=None, details={
            "recordings": "all" if all_ else list(ids or []), "problems": len(report.findings)})
        service.after_command(station)
    _render_report(report, elapsed, "Verify", as_json)
    raise typer.Exit(int(ExitCode.OK if report.clean else ExitCode.FINDINGS))


def audit_cmd(config: ConfigOpt = None, as_json: JsonOpt = False,
              deadlines: Annotated[bool, typer.Option(help="Report missed R1 deadlines as "
                                                      "problems.")] = True) -> None:
    """Check the whole station: fixity, manifests and their chain, the custody log and its
    checkpoints, labels, unexplained continuity findings, missed deadlines."""
    with _station(config) as station:
        report, elapsed = _run_audit(station, None, whole=True)
        if deadlines:
            _deadline_findings(station, report)
        _note(station, "audit_run", details={"problems": len(report.findings),
                                             "bytes": report.bytes_hashed})
        service.after_command(station)
    _render_report(report, elapsed, "Audit", as_json)
    raise typer.Exit(int(ExitCode.OK if report.clean else ExitCode.FINDINGS))


# --- labels, log, deadlines --------------------------------------------------------------------
def tag(
    ids: Annotated[list[int] | None, typer.Argument(help="Recording ids.")] = None,
    device: Annotated[str | None, typer.Option(help="Select by device (file-name id or key).")
                      ] = None,
    by_officer: Annotated[str | None, typer.Option(help="Select by officer id in file names.")
                          ] = None,
    since: Annotated[str | None, typer.Option(help="Select recordings starting at/after this "
                                              "station-local time.")] = None,
    until: Annotated[str | None, typer.Option(help="... and before this one.")] = None,
    case: Annotated[str | None, typer.Option("--case", help="Case number (案号).")] = None,
    party: Annotated[str | None, typer.Option(help="Party: person or organisation.")] = None,
    party_kind: Annotated[str | None, typer.Option(help="person | organisation")] = None,
    officer: Annotated[list[str] | None, typer.Option(help="Officer NAME or NAME:CERTIFICATE; "
                                                      "repeat for several.")] = None,
    matter: Annotated[str | None, typer.Option(help="Enforcement matter: an id or name from "
                                               "custody.matters.")] = None,
    location: Annotated[str | None, typer.Option(help="Where.")] = None,
    note: Annotated[str | None, typer.Option(help="Free note.")] = None,
    reason: ReasonOpt = None, act_as: AsOpt = None, config: ConfigOpt = None,
) -> None:
    """Label recordings; a change supersedes the previous label, never overwrites it."""
    with _station(config) as station:
        custody = station.config.custody
        acting = resolve_actor(custody, station.actor, act_as)
        if party_kind is not None and party_kind not in labels.PARTY_KINDS:
            raise typer.BadParameter("use person or organisation", param_hint="--party-kind")
        matter_id = None
        if matter is not None:
            found = custody.matter(matter)
            if found is None:
                raise typer.BadParameter(f"{matter!r} is not a configured matter; one of: "
                                         + ", ".join(m.id for m in custody.matters),
                                         param_hint="--matter")
            matter_id = found.id
        try:
            officers = tuple(map(labels.Officer.parse, officer)) if officer else None
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--officer") from None
        change = labels.LabelChange(case_number=case, party=party, party_kind=party_kind,
                                    officers=officers, matter=matter_id, location=location,
                                    note=note)
        if change == labels.LabelChange():
            raise typer.BadParameter("nothing to set: give --case, --party, --officer, --matter, "
                                     "--location or --note")
        zone = station.config.station.zone
        with station.catalog.session() as session:
            targets = _select(session, ids, device, by_officer,
                              common.parse_local_date(since, zone, "--since"),
                              common.parse_local_date(until, zone, "--until"))
            for recording_id in targets:
                labels.set_label(session, recording_id, change, acting=acting, reason=reason,
                                 at=station.clock())
        service.after_command(station)
    render.out.print(f"labelled {len(targets)} recording(s): {' '.join(map(str, targets))}")


def _select(session: Session, ids: list[int] | None, device: str | None, officer: str | None,
            since: datetime | None, until: datetime | None) -> list[int]:
    if ids:
        found = set(session.scalars(select(Recording.id).where(Recording.id.in_(ids))))
        missing = [i for i in ids if i not in found]
        if missing:
            raise NotFound(what="Recording", ident=missing[0], hint="List them with: bodycam list")
        return sorted(set(ids))
    if not (device or officer or since or until):
        raise typer.BadParameter("give recording ids, or --device/--by-officer with a time range")
    flt = RecordingFilter(device=device, officer=officer, since=since, until=until, limit=100000)
    chosen = [row.id for row in session.scalars(recordings_query(flt))]
    if not chosen:
        raise NotFound(what="Recordings matching", ident="the selection", hint="Check with: "
                       "bodycam list --device ... --since ...")
    return chosen


def log_cmd(recording_id: Annotated[int | None, typer.Argument(help="Recording id.")] = None,
            case: Annotated[str | None, typer.Option("--case", help="Case number.")] = None,
            config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """The custody history (every custody-log entry) of a recording or of a case."""
    if (recording_id is None) == (case is None):
        raise typer.BadParameter("give a recording id or --case, not both")
    with _station(config) as station:
        with station.catalog.reading() as session:
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
                if session.get(Recording, recording_id) is None:
                    raise NotFound(what="Recording", ident=recording_id,
                                   hint="List recordings with: bodycam list")
                ids = [recording_id] if recording_id is not None else []
                case_level = false()
            events = list(session.scalars(select(Event).where(
                or_(Event.recording_id.in_(ids), case_level)).order_by(Event.seq)))
        _note(station, "custody_log_viewed", subject=case or f"recording {recording_id}",
              details={"recordings": ids})
        service.after_command(station)
    if as_json:
        render.emit_json([row_dict(e) for e in events])
        return
    table = Table(title=f"Custody log of {'case ' + case if case else f'recording {recording_id}'}")
    for column in ("seq", "time (UTC)", "actor", "action", "recording", "approved by", "reason",
                   "object"):
        table.add_column(column, overflow="fold")
    for e in events:
        table.add_row(*map(render.plain, (e.seq, f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor, e.action,
                                          e.recording_id, e.approved_by, e.reason, e.subject)))
    render.out.print(table)


@report_app.command("deadlines")
def report_deadlines(
    all_: Annotated[bool, typer.Option("--all", help="Every recording, not only late ones.")
                    ] = False,
    config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Recordings that missed, or are about to miss, the export or labelling deadline (R1)."""
    with _station(config, read_only=True) as station:
        with station.catalog.reading() as session:
            rows = deadline_rows(session, station.config, station.clock())
        zone = ZoneInfo(station.config.station.zone)
    rows = [r for r in rows if all_ or r.late]
    if as_json:
        render.emit_json([{"recording_id": r.recording_id, "camera_path": r.camera_path,
                           "ended": r.ended, "ingested_at": r.ingested_at,
                           "labelled_at": r.labelled_at,
                           "export_deadline": r.assessment.export_deadline,
                           "export_status": str(r.assessment.export_status),
                           "labelling_deadline": r.assessment.labelling_deadline,
                           "labelling_status": str(r.assessment.labelling_status)} for r in rows])
        return
    table = Table(title=f"Deadlines ({len(rows)} recording(s); times in {zone.key})")
    for column in ("id", "file", "ended", "export due", "export", "labelling due", "labelling"):
        table.add_column(column, overflow="fold")
    for r in rows:
        a = r.assessment
        table.add_row(*map(render.plain, (
            r.recording_id, r.camera_path, f"{r.ended.astimezone(zone):%Y-%m-%d %H:%M}",
            f"{a.export_deadline.astimezone(zone):%Y-%m-%d %H:%M}", a.export_status,
            f"{a.labelling_deadline.astimezone(zone):%Y-%m-%d %H:%M}", a.labelling_status)))
    render.out.print(table)


def export_cmd(
    ids: Annotated[list[int] | None, typer.Argument(help="Recording ids.")] = None,
    case: Annotated[str | None, typer.Option("--case", help="Every recording ever labelled "
                                             "with this case number.")] = None,
    to: Annotated[Path | None, typer.Option("--to", help="Where you will fetch the package "
                                            "once approved (bodycam requests fetch ID --to "
                                            "DIR); must be a new or empty folder.")] = None,
    recipient: Annotated[str | None, typer.Option(help="Who receives it: court, procuratorate, "
                                                  "lawyer, party, supervision, audit, ...")] = None,
    recipient_name: Annotated[str | None, typer.Option(help="Name of the recipient.")] = None,
    reason: ReasonOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False,
) -> None:
    """Request a disclosure package (BagIt) of recordings: a supervisor approves the request
    (bodycam requests approve), the station builds the package, and you fetch it with
    `bodycam requests fetch ID --to DIR`. Request, approval, build and fetch are logged."""
    from bodycam_ingest.cli.requests_cmds import print_created

    if not ids and case is None:
        raise typer.BadParameter("give recording ids or --case")
    missing = [flag for flag, value in (("--reason", reason), ("--recipient", recipient))
               if not (value or "").strip()]
    if missing:
        from bodycam_ingest.errors import Refused

        raise Refused(reason=f"an export needs {' and '.join(missing)}: disclosure must be "
                      "approved, and why and for whom are recorded")
    if to is not None and to.exists() and (not to.is_dir() or any(to.iterdir())):
        raise typer.BadParameter(f"{to} is not an empty folder; fetch into a new folder",
                                 param_hint="--to")
    data = common.call(config, "exports.request", {
        "ids": ids or None, "case": case, "recipient": recipient, "reason": reason,
        "recipient_name": recipient_name}, read_only=False)
    if as_json:
        render.emit_json(data)
        return
    print_created(data["request"])
    ident = data["request"]["id"]
    render.out.print(render.plain(f"once approved: bodycam requests fetch {ident} --to "
                                  f"{to.absolute() if to is not None else 'DIR'}"))


def register(app: typer.Typer) -> None:
    """Add this part's commands to the main app."""
    app.add_typer(keys_app, name="keys")
    app.add_typer(report_app, name="report")
    app.command("tag")(tag)
    app.command("log")(log_cmd)
    app.command("verify")(verify)
    app.command("audit")(audit_cmd)
    app.command("export")(export_cmd)


def show_pairs(session: Session, recording: Recording) -> list[tuple[str, Any]]:
    """Extra (field, value) rows for `bodycam show`: the current label and how many came before."""
    label = labels.current(session, recording.id)
    if label is None:
        return [("label", "-")]
    officers = ", ".join(f"{o['name']}" + (f" ({o['certificate']})" if o.get("certificate") else "")
                         for o in labels.officers_of(label) if o.get("name"))
    return [("case number", label.case_number), ("party", label.party),
            ("officers", officers or None), ("matter", label.matter),
            ("location", label.location), ("note", label.note),
            ("labelled by", f"{label.actor} at {label.created_at:%Y-%m-%d %H:%M:%S}Z"
             + (f", approved by {label.approved_by}" if label.approved_by else "")),
            ("earlier labels", len(labels.history(session, recording.id)) - 1)]


def show_json(session: Session, recording: Recording) -> dict[str, Any]:
    """Extra keys for `bodycam show --json`: the label history, oldest first."""
    return {"labels": [{**row_dict(row), "officers": labels.officers_of(row)}
                       for row in labels.history(session, recording.id)]}
