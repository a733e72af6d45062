"""What every command module of the CLI shares: options, config loading, the station, dates."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from bodycam_ingest.config import Config, load_config, resolve_config_path
from bodycam_ingest.station import Station

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Config file (else "
                      "$BODYCAM_CONFIG, else /etc/bodycam/config.toml).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

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


@contextmanager
def open_station(path: Path | None, *, read_only: bool = False) -> Iterator[Station]:
    station = Station.open(load(path), read_only=read_only)
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
