"""How things look to people (rich tables) and to scripts (``--json``).

The text helpers (``safe``, ``when``, ``human_size``, ``emit_json``) live in ``cli.plain``, which
also writes the common tables to a pipe without rich; they are re-exported here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from bodycam_ingest.cli.lean import RECORDING_COLUMNS, recording_cells
from bodycam_ingest.cli.plain import emit_json, human_size, safe, when

__all__ = ["emit_json", "human_size", "safe", "when"]  # re-exported


# Piped output is read by people too (less, mail): give it room instead of wrapping ids mid-word.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def markup_safe(value: object) -> str:
    """``safe(value)`` for a place that reads Rich markup (an f-string with ``[bold]``): its
    brackets are escaped too, so a label "[bold]x" prints as typed."""
    return escape(safe(value))


def plain(value: object, *, lines: bool = False) -> Text:
    """Data (camera file names, reasons) is never rich markup nor terminal control: a file named
    "[red]x" stays as is, and an ESC in a note is shown as \\x1b (``safe``)."""
    return Text(safe(value, lines=lines))


def recordings_table(rows: Sequence[Mapping[str, Any]], title: str = "Recordings",
                     keep: Mapping[int, str] | None = None) -> Table:
    """Recordings as the API gives them; ``keep``: id -> retention mark (std/evid/LT, H held,
    due; deleted)."""
    table = Table(title=plain(title))
    for column in (*RECORDING_COLUMNS, *(("keep",) if keep is not None else ())):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*map(plain, recording_cells(row, keep)))
    return table


def docks_table(docks: Iterable[Mapping[str, Any]], title: str) -> Table:
    table = Table(title=plain(title))
    for column in ("dock", "source", "trigger", "started", "outcome", "files", "progress",
                   "current file / reason"):
        table.add_column(column, overflow="fold")
    for dock in docks:
        total = max(dock["bytes_total"], 1)
        bar = ProgressBar(total=total, completed=min(dock["bytes_done"], total), width=20)
        files = f"{dock['files_done']}/{dock['files_total'] - dock['files_skipped']}"
        if dock["files_skipped"]:
            files += f" (+{dock['files_skipped']} known)"
        outcome = dock["outcome"]
        table.add_row(plain(dock["id"]), plain(dock["source"]), plain(dock["trigger"]),
                      plain(when(dock["started_at"])), plain(outcome) if outcome
                      else Text("running", style="bold"), plain(files), bar,
                      plain(dock["current_file"] if outcome is None else (dock["reason"] or "")))
    return table


def jobs_table(items: Iterable[Mapping[str, Any]], title: str = "Jobs") -> Table:
    """Every job's schedule, next run (from the daemon's job store) and last result."""
    table = Table(title=plain(title))
    for column in ("job", "schedule", "next run (UTC)", "last run (UTC)", "trigger", "outcome",
                   "summary"):
        table.add_column(column, overflow="fold")
    for item in items:
        last = item["last_run"]
        if not item["enabled"]:
            nxt = "disabled in [jobs]"
        elif item["next_run"] is None:
            nxt = "- (daemon not started)"
        else:
            nxt = when(item["next_run"]) + "Z"
        table.add_row(*map(plain, (
            item["job"], item["schedule"], nxt, when(last["started_at"]) + "Z" if last else "never",
            last["trigger"] if last else None, last["outcome"] if last else None,
            last["summary"] if last else None)))
    return table


def key_values(title: str, pairs: Sequence[tuple[str, Any]]) -> Table:
    table = Table(title=plain(title), show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in pairs:
        table.add_row(key, plain(value))
    return table


def parse_time(value: datetime | str | None) -> datetime | None:
    """A time as the API gives it (ISO text after the JSON round trip), or None."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def when_z(value: datetime | str | None) -> str:
    """A UTC time to the minute with its Z, or ``-``."""
    parsed = parse_time(value)
    return "-" if parsed is None else parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M") + "Z"


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A folding table of plain values (never markup)."""
    result = Table(title=plain(title))
    for column in columns:
        result.add_column(column, overflow="fold")
    for row in rows:
        result.add_row(*map(plain, row))
    return result


@contextmanager
def progress_bars() -> Iterator[None]:
    """Progress of a handler run in-process, on stderr when it is a terminal (api.progress);
    through the daemon's socket there is none to show."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    from bodycam_ingest.api import progress as api_progress

    bars = Progress(*Progress.get_default_columns()[:-1], BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), console=err, transient=True,
                    disable=not err.is_terminal)

    def factory(description: str, total: int) -> Callable[[int], None]:
        task = bars.add_task(description, total=total)
        return lambda n: bars.advance(task, n)

    with bars, api_progress.shown_by(factory):
        yield


def audit_summary(data: Mapping[str, Any], title: str) -> Table:
    """The checks of an audit or verify report and their problems (``lean.audit_report``)."""
    summary = Table(title=plain(title))
    for column in ("check", "checked", "problems"):
        summary.add_column(column)
    for section in data["sections"]:
        problems = sum(1 for f in data["findings"] if f["section"] == section)
        summary.add_row(plain(section.replace("_", " ")), plain(data["checked"].get(section, 0)),
                        plain(problems) if problems == 0 else f"[bold red]{problems}[/]")
    return summary


def hold_status(hold: Mapping[str, Any]) -> str:
    if hold["released_at"] is not None:
        released = parse_time(hold["released_at"])
        assert released is not None
        return (f"released {released:%Y-%m-%d} by {hold['released_by']}"
                + (f", approved by {hold['release_approved_by']}"
                   if hold.get("release_approved_by") else "")
                + f": {hold['release_reason']}")
    return "active, REVIEW OVERDUE" if hold["review_overdue"] else "active"


def holds_table(items: Iterable[Mapping[str, Any]], title: str) -> Table:
    """Holds as the API gives them (``holds.list``)."""
    rows = []
    for h in items:
        created = parse_time(h["created_at"])
        assert created is not None
        rows.append((h["id"], h["target"], h["owner"], h["reason"],
                     f"{created:%Y-%m-%d} by {h['actor']}", h["until"], hold_status(h)))
    return table(title, ("hold", "on", "owner", "reason", "added", "review by", "status"), rows)
