"""How things look to people (rich tables) and to scripts (``--json``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from bodycam_ingest.catalog.models import Dock, Recording, row_dict

# Piped output is read by people too (less, mail): give it room instead of wrapping ids mid-word.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def emit_json(data: Any) -> None:
    print(json.dumps(data, default=_default, sort_keys=True, indent=2, ensure_ascii=False))


def plain(value: object) -> Text:
    """Data (camera file names, reasons) is never rich markup: a file named "[red]x" stays as is."""
    return Text("-" if value is None else str(value))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def recordings_table(rows: Sequence[Recording], title: str = "Recordings",
                     keep: Mapping[int, str] | None = None) -> Table:
    """``keep``: recording id -> retention mark (std/evid/LT, H held, due; deleted)."""
    table = Table(title=title)
    for column in ("id", "officer", "device", "start (camera local)", "seq", "duration", "size",
                   "status", "sha256", *(("keep",) if keep is not None else ())):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*map(plain, (
            row.id, row.name_officer, row.name_device, _when(row.name_start_local), row.name_seq,
            f"{row.duration_s:.1f}s" if row.duration_s is not None else None,
            human_size(row.size), row.status, row.sha256[:12] + "…",
            *((keep.get(row.id),) if keep is not None else ()))))
    return table


def recording_json(row: Recording, retention: Mapping[str, Any] | None = None) -> dict[str, Any]:
    data = row_dict(row)
    data.pop("probe_json", None)
    if retention is not None:
        data["retention"] = dict(retention)
    return data


def docks_table(docks: Iterable[Dock], title: str) -> Table:
    table = Table(title=title)
    for column in ("dock", "source", "trigger", "started", "outcome", "files", "progress",
                   "current file / reason"):
        table.add_column(column, overflow="fold")
    for dock in docks:
        total = max(dock.bytes_total, 1)
        bar = ProgressBar(total=total, completed=min(dock.bytes_done, total), width=20)
        files = f"{dock.files_done}/{dock.files_total - dock.files_skipped}"
        if dock.files_skipped:
            files += f" (+{dock.files_skipped} known)"
        table.add_row(plain(dock.id), plain(dock.source), plain(dock.trigger),
                      plain(_when(dock.started_at)), dock.outcome or Text("running", style="bold"),
                      plain(files), bar,
                      plain(dock.current_file if dock.outcome is None else (dock.reason or "")))
    return table


def key_values(title: str, pairs: Sequence[tuple[str, Any]]) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in pairs:
        table.add_row(key, plain(value))
    return table
