"""How things look to people (rich tables) and to scripts (``--json``)."""

from __future__ import annotations

import json
import re
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

# Piped output is read by people too (less, mail): give it room instead of wrapping ids mid-word.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def emit_json(data: Any) -> None:
    print(json.dumps(data, default=_default, sort_keys=True, indent=2, ensure_ascii=False))


# Characters that steer a terminal instead of showing: C0 and C1 controls and DEL (ESC starts ANSI
# colours, cursor moves and OSC 52, which writes the clipboard; BEL rings), and the bidirectional
# formatting characters, which make a label read differently from what it is (U+202E turns
# "C-7[U+202E]fdp.exe" into "C-7exe.pdf"). Each is shown as its \\x or \\u escape.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_UNSAFE_BUT_LINES = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_BIDI}]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(value: object, *, lines: bool = False) -> str:
    """``value`` as text a terminal shows literally: every control, escape and bidi character
    becomes a visible escape (``\\x1b``, ``\\u202e``). The one helper every renderer uses for what a
    person or a camera supplied (labels, notes, reasons, file names, error messages). With
    ``lines`` a newline stays a newline (a multi-line text shown exactly, e.g. a request's
    preview)."""
    pattern = _UNSAFE_BUT_LINES if lines else _UNSAFE
    return pattern.sub(_escape_char, "-" if value is None else str(value))


def markup_safe(value: object) -> str:
    """``safe(value)`` for a place that reads Rich markup (an f-string with ``[bold]``): its
    brackets are escaped too, so a label "[bold]x" prints as typed."""
    return escape(safe(value))


def plain(value: object, *, lines: bool = False) -> Text:
    """Data (camera file names, reasons) is never rich markup nor terminal control: a file named
    "[red]x" stays as is, and an ESC in a note is shown as \\x1b (``safe``)."""
    return Text(safe(value, lines=lines))


def when(value: datetime | str | None) -> str:
    """A time from the catalog or from JSON (ISO text), to the second."""
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def recordings_table(rows: Sequence[Mapping[str, Any]], title: str = "Recordings",
                     keep: Mapping[int, str] | None = None) -> Table:
    """Recordings as the API gives them; ``keep``: id -> retention mark (std/evid/LT, H held,
    due; deleted)."""
    table = Table(title=plain(title))
    for column in ("id", "officer", "device", "start (camera local)", "seq", "duration", "size",
                   "status", "sha256", *(("keep",) if keep is not None else ())):
        table.add_column(column, no_wrap=True)
    for row in rows:
        duration = row.get("duration_s")
        table.add_row(*map(plain, (
            row["id"], row.get("name_officer"), row.get("name_device"),
            when(row.get("name_start_local")), row.get("name_seq"),
            f"{duration:.1f}s" if duration is not None else None,
            human_size(row.get("size")), row.get("status"), row["sha256"][:12] + "…",
            *((keep.get(row["id"]),) if keep is not None else ()))))
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


def audit_report(data: Mapping[str, Any], title: str) -> None:
    """An audit or verify report as the API gives it: checks, problems, notes, throughput."""
    summary = Table(title=plain(title))
    for column in ("check", "checked", "problems"):
        summary.add_column(column)
    for section in data["sections"]:
        problems = sum(1 for f in data["findings"] if f["section"] == section)
        summary.add_row(plain(section.replace("_", " ")), plain(data["checked"].get(section, 0)),
                        plain(problems) if problems == 0 else f"[bold red]{problems}[/]")
    out.print(summary)
    if data["findings"]:
        out.print(table(f"Problems ({len(data['findings'])})", ("check", "object", "problem"),
                        [(f["section"].replace("_", " "), f["object"], f["problem"])
                         for f in data["findings"]]))
    for note in data["notes"]:
        out.print(plain(f"note: {note}"))
    out.print(plain(f"{human_size(data['bytes_hashed'])} hashed in {data['seconds']:.1f} s "
                    f"({data['mb_per_s']:.0f} MB/s); "
                    + ("clean" if data["clean"] else f"{len(data['findings'])} problem(s)")))


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
