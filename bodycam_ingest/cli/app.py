"""``bodycam``: the command line. A thin front door: parse, call the station, render, exit.

Every ``BodycamError`` becomes one sentence on stderr and its documented exit code (README, "Exit
codes"); anything else is a bug and shows a traceback (exit 70).
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.models import Recording, row_dict
from bodycam_ingest.catalog.queries import (
    RecordingFilter,
    events_of,
    recent_docks,
    recordings_query,
    running_docks,
    session_neighbours,
    sightings_of,
)
from bodycam_ingest.cli import (
    analysis_cmds,
    archive_cmds,
    common,
    custody_cmds,
    doctor_cmds,
    hold_cmds,
    jobs_cmds,
    render,
    retention_cmds,
)
from bodycam_ingest.config import Config
from bodycam_ingest.errors import BodycamError, ExitCode, NotFound
from bodycam_ingest.station import Station

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Body-camera evidence station: ingest, catalogue and inspect recordings.")

ConfigOpt = common.ConfigOpt
JsonOpt = common.JsonOpt
_state = common.state


@app.callback()
def _root(verbose: Annotated[bool, typer.Option("--verbose", "-v",
                                                help="Debug logs; tracebacks for errors.")] = False
          ) -> None:
    _state["verbose"] = verbose


def _config(path: Path | None) -> Config:
    return common.load(path)


def _station(path: Path | None, *, read_only: bool = False) -> Station:
    return Station.open(common.load(path), read_only=read_only)


# --- ingest ------------------------------------------------------------------------------------
@app.command()
def ingest(
    path: Annotated[Path, typer.Argument(help="A mounted camera or folder, or a block device "
                                         "such as /dev/sdb1 (mounted read-only for the ingest).")],
    camera: Annotated[str | None, typer.Option(help="Camera rule to apply (default: the first "
                                               "configured).")] = None,
    device: Annotated[str | None, typer.Option(help="Device identity for a folder (default: "
                                               "folder:<absolute path>).")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest one camera now, as a dock would."""
    from bodycam_ingest.detection.dock import ingest_path

    station = _station(config)
    try:
        station.recover()
        report = ingest_path(station, path, rule_name=camera, device_key=device, trigger="cli")
    finally:
        station.close()
    if as_json:
        render.emit_json({"dock_id": report.dock_id, "outcome": report.outcome,
                          "reason": report.reason, "stored": report.stored,
                          "duplicates": report.duplicates, "skipped": report.skipped,
                          "deleted_seen": report.deleted_seen, "wiped": report.wiped,
                          "bytes": report.bytes_copied,
                          "failed": report.failed, "unreadable": report.unreadable,
                          "rejected": [vars(item) for item in report.rejected]})
    else:
        pairs = [("dock", report.dock_id), ("outcome", report.outcome),
                 ("stored (new)", report.stored), ("already stored (same content)",
                                                   report.duplicates),
                 ("skipped (ingested at an earlier dock)", report.skipped),
                 ("bytes copied", render.human_size(report.bytes_copied))]
        if report.deleted_seen:
            pairs.append(("seen again after retention deleted them (left on the camera)",
                          report.deleted_seen))
        if report.reason:
            pairs.append(("reason", report.reason))
        pairs += [("rejected", f"{r.relpath}: {r.reason}") for r in report.rejected]
        pairs += [("failed", f"{name}: {why}") for name, why in report.failed]
        pairs += [("unreadable", item) for item in report.unreadable]
        render.out.print(render.key_values(f"Ingest of {path}", pairs))
    raise typer.Exit(int(report.exit_code))


@app.command()
def recover(config: ConfigOpt = None) -> None:
    """Finish or roll back ingests interrupted by a crash (also runs at every start)."""
    station = _station(config)
    try:
        report = station.recover()
    finally:
        station.close()
    render.out.print(render.key_values("Recovery", [
        ("interrupted docks closed", report.docks_closed), ("files finished", report.finished),
        ("files rolled back", report.rolled_back),
        ("staging leftovers removed", report.leftovers_removed),
        ("recordings probed", report.probed)]))


@app.command()
def daemon(config: ConfigOpt = None) -> None:
    """Run the station: detect docked cameras and watch folders, ingest, recover."""
    from bodycam_ingest.daemon.service import run_daemon

    raise typer.Exit(run_daemon(_config(config)))


# --- inspection --------------------------------------------------------------------------------
@app.command()
def status(config: ConfigOpt = None, as_json: JsonOpt = False,
           watch: Annotated[bool, typer.Option(help="Refresh every second until Ctrl-C.")] = False
           ) -> None:
    """Docks in progress (with progress bars), the last finished docks, and the jobs."""
    from bodycam_ingest.jobs.registry import job_statuses, status_json

    station = _station(config, read_only=True)
    try:
        while True:
            with station.catalog.reading() as session:
                running, recent = running_docks(session), recent_docks(session)
                jobs = job_statuses(session, station.config)
            if as_json:
                render.emit_json({"running": [_dock_json(d) for d in running],
                                  "recent": [_dock_json(d) for d in recent],
                                  "jobs": [status_json(j) for j in jobs]})
                return
            if watch:
                render.out.clear()
            render.out.print(render.docks_table(running, "Docks in progress") if running
                         else "No dock in progress.")
            if recent:
                render.out.print(render.docks_table(recent, "Recent docks"))
            render.out.print(jobs_cmds.jobs_table(jobs))
            if not watch:
                return
            time.sleep(1)
    finally:
        station.close()


def _dock_json(dock: Any) -> dict[str, Any]:
    data = row_dict(dock)
    data.pop("lock_token", None)
    return data


@app.command("list")
def list_(
    device: Annotated[str | None, typer.Option(help="Device id from file names, or device key.")
                      ] = None,
    officer: Annotated[str | None, typer.Option(help="Officer id from file names.")] = None,
    since: Annotated[str | None, typer.Option(help="Recordings starting at or after this "
                                              "station-local date/time.")] = None,
    until: Annotated[str | None, typer.Option(help="Recordings starting before this "
                                              "station-local date/time.")] = None,
    state: Annotated[str | None, typer.Option(help="ok | unreadable | empty | pending")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 1000,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List recordings, filtered."""
    station = _station(config, read_only=True)
    zone = station.config.station.zone
    flt = RecordingFilter(device=device, officer=officer, status=state, limit=limit,
                          since=common.parse_local_date(since, zone, "--since"),
                          until=common.parse_local_date(until, zone, "--until"))
    try:
        with station.catalog.reading() as session:
            rows = list(session.scalars(recordings_query(flt)))
            retention = hold_cmds.list_retention(session, rows)  # bulk, not per row
    finally:
        station.close()
    if as_json:
        render.emit_json([render.recording_json(row, retention[row.id]) for row in rows])
    else:
        render.out.print(render.recordings_table(
            rows, f"Recordings ({len(rows)})", keep={i: r["keep"] for i, r in retention.items()}))


@app.command()
def show(recording_id: Annotated[int, typer.Argument(help="Recording id (see bodycam list).")],
         config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Everything known about one recording: file, probe, sightings, history."""
    station = _station(config, read_only=True)
    try:
        with station.catalog.reading() as session:
            row = session.get(Recording, recording_id)
            if row is None:
                raise NotFound(what="Recording", ident=recording_id,
                               hint="List recordings with: bodycam list")
            sightings = sightings_of(session, recording_id)
            extra_pairs = [*analysis_cmds.show_pairs(session, row),
                           *custody_cmds.show_pairs(session, row),
                           *hold_cmds.show_pairs(session, row),
                           *retention_cmds.show_pairs(session, row, station.clock())]
            extra_json = {**analysis_cmds.show_json(session, row),
                          **custody_cmds.show_json(session, row),
                          **hold_cmds.show_json(session, row)}
            events = events_of(session, recording_id)
            neighbours = session_neighbours(session, row)
            store_path = station.store.root / row.store_path
        with station.catalog.session() as session:  # R6: every viewing is registered
            record_event(session, at=station.clock(), actor=station.actor,
                         action="recording_viewed", recording_id=recording_id)
        from bodycam_ingest.custody import service as custody

        custody.after_command(station)
    finally:
        station.close()
    if as_json:
        data = render.recording_json(row)
        data["store_file"] = str(store_path)
        data["sightings"] = [row_dict(s) for s in sightings]
        data["events"] = [row_dict(e) for e in events]
        data["session"] = [n.id for n in neighbours]
        data.update(extra_json)
        render.emit_json(data)
        return
    pairs = [(key, value) for key, value in render.recording_json(row).items()]
    pairs.append(("store file", store_path))
    pairs += extra_pairs
    pairs.append(("session (same device and day)",
                  " ".join(f"[{n.id}]" if n.id == row.id else str(n.id) for n in neighbours)
                  or "-"))
    render.out.print(render.key_values(f"Recording {row.id}", pairs))
    for sighting in sightings:
        render.out.print(render.plain(f"seen at dock {sighting.dock_id} as {sighting.camera_path} "
                         f"({'copied' if sighting.copied else 'already stored'})"
                         + (f", wiped from camera {sighting.wiped_at}" if sighting.wiped_at else "")))
    for event in events:
        render.out.print(render.plain(f"{event.at:%Y-%m-%d %H:%M:%S}Z {event.actor} {event.action}"
                                      + (f" ({event.reason})" if event.reason else "")))


# --- simulation --------------------------------------------------------------------------------
@app.command("sim-camera", add_help_option=False,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def sim_camera(ctx: typer.Context) -> None:
    """Build a simulated body camera (folder or FAT32 image); see --help of the simulator."""
    from bodycam_ingest.sim.camera import main as sim_main

    raise typer.Exit(sim_main(list(ctx.args)))


analysis_cmds.register(app)
custody_cmds.register(app)
hold_cmds.register(app)
retention_cmds.register(app)
archive_cmds.register(app)
jobs_cmds.register(app)
doctor_cmds.register(app)  # issue 11: bodycam doctor, bodycam udev-rules


def main() -> None:
    """Console entry point: the one place errors become messages and exit codes.

    Click (inside typer) handles usage errors itself in standalone mode: message and exit 2.
    """
    try:
        app()
    except BodycamError as exc:
        if _state["verbose"]:
            traceback.print_exc()
        render.err.print(f"[bold red]error:[/] {escape(exc.message())}", highlight=False,
                         soft_wrap=True)
        sys.exit(int(exc.exit_code))
    except Exception as exc:  # noqa: BLE001 - the CLI's last line: anything else is a bug
        traceback.print_exc()
        render.err.print(f"[bold red]internal error (a bug; please report it with the traceback "
                         f"above):[/] {escape(repr(exc))}", highlight=False)
        sys.exit(int(ExitCode.BUG))
