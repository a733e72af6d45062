"""``bodycam statistics``: R7 figures per officer and unit over a period."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bodycam_ingest.cli import common, render


def statistics_cmd(
    since: Annotated[str | None, typer.Option(help="First station-local date (inclusive).")
                     ] = None,
    until: Annotated[str | None, typer.Option(help="Last station-local date (exclusive).")
                     ] = None,
    unit: Annotated[str | None, typer.Option(help="Only this unit.")] = None,
    config: common.ConfigOpt = None,
    as_json: common.JsonOpt = False,
) -> None:
    """R7 statistics: recordings, hours, on-time export and labelling, unexplained findings."""
    data = common.call(config, "statistics.view", {"since": since, "until": until, "unit": unit})
    if as_json:
        render.emit_json(data)
        return
    period = f"{since or 'start'} .. {until or 'now'} ({data['zone']})"
    table = Table(title=f"Statistics {period}")
    for column in ("unit", "officer", "recordings", "hours", "exported ≤24 h", "labelled on time",
                   "unexplained", "storage"):
        table.add_column(column, justify="left" if column in ("unit", "officer") else "right")
    for row in [*data["groups"], {**data["total"], "unit": "total", "officer": ""}]:
        table.add_row(*map(render.plain, (
            row["unit"], row["officer"], row["recordings"], f"{row['hours']:.2f}",
            f"{row['export_share']:.0%} ({row['exported_on_time']})",
            f"{row['labelling_share']:.0%} ({row['labelled_on_time']})",
            row["unexplained_findings"], render.human_size(row["bytes"]))))
    render.out.print(table)


def register(app: typer.Typer) -> None:
    app.command("statistics")(statistics_cmd)
