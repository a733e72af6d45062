"""What every command module of the CLI shares: options, config loading, the station, dates."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from bodycam_ingest.access.settings import DEFAULT_SOCKET
from bodycam_ingest.config import Config, load_config, resolve_config_path
from bodycam_ingest.station import Station

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Config file (else "
                      "$BODYCAM_CONFIG, else /etc/bodycam/config.toml).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

SOCKET_ENV = "BODYCAM_SOCKET"  # where to reach the daemon; never who you are
state: dict[str, Any] = {"verbose": False}  # set by the root callback (--verbose)


def setup_logging(config: Config | None) -> None:
    level = "DEBUG" if state["verbose"] else (config.log.level.upper() if config else "INFO")
    logging.basicConfig(level=level, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def load(path: Path | None) -> Config:
    """The config named by --config, $BODYCAM_CONFIG or the default path; logging set from it."""
    config = load_config(resolve_config_path(path))
    setup_logging(config)
    for warning in config.retention.warnings():  # at every start, as R2's floor demands
        logging.getLogger("bodycam.retention").warning("%s", warning)
    return config


def call(path: Path | None, method: str, params: dict[str, Any] | None = None, *,
         read_only: bool = True) -> Any:
    """Run API ``method`` as the caller: in-process for root and the service account (the owner
    of the state directory), through the daemon's socket for everyone else, where the kernel says
    who they are. Either way the same handler and the same authorization table decide. A person
    usually cannot read the config (root:bodycam 0640): then the default socket is used."""
    from bodycam_ingest.api import client

    config_path = resolve_config_path(path)
    if os.geteuid() == 0 or os.access(config_path, os.R_OK):
        config = load(config_path)
        from bodycam_ingest.access.identity import current_system_principal, is_system_uid

        if is_system_uid(os.geteuid(), config.storage.state_dir):
            from bodycam_ingest.api.protocol import roundtrip
            from bodycam_ingest.api.registry import dispatch

            with open_station(config, read_only=read_only) as station:
                result = dispatch(station, current_system_principal(), method, params or {})
                if not read_only:
                    from bodycam_ingest.custody import service as custody

                    custody.after_command(station)
            return roundtrip(result)
        socket_path = config.access.socket
    else:
        socket_path = DEFAULT_SOCKET
    return client.call(Path(os.environ.get(SOCKET_ENV) or socket_path), method, params or {})


def require_system(path: Path | None, command: str) -> None:
    """Commands that act on the station's files directly (ingest, recover, daemon, keys ...) run
    as the service account or root; anyone else is told how."""
    from bodycam_ingest.access.identity import is_system_uid, os_name, service_uid
    from bodycam_ingest.errors import Refused

    uid = os.geteuid()
    if uid == 0:
        return
    config = load(resolve_config_path(path))
    if service_uid(config.storage.state_dir) is None:
        return  # a new station: whoever creates its state directory is its service account
    if not is_system_uid(uid, config.storage.state_dir):
        raise Refused(reason=f"bodycam {command} works on the station's own files, which only "
                      f"its service account may touch; OS user {os_name(uid)} is not it. Run it "
                      f"as the service account (sudo -u {_owner(config.storage.state_dir)} "
                      f"bodycam {command} ...) or ask an administrator")


def _owner(path: Path) -> str:
    from bodycam_ingest.access.identity import os_name

    try:
        return os_name(path.stat().st_uid)
    except OSError:
        return "bodycam"


@contextmanager
def open_station(path: Path | Config | None, *, read_only: bool = False) -> Iterator[Station]:
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
