"""The CLI without typer: how a command reaches the station (``call``), how an error ends a
command, and the lean front door for the commands a person runs most (``list``, ``show``), the
streamed ``retention plan --json`` and ``audit`` (without progress bars: stderr not a terminal).

``entry.main`` hands ``argv`` to ``run`` first. When every token is one ``run`` understands for
certain (the options of those commands as typer defines them in ``cli.app`` and
``cli.retention_cmds``, once each, in the usual spellings), it calls the same function the typer
command calls (``list_command``, ``show_command``, ``plan_json_command``, ``audit_command``),
with the same values:
no typer or click import, and no rich when the output is a pipe or a file (a quarter of a second
of start-up). Anything else (``--help``, a typo, a bad value, a repeated option, completion,
``retention plan`` without ``--json``) returns None and typer parses it, so usage errors are
always typer's own. tests/test_cli_lean.py proves both definitions agree (options, output bytes,
exit codes, errors).

Nothing here imports typer, rich, SQLAlchemy or pydantic at module level.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tomllib
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from bodycam_ingest.cli import plain
from bodycam_ingest.errors import BodycamError, ExitCode

if TYPE_CHECKING:
    from bodycam_ingest.config import Config
    from bodycam_ingest.station import Station

CONFIG_ENV = "BODYCAM_CONFIG"
DEFAULT_CONFIG = Path("/etc/bodycam/config.toml")
DEFAULT_STATE_DIR = Path("/var/lib/bodycam")
DEFAULT_SOCKET = Path("/run/bodycam/api.sock")  # [access] socket's default (api.client's)
SOCKET_ENV = "BODYCAM_SOCKET"  # where to reach the daemon; never who you are
# set by the root callback (or ``run``): --verbose, and --config given before the command
state: dict[str, Any] = {"verbose": False, "config": None}


# --- the station: config, socket or in-process ---------------------------------------------------
def config_path(path: Path | None) -> Path:
    """--config after the command, else before it, else $BODYCAM_CONFIG, else the default."""
    explicit = path or state.get("config")
    if explicit is not None:
        return Path(explicit)
    return Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else DEFAULT_CONFIG


def setup_logging(config: Config | None) -> None:
    level = "DEBUG" if state["verbose"] else (config.log.level.upper() if config else "INFO")
    logging.basicConfig(level=level, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def load(path: Path | None) -> Config:
    """The config named by --config, $BODYCAM_CONFIG or the default path; logging set from it."""
    from bodycam_ingest.config import load_config

    config = load_config(config_path(path))
    setup_logging(config)
    for warning in config.retention.warnings():  # at every start, as R2's floor demands
        logging.getLogger("bodycam.retention").warning("%s", warning)
    return config


def _peek(path: Path) -> dict[str, Any]:
    """The raw TOML, or {} when it cannot be read (a person usually cannot read the config:
    root:bodycam 0640); validation is the in-process path's job."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def call(path: Path | None, method: str, params: dict[str, Any] | None = None, *,
         read_only: bool = True) -> Any:
    """Run API ``method`` as the caller, through the daemon's socket, where the kernel says who
    the caller is. When no daemon answers, root and the service account (the owner of the state
    directory) run the same handler in-process (recovery, tests, a stopped daemon); anyone else
    is told the daemon is unreachable. Either way the same handler and authorization decide."""
    from bodycam_ingest.api import client
    from bodycam_ingest.errors import StationUnreachable

    where = config_path(path)
    raw = _peek(where)
    socket_path = _socket_path(raw)
    state_dir = Path(raw.get("storage", {}).get("state_dir") or DEFAULT_STATE_DIR)
    uid = os.geteuid()
    system = uid == 0 or _owner_uid(state_dir) == uid
    if where.exists() or not system:  # root without a config: say so, never ask a stranger
        try:
            return client.call(socket_path, method, params or {})
        except StationUnreachable:
            if not system:
                raise
    if method != "audit.run":
        return _in_process(where, method, params or {}, read_only=read_only)
    # the audit hashes the store from now on, while the station is loaded (custody.early)
    from bodycam_ingest.custody import early

    storage = raw.get("storage", {})
    workers = raw.get("custody", {}).get("hash_workers", 0)
    early.start(Path(storage.get("store_dir") or state_dir / "evidence"),
                workers if isinstance(workers, int) and workers > 0 else 0)
    try:
        return _in_process(where, method, params or {}, read_only=read_only)
    finally:
        early.stop_all()  # what the audit did not take (it failed before hashing)


def _socket_path(raw: Mapping[str, Any]) -> Path:
    return Path(os.environ.get(SOCKET_ENV) or raw.get("access", {}).get("socket")
                or DEFAULT_SOCKET)


def is_system(path: Path | None) -> bool:
    """Whether this process is root or the station's service account (the state's owner)."""
    uid = os.geteuid()
    raw = _peek(config_path(path))
    return uid == 0 or _owner_uid(Path(raw.get("storage", {}).get("state_dir")
                                       or DEFAULT_STATE_DIR)) == uid


def _owner_uid(path: Path) -> int | None:
    try:
        return path.stat().st_uid
    except OSError:
        return None


def _in_process(where: Path, method: str, params: dict[str, Any], *, read_only: bool) -> Any:
    from bodycam_ingest.access.identity import current_system_principal
    from bodycam_ingest.api.protocol import roundtrip
    from bodycam_ingest.api.registry import dispatch

    with open_station(load(where), read_only=read_only) as station:
        result = dispatch(station, current_system_principal(), method, params)
        if not read_only:
            from bodycam_ingest.custody import service as custody

            custody.after_command(station)
    return roundtrip(result)


@contextmanager
def open_station(path: Path | Config | None, *, read_only: bool = False) -> Iterator[Station]:
    from bodycam_ingest.config import Config
    from bodycam_ingest.station import Station

    station = Station.open(path if isinstance(path, Config) else load(path), read_only=read_only)
    try:
        yield station
    finally:
        station.close()


# --- how a command ends when something goes wrong -----------------------------------------------
_EMOJI_CODE = re.compile(r":[^\s:]*:")  # what rich's markup would turn into an emoji


def fail(exc: BodycamError, cause: BaseException | None = None) -> NoReturn:
    """One sentence on stderr and the error's documented exit code (README, "Exit codes")."""
    if state["verbose"]:
        traceback.print_exception(cause or exc)
    message = plain.safe(exc.message())
    if plain.usable(sys.stderr) and "[" not in message and not _EMOJI_CODE.search(message):
        sys.stderr.write(f"error: {message}\n")  # what the rich line below prints to a pipe
    else:
        from bodycam_ingest.cli import render

        render.err.print(f"[bold red]error:[/] {render.markup_safe(exc.message())}",
                         highlight=False, soft_wrap=True)
    sys.exit(int(exc.exit_status()))


def documented_fault(exc: BaseException) -> BodycamError | None:
    """ENOSPC, EROFS, EACCES or a busy, read-only or full catalog as its documented error (issue
    9, D9); None for anything else. The database module is imported only if it already was."""
    if "bodycam_ingest.catalog.db" not in sys.modules and not isinstance(exc, OSError):
        return None
    from bodycam_ingest.catalog.db import translate_fault

    return translate_fault(exc)


def crash(exc: Exception) -> NoReturn:
    """The CLI's last line: a documented fault becomes its error, anything else is a bug."""
    fault = documented_fault(exc)
    if fault is not None:  # a full or read-only disk, a busy catalog: not a bug
        fail(fault, exc)
    from rich.markup import escape

    from bodycam_ingest.cli import render

    traceback.print_exc()
    render.err.print(f"[bold red]internal error (a bug; please report it with the traceback "
                     f"above):[/] {escape(repr(exc))}", highlight=False)
    sys.exit(int(ExitCode.BUG))


# --- output shared by the typer commands and the lean path ---------------------------------------
def _show(text: str | None, rich_fallback: Callable[[], None]) -> None:
    if text is not None:
        sys.stdout.write(text)
    else:
        rich_fallback()


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                header: bool = True, kinds: Sequence[str] | None = None,
                rich_table: Callable[[], Any]) -> None:
    """``render.out.print(rich_table())``, written without rich when the result is certain."""
    text = (plain.table(plain.safe(title), columns, [[plain.safe(v) for v in row] for row in rows],
                        header=header, kinds=kinds)
            if plain.usable(sys.stdout) else None)

    def fallback() -> None:
        from bodycam_ingest.cli import render

        render.out.print(rich_table())

    _show(text, fallback)


def print_line(value: object) -> None:
    """``render.out.print(render.plain(value))``."""
    text = plain.line(plain.safe(value)) if plain.usable(sys.stdout) else None

    def fallback() -> None:
        from bodycam_ingest.cli import render

        render.out.print(render.plain(value))

    _show(text, fallback)


def print_note(message: str) -> None:
    """``render.err.print(message, highlight=False)`` (``message`` is markup)."""
    text = plain.line(message, markup=True) if plain.usable(sys.stderr) else None
    if text is not None:
        sys.stderr.write(text)
    else:
        from bodycam_ingest.cli import render

        render.err.print(message, highlight=False)


RECORDING_COLUMNS = ("id", "officer", "device", "start (camera local)", "seq", "duration",
                     "size", "status", "sha256")


def recording_cells(row: Mapping[str, Any], keep: Mapping[int, str] | None) -> list[Any]:
    """One row of the recordings table, before ``safe``."""
    duration = row.get("duration_s")
    return [row["id"], row.get("name_officer"), row.get("name_device"),
            plain.when(row.get("name_start_local")), row.get("name_seq"),
            f"{duration:.1f}s" if duration is not None else None,
            plain.human_size(row.get("size")), row.get("status"), row["sha256"][:12] + "…",
            *((keep.get(row["id"]),) if keep is not None else ())]


def list_command(config: Path | None, *, device: str | None, officer: str | None,
                 since: str | None, until: str | None, state_: str | None, limit: int,
                 as_json: bool) -> None:
    """``bodycam list``: what the typer command and the lean path both run."""
    params = {"device": device, "officer": officer, "state": state_, "limit": limit,
              "since": since, "until": until}  # station-local: the station knows its zone
    data = call(config, "recordings.list", {k: v for k, v in params.items() if v is not None})
    items, total = data["items"], data["total"]
    if as_json:
        plain.emit_json(items)
    else:
        keep = {r["id"]: r["retention"]["keep"] for r in items}
        title = f"Recordings ({len(items)} of {total})"

        def rich_table() -> Any:
            from bodycam_ingest.cli import render

            return render.recordings_table(items, title, keep=keep)

        print_table(title, (*RECORDING_COLUMNS, "keep"),
                    [recording_cells(r, keep) for r in items], rich_table=rich_table)
    if total > len(items):
        print_note(f"showing {len(items)} of {total} recordings, newest first; use --limit or a "
                   "filter to see others")


# keys of `show --json` shown in their own lines below the table, not as raw values
_SHOW_STRUCTURED = frozenset({"sightings", "events", "session", "continuity", "findings",
                              "session_place", "labels", "retention", "store_file"})


def print_key_values(title: str, pairs: Sequence[tuple[str, Any]]) -> None:
    """``render.out.print(render.key_values(title, pairs))``; the keys are rich markup there."""
    certain = all("[" not in key and ":" not in key for key, _ in pairs)

    def rich_table() -> Any:
        from bodycam_ingest.cli import render

        return render.key_values(title, pairs)

    if not certain:
        from bodycam_ingest.cli import render

        render.out.print(rich_table())
        return
    print_table(title, ("field", "value"), [(key, value) for key, value in pairs],
                header=False, kinds=("wrap", "fold"), rich_table=rich_table)


def show_command(config: Path | None, recording_id: int, *, as_json: bool) -> None:
    """``bodycam show ID``: what the typer command and the lean path both run."""
    data = call(config, "recordings.show", {"recording_id": recording_id}, read_only=False)
    display = data.pop("display")
    if as_json:
        plain.emit_json(data)
        return
    pairs = [(key, value) for key, value in data.items() if key not in _SHOW_STRUCTURED]
    pairs.append(("store file", data["store_file"]))
    pairs += [(key, value) for key, value in display]
    pairs.append(("session (same device and day)",
                  " ".join(f"[{n}]" if n == data["id"] else str(n) for n in data["session"])
                  or "-"))
    print_key_values(f"Recording {data['id']}", pairs)
    for sighting in data["sightings"]:
        print_line(f"seen at dock {sighting['dock_id']} as {sighting['camera_path']} "
                   f"({'copied' if sighting['copied'] else 'already stored'})"
                   + (f", wiped from camera {sighting['wiped_at']}" if sighting["wiped_at"]
                      else ""))
    for event in data["events"]:
        print_line(f"{plain.when(event['at'])}Z {event['actor']} {event['action']}"
                   + (f" ({event['reason']})" if event["reason"] else ""))


def plan_json_command(config: Path | None, horizon: int | None) -> None:
    """``bodycam retention plan --json``: streamed from the catalog for root and the service
    account (memory is one decision, issue 14); for anyone else streamed the same way by the
    daemon through its socket (``retention.plan_stream``), written here as it arrives. An error
    mid-stream ends the command with its message and exit code, never as a complete answer."""
    if is_system(config):
        from bodycam_ingest.retention.plan_json import write_plan_json
        from bodycam_ingest.retention.service import streamed_plan

        with (open_station(config, read_only=True) as station,
              streamed_plan(station, horizon_days=horizon) as stream):
            write_plan_json(stream, sys.stdout)
        return
    from bodycam_ingest.api import client

    params = {} if horizon is None else {"horizon": horizon}
    for text in client.stream(_socket_path(_peek(config_path(config))), "retention.plan_stream",
                              params):
        sys.stdout.write(text)


def audit_report(data: Mapping[str, Any], title: str) -> None:
    """An audit or verify report as the API gives it: checks, problems, notes, throughput
    (written without rich when the result is certain; else ``render.audit_summary`` and
    ``render.table``)."""
    findings = data["findings"]
    rows = [(section.replace("_", " "), data["checked"].get(section, 0),
             sum(1 for f in findings if f["section"] == section)) for section in data["sections"]]

    def summary() -> Any:
        from bodycam_ingest.cli import render

        return render.audit_summary(data, title)

    print_table(title, ("check", "checked", "problems"), rows, kinds=("wrap",) * 3,
                rich_table=summary)
    if findings:
        problems = [(f["section"].replace("_", " "), f["object"], f["problem"]) for f in findings]
        heading = f"Problems ({len(findings)})"

        def table() -> Any:
            from bodycam_ingest.cli import render

            return render.table(heading, ("check", "object", "problem"), problems)

        print_table(heading, ("check", "object", "problem"), problems, kinds=("fold",) * 3,
                    rich_table=table)
    for note in data["notes"]:
        print_line(f"note: {note}")
    print_line(f"{plain.human_size(data['bytes_hashed'])} hashed in {data['seconds']:.1f} s "
               f"({data['mb_per_s']:.0f} MB/s); "
               + ("clean" if data["clean"] else f"{len(findings)} problem(s)"))


def audit_command(config: Path | None, method: str, params: dict[str, Any], title: str, *,
                  as_json: bool) -> int:
    """``bodycam audit`` / ``verify``: the report, and the exit status (0 clean, else 1)."""
    data = call(config, method, params, read_only=False)
    if as_json:
        plain.emit_json(data)
    else:
        audit_report(data, title)
    return int(ExitCode.OK if data["clean"] else ExitCode.FINDINGS)


# --- the lean front door --------------------------------------------------------------------------
@dataclass(frozen=True)
class Opt:
    """One option as typer defines it: its spellings, destination, and kind ("flag", "str",
    "path", or "int" with a minimum)."""

    names: tuple[str, ...]
    dest: str
    kind: str
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class Command:
    options: tuple[Opt, ...]
    arguments: tuple[Opt, ...] = ()
    required: tuple[str, ...] = ()  # run here only with these options (e.g. --json: no rich)


_CONFIG = Opt(("--config", "-c"), "config", "path")
_JSON = Opt(("--json",), "as_json", "flag")
# mirrors cli.app's typer definitions; tests/test_cli_lean.py compares them with click's view
COMMANDS: dict[str, Command] = {
    "list": Command((Opt(("--device",), "device", "str"), Opt(("--officer",), "officer", "str"),
                     Opt(("--since",), "since", "str"), Opt(("--until",), "until", "str"),
                     Opt(("--state",), "state", "str"), Opt(("--limit",), "limit", "int", 1),
                     _CONFIG, _JSON)),
    "show": Command((_CONFIG, _JSON), (Opt(("RECORDING_ID",), "recording_id", "int"),)),
    "retention plan": Command((Opt(("--horizon",), "horizon", "int", 0, 3650), _CONFIG, _JSON),
                              required=("as_json",)),
    # progress bars on a terminal are rich's: the lean path runs it only when stderr is not one
    # --all-stations (the bureau's audit: per-station reports) is typer's to run
    "audit": Command((_CONFIG, _JSON, Opt(("--deadlines",), "deadlines", "flag"),
                      Opt(("--no-deadlines",), "deadlines", "flag_off"),
                      Opt(("--all-stations",), "all_stations", "flag"))),
}
ROOT = Command((Opt(("--verbose", "-v"), "verbose", "flag"), _CONFIG))
_INT = re.compile(r"[1-9][0-9]{0,17}|0")


def _value(opt: Opt, text: str) -> Any:
    """``text`` converted as typer would, or None when typer should judge it."""
    if opt.kind == "int":
        if not _INT.fullmatch(text):
            return None
        number = int(text)
        if (opt.minimum is not None and number < opt.minimum) or \
                (opt.maximum is not None and number > opt.maximum):
            return None
        return number
    if not text or text.startswith("-"):
        return None
    return Path(text) if opt.kind == "path" else text


def _option(by_name: Mapping[str, Opt], tokens: Sequence[str], index: int,
            values: dict[str, Any]) -> int | None:
    """Read the option at ``tokens[index]`` into ``values``; the next index, or None."""
    word = tokens[index]
    name, equals, attached = word.partition("=") if word.startswith("--") else (word, "", "")
    opt = by_name.get(name)
    if opt is None or opt.dest in values:  # unknown, abbreviated, combined or repeated
        return None
    if opt.kind in ("flag", "flag_off"):
        if equals:
            return None
        values[opt.dest] = opt.kind == "flag"
        return index + 1
    if equals:
        text, index = attached, index + 1
    elif index + 1 < len(tokens):
        text, index = tokens[index + 1], index + 2
    else:
        return None
    value = _value(opt, text)
    if value is None:
        return None
    values[opt.dest] = value
    return index


def _options(spec: Command, tokens: Sequence[str], *, stop_at_word: bool
             ) -> tuple[dict[str, Any], list[Any], int] | None:
    """Options and arguments of ``tokens`` per ``spec``; None when unsure."""
    by_name = {name: opt for opt in spec.options for name in opt.names}
    values: dict[str, Any] = {}
    arguments: list[Any] = []
    index: int | None = 0
    while index is not None and index < len(tokens):
        word = tokens[index]
        if word.startswith("-") and word != "-":
            index = _option(by_name, tokens, index, values)
            continue
        if stop_at_word:
            break
        if len(arguments) >= len(spec.arguments):
            return None
        value = _value(spec.arguments[len(arguments)], word)
        if value is None:
            return None
        arguments.append(value)
        index += 1
    return None if index is None else (values, arguments, index)


def parse(argv: Sequence[str]) -> tuple[str, dict[str, Any], dict[str, Any]] | None:
    """(command, root options, command options and arguments), or None: typer's turn."""
    root = _options(ROOT, argv, stop_at_word=True)
    if root is None:
        return None
    root_values, _, used = root
    name = " ".join(argv[used:used + 2])  # a command of a group ("retention plan")
    if name not in COMMANDS:
        name = argv[used] if used < len(argv) else ""
    if name not in COMMANDS:
        return None
    spec = COMMANDS[name]
    parsed = _options(spec, argv[used + len(name.split()):], stop_at_word=False)
    if parsed is None:
        return None
    values, arguments, _ = parsed
    if len(arguments) != len(spec.arguments) or any(r not in values for r in spec.required):
        return None
    values.update((arg.dest, value) for arg, value in zip(spec.arguments, arguments, strict=True))
    return name, root_values, values


def _completing() -> bool:
    return any(key.startswith("_") and key.endswith("_COMPLETE") for key in os.environ)


def run(argv: Sequence[str]) -> None:
    """Run ``argv`` here and exit, or return (without side effects) for typer to run it."""
    parsed = None if _completing() else parse(argv)
    if parsed is None or (parsed[0] == "audit" and (
            _is_terminal(sys.stderr) or parsed[2].get("all_stations"))):
        return
    name, root, values = parsed
    state["verbose"] = bool(root.get("verbose", False))  # what cli.app's root callback does
    state["config"] = root.get("config")
    config = values.get("config")
    as_json = bool(values.get("as_json", False))
    status = 0
    try:
        try:
            if name == "list":
                list_command(config, device=values.get("device"), officer=values.get("officer"),
                             since=values.get("since"), until=values.get("until"),
                             state_=values.get("state"), limit=values.get("limit", 100),
                             as_json=as_json)
            elif name == "show":
                show_command(config, values["recording_id"], as_json=as_json)
            elif name == "audit":
                status = audit_command(config, "audit.run",
                                       {"deadlines": values.get("deadlines", True)}, "Audit",
                                       as_json=as_json)
            else:
                plan_json_command(config, values.get("horizon"))
            sys.stdout.flush()
        except KeyboardInterrupt:  # as click: exit 130, nothing said
            sys.exit(130)
        except BrokenPipeError:  # as click: `bodycam list | head` ends quietly, exit 1
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
    except BodycamError as exc:
        fail(exc)
    except Exception as exc:  # noqa: BLE001 - the CLI's last line: anything else is a bug
        crash(exc)
    sys.exit(status)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
