"""CLI commands: ``bodycam doctor`` (is this station set up right, and the fix for each line) and
``bodycam udev-rules`` (the udev rule for the configured cameras). Thin: ``doctor.gather`` looks,
``doctor.evaluate`` judges, this renders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bodycam_ingest import doctor
from bodycam_ingest.cli import common, render
from bodycam_ingest.config import resolve_config_path

STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "n/a": "dim", "unknown": "yellow"}


def doctor_cmd(
    config: common.ConfigOpt = None, as_json: common.JsonOpt = False,
    service_user: Annotated[str, typer.Option(
        "--service-user", help="The user the daemon runs as (the unit's User=).")] =
        doctor.SERVICE_USER,
) -> None:
    """Check this station: config, ownership and modes, the station key, udev, FUSE tools, clock
    synchronisation, free space, units and timers, the holiday calendar; the fix for each failing
    line. Exit 0 all good, 1 warnings only, 3 config unreadable or invalid, 9 a check failed."""
    path = resolve_config_path(config)
    common.setup_logging(None)
    facts = doctor.gather(path, service_user)
    checks = doctor.evaluate(facts)
    code = doctor.exit_code(checks, facts.config_error)
    if as_json:
        render.emit_json({"config": str(path), "exit_code": int(code),
                          "checks": [c.as_json() for c in checks]})
        raise typer.Exit(int(code))
    table = Table(title=f"bodycam doctor ({path})")
    for column in ("check", "status", "detail", "fix"):
        table.add_column(column, overflow="fold")
    for c in checks:
        table.add_row(render.plain(c.name), render.plain(c.status.upper()), render.plain(c.detail),
                      render.plain(c.fix or ""), style=STYLE[c.status])
    render.out.print(table)
    failing = sum(c.status == "fail" for c in checks)
    render.out.print(f"{failing} check(s) failed" if failing else "no check failed")
    raise typer.Exit(int(code))


def udev_rules_cmd(config: common.ConfigOpt = None,
                   output: Annotated[Path | None, typer.Option(
                       "--output", "-o", help="Write here (mode 0644) instead of stdout.")]
                   = None) -> None:
    """Print the udev rule that marks exactly the cameras the config's [[cameras]] rules match
    (install it as /etc/udev/rules.d/70-bodycam.rules; install-station.sh does)."""
    from bodycam_ingest.detection.dock import device_rules
    from bodycam_ingest.detection.rules import udev_rules

    text = udev_rules(device_rules(common.load(config)))
    if output is None:
        print(text, end="")
        return
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(0o644)
    tmp.replace(output)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_cmd)
    app.command("udev-rules")(udev_rules_cmd)
