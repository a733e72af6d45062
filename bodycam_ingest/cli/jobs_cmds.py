"""CLI commands: ``bodycam jobs list`` and ``bodycam jobs run NAME`` (issue 5).

``jobs run`` is the one-shot front door to the same runner the daemon's scheduler uses, for cron
or the shipped systemd timers. Exit status: 0 ok, 1 done with alerts, 7 the job failed (its
summary says why), 5 the job is already running in another process.
"""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from bodycam_ingest.cli import common, render
from bodycam_ingest.errors import ExitCode
from bodycam_ingest.jobs.registry import run_job
from bodycam_ingest.jobs.settings import JOB_NAMES

jobs_app = typer.Typer(no_args_is_help=True, help="The station's scheduled jobs: retention "
                       "sweep, fixity scrub, deadline check, catalog backup.")

EXIT_CODES = {"ok": ExitCode.OK, "alert": ExitCode.WARNING, "failed": ExitCode.INCOMPLETE}


@jobs_app.command("list")
def list_cmd(config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """Each job: schedule, enabled, next run, and the outcome of its last run."""
    items = common.call(config, "jobs.list")
    if as_json:
        render.emit_json(items)
    else:
        render.out.print(render.jobs_table(items))


@jobs_app.command("run")
def run_cmd(
    name: Annotated[str, typer.Argument(help="One of: " + ", ".join(JOB_NAMES) + ".")],
    trigger: Annotated[str, typer.Option(help="Recorded as the run's trigger: cli, or timer "
                                         "(the shipped systemd units).")] = "cli",
    config: common.ConfigOpt = None,
    as_json: common.JsonOpt = False,
) -> None:
    """Run one job now, as the service account (exit 0 ok, 1 alerts raised, 7 failed, 5 already
    running or not the service account)."""
    if name not in JOB_NAMES:
        raise typer.BadParameter(f"{name!r} is not a job; one of: {', '.join(JOB_NAMES)}",
                                 param_hint="NAME")
    if trigger not in ("cli", "timer"):
        raise typer.BadParameter("use cli or timer", param_hint="--trigger")
    common.require_system(config, f"jobs run {name}")
    cancel = threading.Event()

    def stop(_signum: int, _frame: object) -> None:
        cancel.set()  # a scrub or backup stops at its next step, its progress recorded

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with common.open_station(config) as station:
            result = run_job(station, name, trigger, cancel=cancel)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if as_json:
        render.emit_json({"job": name, "outcome": result.outcome, "summary": result.summary,
                          "alerts": list(result.alerts)})
    else:
        render.out.print(render.key_values(f"Job {name}", [
            ("outcome", result.outcome), ("summary", result.summary),
            *[("alert", alert) for alert in result.alerts]]))
    raise typer.Exit(int(EXIT_CODES[result.outcome]))


def register(app: typer.Typer) -> None:
    """Add this part's commands to the main app."""
    app.add_typer(jobs_app, name="jobs")
