"""CLI commands of the custody part; registered on the main app by cli.app.

Thin. Commands a person runs (tag, log, verify, audit, report deadlines, keys show) build
parameters, call the local API (``common.call``: in-process for the station's own account, else
the daemon's socket) and render its JSON. Commands on the station's own key files (keys init,
export, rotate) run in-process as the service account only. Every command that appends to the
custody log signs a checkpoint before it returns (``custody.service.after_command``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.models import Recording
from bodycam_ingest.catalog.queries import RecordingFilter, recordings_query
from bodycam_ingest.cli import common, lean, render
from bodycam_ingest.cli.ids import recording, recording_ids
from bodycam_ingest.custody import keys, service, stations
from bodycam_ingest.errors import ExitCode, NotFound
from bodycam_ingest.station import Station

_station = common.open_station
ConfigOpt = common.ConfigOpt
JsonOpt = common.JsonOpt
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (recorded in the custody log).")]

keys_app = typer.Typer(no_args_is_help=True, help="The station's Ed25519 signing key.")
report_app = typer.Typer(no_args_is_help=True, help="Reports (R1 deadlines).")


def _note(station: Station, action: str, *, actor: str | None = None, **values: Any) -> None:
    with station.catalog.session() as session:
        record_event(session, at=station.clock(), actor=actor or station.actor, action=action,
                     **values)


def _params(**values: Any) -> dict[str, Any]:
    """API parameters: the options given (None: not given, the handler's default)."""
    return {key: value for key, value in values.items() if value is not None}


# --- keys --------------------------------------------------------------------------------------
@keys_app.command("init")
def keys_init(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Create the station key (private key mode 0600); refuses if one exists (use rotate)."""
    common.require_system(config, "keys init")
    with _station(config) as station:
        directory = service.key_dir(station.config)
        ident = keys.generate(directory)
        _note(station, "key_created", subject=ident, details={"key_dir": str(directory)})
        stations.publish_key(station)  # registers the station on the catalog (issue 12)
        service.after_command(station)
    data = {"key_id": ident, "private_key": str(directory / keys.PRIVATE_NAME),
            "public_key": str(directory / keys.PUBLIC_NAME)}
    if as_json:
        render.emit_json(data)
        return
    render.out.print(render.key_values("Station key created", [
        ("key id", ident), ("private key", data["private_key"]),
        ("public key", data["public_key"])]))


@keys_app.command("show")
def keys_show(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """The current key id and every key in the keyring (checks the private key is usable)."""
    data = common.call(config, "keys.show")
    if as_json:
        render.emit_json(data)
        return
    render.out.print(render.key_values("Station key", [
        ("key id", data["key_id"]), ("public key", data["public_key"]),
        ("keyring", " ".join(data["keyring"]))]))


@keys_app.command("export")
def keys_export(to: Annotated[Path, typer.Option("--to", help="Folder to write the public keys to.")],
                config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Write station.pub and every keyring public key to a folder, for verifiers."""
    common.require_system(config, "keys export")
    with _station(config) as station:
        directory = service.key_dir(station.config)
        ring = keys.load_keyring(directory)
        (to / keys.KEYRING_NAME).mkdir(parents=True, exist_ok=True)
        (to / keys.PUBLIC_NAME).write_bytes((directory / keys.PUBLIC_NAME).read_bytes())
        for ident, public in ring.items():
            (to / keys.KEYRING_NAME / f"{ident}.pub").write_bytes(keys.public_pem(public))
        _note(station, "public_keys_exported", subject=str(to), details={"keys": sorted(ring)})
        service.after_command(station)
    if as_json:
        render.emit_json({"to": str(to), "keys": sorted(ring)})
        return
    render.out.print(render.plain(f"exported {len(ring)} public key(s) to {to}"))


@keys_app.command("rotate")
def keys_rotate(config: ConfigOpt = None, reason: ReasonOpt = None,
                as_json: JsonOpt = False) -> None:
    """Replace the signing key; the old public key stays in the keyring for verification."""
    common.require_system(config, "keys rotate")
    with _station(config) as station:
        old, new = keys.rotate(service.key_dir(station.config))
        stations.publish_key(station, rotated_from=old)  # the bureau audit's keyring
        _note(station, "key_rotated", subject=new, reason=reason,
              details={"old_key_id": old, "new_key_id": new})
        service.after_command(station)
    if as_json:
        render.emit_json({"old_key_id": old, "new_key_id": new})
        return
    render.out.print(f"station key rotated: {old} -> {new}")


# --- verify and audit --------------------------------------------------------------------------
def _audited(config: Path | None, method: str, params: dict[str, Any], title: str,
             as_json: bool) -> None:
    with render.progress_bars():  # what the lean front door runs, with progress bars
        status = lean.audit_command(config, method, params, title, as_json=as_json)
    raise typer.Exit(status)


def verify(ids: Annotated[list[int] | None, typer.Argument(help="Recording ids.")] = None,
           all_: Annotated[bool, typer.Option("--all", help="Every recording.")] = False,
           config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Re-hash stored files; check them against the catalog and the signed manifests."""
    if not ids and not all_:
        raise typer.BadParameter("give recording ids or --all", param_hint="IDS")
    _audited(config, "verify.run", {"ids": None if all_ else recording_ids(ids), "all": all_},
             "Verify", as_json)


def audit_cmd(config: ConfigOpt = None, as_json: JsonOpt = False,
              deadlines: Annotated[bool, typer.Option(help="Report missed R1 deadlines as "
                                                      "problems.")] = True,
              all_stations: Annotated[bool, typer.Option(
                  "--all-stations", help="Every station on the shared catalog, each against "
                  "its published keys (auditor, admin).")] = False) -> None:
    """Check the whole station: fixity, manifests and their chain, the custody log and its
    checkpoints, labels, unexplained continuity findings, missed deadlines."""
    if not all_stations:
        _audited(config, "audit.run", {"deadlines": deadlines}, "Audit", as_json)
    with render.progress_bars():
        data = common.call(config, "audit.bureau", {"deadlines": deadlines}, read_only=False)
    if as_json:
        render.emit_json(data)
    else:
        for part in data["stations"]:
            lean.audit_report(part, f"Station {part['station']} ({part['depth']})")
        render.out.print(render.plain(f"bureau: {len(data['stations'])} station(s); "
                                      f"{data['verdict']}"))
    raise typer.Exit(int(ExitCode.OK if data["clean"] else ExitCode.FINDINGS))


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
    reason: ReasonOpt = None, config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Label recordings; a change supersedes the previous label, never overwrites it (officers:
    their own recordings only)."""
    data = common.call(config, "labels.add", _params(
        ids=recording_ids(ids) or None, device=device, by_officer=by_officer, since=since, until=until,
        case=case, party=party, party_kind=party_kind, officers=officer or None, matter=matter,
        location=location, note=note, reason=reason), read_only=False)
    if as_json:
        render.emit_json(data)
        return
    targets = data["labelled"]
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
    """The custody history (every custody-log entry, oldest first) of a recording or of a case;
    the viewing is itself logged."""
    if (recording_id is None) == (case is None):
        raise typer.BadParameter("give a recording id or --case, not both")
    data = common.call(config, "log.view", _params(recording_id=recording(recording_id), case=case),
                       read_only=False)
    if as_json:
        render.emit_json(data["entries"])
        return
    render.out.print(render.table(
        f"Custody log of {data['subject']}",
        ("seq", "time (UTC)", "actor", "action", "recording", "approved by", "reason", "object"),
        [(e["seq"], render.when(e["at"]), e["actor"], e["action"], e["recording_id"],
          e["approved_by"], e["reason"], e["subject"]) for e in data["entries"]]))


@report_app.command("deadlines")
def report_deadlines(
    all_: Annotated[bool, typer.Option("--all", help="Every recording, not only late ones.")
                    ] = False,
    config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Recordings that missed, or are about to miss, the export or labelling deadline (R1),
    newest first (officers: their own)."""
    from zoneinfo import ZoneInfo

    data = common.call(config, "deadlines.report", {"all": all_})
    rows = data["items"]
    if as_json:
        render.emit_json(rows)
        return
    zone = ZoneInfo(data["zone"])

    def local(value: str) -> str:
        return f"{datetime.fromisoformat(value).astimezone(zone):%Y-%m-%d %H:%M}"

    render.out.print(render.table(
        f"Deadlines ({len(rows)} recording(s); times in {zone.key})",
        ("id", "file", "ended", "export due", "export", "labelling due", "labelling"),
        [(r["recording_id"], r["camera_path"], local(r["ended"]), local(r["export_deadline"]),
          r["export_status"], local(r["labelling_deadline"]), r["labelling_status"])
         for r in rows]))


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
    if to is not None:
        from bodycam_ingest.cli.requests_cmds import station_places
        from bodycam_ingest.custody.destinations import refuse_inside_station

        refuse_inside_station(to, station_places(config))
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

