"""What every command module of the CLI shares: options, config loading, the station, dates, and
``call``, the one way a command reaches the station's API.

Light on purpose: nothing here imports SQLAlchemy, pydantic or the station until a command runs
in-process. The station's side lives in ``cli.lean`` (no typer at all), re-exported here.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

# the station's side (config, socket, in-process) needs no typer: cli.lean, re-exported here
from bodycam_ingest.cli.lean import (
    DEFAULT_STATE_DIR,
    _peek,
    call,
    config_path,
    is_system,
    load,
    open_station,
    setup_logging,
    state,
)

__all__ = ["call", "config_path", "is_system", "load", "open_station", "setup_logging", "state"]


ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Config file (else "
                      "$BODYCAM_CONFIG, else /etc/bodycam/config.toml).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


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
