"""What every command module of the CLI shares: options, config loading, the station, dates, and
``call``, the one way a command reaches the station's API.

Light on purpose: nothing here imports SQLAlchemy, pydantic or the station until a command runs
in-process; a person's command goes to the daemon's socket with typer, rich and json only.
"""

from __future__ import annotations

import logging
import os
import sys
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer

from bodycam_ingest.api.client import DEFAULT_SOCKET
from bodycam_ingest.errors import StationUnreachable

if TYPE_CHECKING:
    from bodycam_ingest.config import Config
    from bodycam_ingest.station import Station

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Config file (else "
                      "$BODYCAM_CONFIG, else /etc/bodycam/config.toml).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

CONFIG_ENV = "BODYCAM_CONFIG"
DEFAULT_CONFIG = Path("/etc/bodycam/config.toml")
DEFAULT_STATE_DIR = Path("/var/lib/bodycam")
SOCKET_ENV = "BODYCAM_SOCKET"  # where to reach the daemon; never who you are
# set by the root callback: --verbose, and --config given before the command
state: dict[str, Any] = {"verbose": False, "config": None}


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

    where = config_path(path)
    raw = _peek(where)
    socket_path = Path(os.environ.get(SOCKET_ENV) or raw.get("access", {}).get("socket")
                       or DEFAULT_SOCKET)
    state_dir = Path(raw.get("storage", {}).get("state_dir") or DEFAULT_STATE_DIR)
    uid = os.geteuid()
    system = uid == 0 or _owner_uid(state_dir) == uid
    if where.exists() or not system:  # root without a config: say so, never ask a stranger
        try:
            return client.call(socket_path, method, params or {})
        except StationUnreachable:
            if not system:
                raise
    return _in_process(where, method, params or {}, read_only=read_only)


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


def require_system(path: Path | None, command: str) -> None:
    """Commands that act on the station's files directly (ingest, recover, daemon, keys ...) run
    as the service account or root; anyone else is told how."""
    from bodycam_ingest.access.identity import os_name
    from bodycam_ingest.errors import Refused

    uid = os.geteuid()
    if uid == 0:
        return
    raw = _peek(config_path(path))
    state_dir = Path(raw.get("storage", {}).get("state_dir") or DEFAULT_STATE_DIR)
    try:
        owner = state_dir.stat().st_uid
    except FileNotFoundError:
        return  # a new station: whoever creates its state directory is its service account
    except OSError:
        owner = -1  # cannot even look: certainly not ours
    if owner != uid:
        service = os_name(owner) if owner >= 0 else "bodycam"
        raise Refused(reason=f"bodycam {command} works on the station's own files, which only "
                      f"its service account may touch; OS user {os_name(uid)} is not it. Run it "
                      f"as the service account (sudo -u {service} bodycam {command} ...) or ask "
                      "an administrator")


@contextmanager
def open_station(path: Path | Config | None, *, read_only: bool = False) -> Iterator[Station]:
    from bodycam_ingest.config import Config
    from bodycam_ingest.station import Station

    station = Station.open(path if isinstance(path, Config) else load(path), read_only=read_only)
    try:
        yield station
    finally:
        station.close()


def parse_local_date(value: str | None, zone: str, option: str) -> datetime | None:
    """A date or date-time typed on the command line, in the station's zone, as aware UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM",
                                 param_hint=option) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(zone))).astimezone(UTC)
