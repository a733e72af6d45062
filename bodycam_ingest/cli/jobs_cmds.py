"""CLI commands: ``bodycam jobs list`` and ``bodycam jobs run NAME`` (issue 5).

``jobs run`` is the one-shot front door to the same runner the daemon's scheduler uses, for cron
or the shipped systemd timers. Exit status: 0 ok, 1 done with alerts, 7 the job failed (its
summary says why), 5 the job is already running in another process.
"""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer
from rich.table import Table

from bodycam_ingest.cli import common, render
from bodycam_ingest.errors import ExitCode
from bodycam_ingest.jobs.registry import JobStatus, job_statuses, run_job, status_json
from bodycam_ingest.jobs.settings import JOB_NAMES

jobs_app = typer.Typer(no_args_is_help=True, help="The station's scheduled jobs: retention "
                       "sweep, fixity scrub, deadline check, catalog backup.")

EXIT_CODES = {"ok": ExitCode.OK, "alert": ExitCode.WARNING, "failed": ExitCode.INCOMPLETE}


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") + "Z" if value is not None else "-"


def jobs_table(items: list[JobStatus], title: str = "Jobs") -> Table:
    """Every job's schedule, next run (from the daemon's job store) and last result."""
    table = Table(title=title)
    for column in ("job", "schedule", "next run (UTC)", "last run (UTC)", "trigger", "outcome",
                   "summary"):
        table.add_column(column, overflow="fold")
    for item in items:
        last = item.last
        if not item.enabled:
            nxt = "disabled in [jobs]"
        elif item.next_run is None:
            nxt = "- (daemon not started)"
        else:
            nxt = _when(item.next_run)
        table.add_row(*map(render.plain, (
            item.name, item.schedule, nxt, _when(last.started_at) if last else "never",
            last.trigger if last else None, (last.outcome or "running") if last else None,
            last.summary if last else None)))
    return table


@jobs_app.command("list")
def list_cmd(config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """Each job: schedule, enabled, next run, and the outcome of its last run."""
    with common.open_station(config, read_only=True) as station, \
            station.catalog.reading() as session:
        items = job_statuses(session, station.config)
    if as_json:
        render.emit_json([status_json(item) for item in items])
    else:
        render.out.print(jobs_table(items))


@jobs_app.command("run")
def run_cmd(
    name: Annotated[str, typer.Argument(help="One of: " + ", ".join(JOB_NAMES) + ".")],
    trigger: Annotated[str, typer.Option(help="Recorded as the run's trigger: cli, or timer "
                                         "(the shipped systemd units).")] = "cli",
    config: common.ConfigOpt = None,
    as_json: common.JsonOpt = False,
) -> None:
    """Run one job now (exit 0 ok, 1 alerts raised, 7 failed, 5 already running)."""
    if name not in JOB_NAMES:
        raise typer.BadParameter(f"{name!r} is not a job; one of: {', '.join(JOB_NAMES)}",
                                 param_hint="NAME")
    if trigger not in ("cli", "timer"):
        raise typer.BadParameter("use cli or timer", param_hint="--trigger")
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
