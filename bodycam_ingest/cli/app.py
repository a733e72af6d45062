"""``bodycam``: the command line. A thin front door: parse, call the station, render, exit.

Every ``BodycamError`` becomes one sentence on stderr and its documented exit code (README, "Exit
codes"); anything else is a bug and shows a traceback (exit 70).
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bodycam_ingest.cli import common, lean, render
from bodycam_ingest.errors import BodycamError

if TYPE_CHECKING:
    from bodycam_ingest.config import Config
    from bodycam_ingest.station import Station

app = typer.Typer(no_args_is_help=True, add_completion=True, pretty_exceptions_enable=False,
                  help="Body-camera evidence station: ingest, catalogue and inspect recordings.")

ConfigOpt = common.ConfigOpt
JsonOpt = common.JsonOpt
_state = common.state

# Commands defined in other modules, by the name typed: only the module of the command being run
# is imported (a person's `bodycam list` must not pay for SQLAlchemy, analysis, retention ...).
COMMAND_MODULES: dict[str, str] = {
    "findings": "analysis_cmds", "explain": "analysis_cmds", "analyze": "analysis_cmds",
    "devices": "analysis_cmds",
    "keys": "custody_cmds", "report": "custody_cmds", "tag": "custody_cmds",
    "log": "custody_cmds", "verify": "custody_cmds", "audit": "custody_cmds",
    "export": "custody_cmds",
    "retain": "hold_cmds", "hold": "hold_cmds",
    "retention": "retention_cmds",
    "archive": "archive_cmds",
    "jobs": "jobs_cmds",
    "statistics": "stats_cmds",
    "users": "users_cmds",
    "requests": "requests_cmds",
    "doctor": "doctor_cmds", "udev-rules": "doctor_cmds",
}
_ROOT_OPTIONS_WITH_VALUE = frozenset({"--config", "-c"})
_registered: set[str] = set()


def register(*modules: str) -> None:
    """Add the commands of ``modules`` (names in COMMAND_MODULES' values) to the app, once."""
    for name in modules:
        if name not in _registered:
            module = importlib.import_module(f"bodycam_ingest.cli.{name}")
            module.register(app)
            _registered.add(name)


def register_all() -> None:
    register(*dict.fromkeys(COMMAND_MODULES.values()))


def subcommand(argv: list[str]) -> str | None:
    """The command named in ``argv`` (after any global options), or None."""
    skip = False
    for token in argv:
        if skip:
            skip = False
        elif token in _ROOT_OPTIONS_WITH_VALUE:
            skip = True
        elif not token.startswith("-"):
            return token
    return None


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"bodycam {version('bodycam-ingest')}")
        raise typer.Exit(0)


@app.callback()
def _root(verbose: Annotated[bool, typer.Option("--verbose", "-v",
                                                help="Debug logs; tracebacks for errors.")] = False,
          config: Annotated[Path | None, typer.Option(
              "--config", "-c", help="Config file for every command (else $BODYCAM_CONFIG, else "
              "/etc/bodycam/config.toml); may also be given after the command.",
              show_default=False)] = None,
          _show_version: Annotated[bool, typer.Option(
              "--version", is_eager=True, callback=_version,
              help="Print the version and exit.")] = False,
          ) -> None:
    _state["verbose"] = verbose
    _state["config"] = config


def _config(path: Path | None) -> Config:
    return common.load(path)


def _station(path: Path | None, *, read_only: bool = False) -> Station:
    from bodycam_ingest.station import Station

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

    common.require_system(config, "ingest")
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
def recover(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Finish or roll back ingests interrupted by a crash (also runs at every start)."""
    common.require_system(config, "recover")
    station = _station(config)
    try:
        report = station.recover()
    finally:
        station.close()
    if as_json:
        render.emit_json({"docks_closed": report.docks_closed, "finished": report.finished,
                          "rolled_back": report.rolled_back,
                          "leftovers_removed": report.leftovers_removed,
                          "probed": report.probed})
        return
    render.out.print(render.key_values("Recovery", [
        ("interrupted docks closed", report.docks_closed), ("files finished", report.finished),
        ("files rolled back", report.rolled_back),
        ("staging leftovers removed", report.leftovers_removed),
        ("recordings probed", report.probed)]))


@app.command()
def daemon(config: ConfigOpt = None) -> None:
    """Run the station: detect docked cameras and watch folders, ingest, recover."""
    from bodycam_ingest.daemon.service import run_daemon

    common.require_system(config, "daemon")
    raise typer.Exit(run_daemon(_config(config)))


# --- inspection (through the API: in-process for the station's own account, else the socket) --
@app.command()
def whoami(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Who the station says you are, and what you may do.

    The station knows you by the kernel's word (your OS user, mapped to an account), never by a
    name you type."""
    me = common.call(config, "whoami")
    if as_json:
        render.emit_json(me)
        return
    if me["system"]:
        title = f"You are {me['actor']}: the station itself"
        pairs: list[tuple[str, object]] = [
            ("account", f"none: OS user {me['os_user']} is root or the station's service "
                        "account, acting in-process"),
            ("custody log records you as", me["actor"]),
            ("roles", "all (the system may do every action)")]
    else:
        title = f"You are {me['login']}" + (f" ({me['display_name']})"
                                           if me["display_name"] else "")
        own = sorted(action for action, scope in me["actions"].items() if scope == "own")
        every = sorted(action for action, scope in me["actions"].items() if scope != "own")
        pairs = [("account", me["login"]), ("name", me["display_name"]),
                 ("officer number", me["officer_number"]), ("unit", me["unit"]),
                 ("roles", ", ".join(me["roles"]) or "none"),
                 ("custody log records you as", me["actor"]),
                 ("may do", ", ".join(every) or "-")]
        if own:
            pairs.append(("may do on your own recordings only", ", ".join(own)))
    pairs.append(("known from", f"OS user {me['os_user']} (uid {me['uid']}), as the kernel says"))
    render.out.print(render.key_values(title, pairs))


@app.command()
def status(config: ConfigOpt = None, as_json: JsonOpt = False,
           watch: Annotated[bool, typer.Option(help="Refresh every second until Ctrl-C.")] = False
           ) -> None:
    """Docks in progress (with progress bars), the last finished docks, and the jobs."""
    while True:
        data = common.call(config, "status")
        if as_json:
            render.emit_json(data)
            return
        if watch:
            render.out.clear()
        render.out.print(render.docks_table(data["running"], "Docks in progress")
                         if data["running"] else "No dock in progress.")
        if data["recent"]:
            render.out.print(render.docks_table(data["recent"], "Recent docks"))
        render.out.print(render.jobs_table(data["jobs"]))
        if data.get("object_store"):
            render.out.print(data["object_store"]["line"])
        if not watch:
            return
        time.sleep(1)


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
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many (newest first).")
                     ] = 100,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List recordings, newest first, filtered (officers see only their own)."""
    lean.list_command(config, device=device, officer=officer, since=since, until=until,
                      state_=state, limit=limit, as_json=as_json)


@app.command()
def show(recording_id: Annotated[int, typer.Argument(help="Recording id (see bodycam list).")],
         config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Everything known about one recording: file, probe, sightings, history.

    The viewing is registered in the custody log (R6)."""
    lean.show_command(config, recording_id, as_json=as_json)


# --- simulation --------------------------------------------------------------------------------
@app.command("sim-camera", add_help_option=False,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def sim_camera(ctx: typer.Context) -> None:
    """Build a simulated body camera (folder or FAT32 image); see --help of the simulator."""
    from bodycam_ingest.sim.camera import main as sim_main

    raise typer.Exit(sim_main(list(ctx.args)))


def full_help() -> str:
    """``bodycam --help`` as typer renders it with every command, 100 columns, no colour: what
    HELP_FILE holds (tests/test_cli_conventions.py checks they agree)."""
    from typer.testing import CliRunner

    register_all()
    result = CliRunner().invoke(app, ["--help"], prog_name="bodycam",
                                env={"COLUMNS": "100", "TERMINAL_WIDTH": "100", "NO_COLOR": "1"})
    return result.stdout


def main() -> None:
    """Console entry point: the one place errors become messages and exit codes.

    Click (inside typer) handles usage errors itself in standalone mode: message and exit 2.
    """
    argv = sys.argv[1:]
    try:
        name = subcommand(argv)
        if name in COMMAND_MODULES:
            register(COMMAND_MODULES[name])
        elif name is None or name not in app_command_names():
            register_all()  # help, completion, or a typo: click lists every command
        app()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except BodycamError as exc:
        lean.fail(exc)
    except Exception as exc:  # noqa: BLE001 - the CLI's last line: anything else is a bug
        lean.crash(exc)  # a documented fault (full disk, busy catalog) or a traceback, exit 70


def app_command_names() -> set[str]:
    return {command.name or command.callback.__name__.replace("_", "-")
            for command in app.registered_commands if command.callback is not None}
