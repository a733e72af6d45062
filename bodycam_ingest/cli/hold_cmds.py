"""CLI commands: ``bodycam retain`` and ``bodycam hold add | release | list`` (issue 5).

Thin: parse, call the local API (api.handlers.retention_acts: the change and its custody entry
commit together; what needs a second person becomes a request), render.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any

import typer
from rich.table import Table

from bodycam_ingest.catalog.models import row_dict
from bodycam_ingest.catalog.retention_models import HoldRow
from bodycam_ingest.cli import common, render
from bodycam_ingest.retention import holds
from bodycam_ingest.retention.tiers import LONG_TERM_REASONS

_station = common.open_station
ConfigOpt = common.ConfigOpt
JsonOpt = common.JsonOpt
IdsArg = Annotated[list[int] | None, typer.Argument(help="Recording ids.", show_default=False)]
CaseOpt = Annotated[str | None, typer.Option("--case", help="A case number (案号): applies to "
                                             "every recording labelled into it, now or later.")]

hold_app = typer.Typer(no_args_is_help=True, help="Legal holds: a held recording is never deleted.")


def retain(
    tier: Annotated[str, typer.Option("--tier", help="standard | evidence | long_term",
                                      show_default=False)],
    reason: Annotated[str, typer.Option("--reason", show_default=False, help=(
        "Why. long_term: one of " + ", ".join(LONG_TERM_REASONS) + "; evidence: the case or "
        "request; lowering: why it may be kept shorter."))],
    ids: IdsArg = None, case: CaseOpt = None,
    device: Annotated[str | None, typer.Option(help="Select by device (file-name id or key).")
                      ] = None,
    by_officer: Annotated[str | None, typer.Option(help="Select by officer id in file names.")
                          ] = None,
    since: Annotated[str | None, typer.Option(help="Select recordings starting at/after this "
                                              "station-local time.")] = None,
    until: Annotated[str | None, typer.Option(help="... and before this one.")] = None,
    note: Annotated[str | None, typer.Option(help="A note (required with dispute:other).")
                    ] = None,
    config: ConfigOpt = None, as_json: JsonOpt = False,
) -> None:
    """Set the retention tier of recordings or of a case. Raising needs a reason; lowering
    makes a request that a supervisor approves (bodycam requests). Every change is logged."""
    if case is not None and (ids or device or by_officer or since or until):
        raise typer.BadParameter("give recording ids (or a device/time selection) or --case, "
                                 "not both")
    if case is None and not (ids or device or by_officer or since or until):
        raise typer.BadParameter("give recording ids, --case, or --device/--by-officer with a "
                                 "time range")
    data = common.call(config, "tiers.set", {
        "tier": tier, "reason": reason, "ids": ids or None, "case": case, "device": device,
        "officer": by_officer, "since": since, "until": until, "note": note}, read_only=False)
    if as_json:
        render.emit_json(data)
        return
    for warning in data["warnings"]:
        render.err.print(render.plain(f"warning: {warning}"))
    if data["request"] is not None:
        from bodycam_ingest.cli.requests_cmds import print_created

        print_created(data["request"])
        return
    outcomes = data["changes"]
    changed = sum(o["changed"] for o in outcomes)
    table = Table(title=f"Retention tiers ({changed} changed, {len(outcomes) - changed} "
                  "already so)")
    for column in ("target", "tier", "reason", "approved by"):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        table.add_row(*map(render.plain, (
            o["target"], f"{o['old_tier'] or 'none'} -> {o['new_tier']}" if o["changed"]
            else f"{o['new_tier']} (unchanged)", o["reason"], o["approved_by"])))
    render.out.print(table)


# --- holds -------------------------------------------------------------------------------------
def hold_json(hold: HoldRow, today: date) -> dict[str, Any]:
    return {**row_dict(hold), "target": holds.target_of(hold), "active": hold.released_at is None,
            "review_overdue": holds.review_overdue(hold, today)}


def _status(hold: HoldRow, today: date) -> str:
    if hold.released_at is not None:
        return (f"released {hold.released_at:%Y-%m-%d} by {hold.released_by}"
                + (f", approved by {hold.release_approved_by}" if hold.release_approved_by else "")
                + f": {hold.release_reason}")
    return "active, REVIEW OVERDUE" if holds.review_overdue(hold, today) else "active"


def holds_table(rows: Sequence[HoldRow], today: date, title: str) -> Table:
    table = Table(title=title)
    for column in ("hold", "on", "owner", "reason", "added", "review by", "status"):
        table.add_column(column, overflow="fold")
    for h in rows:
        table.add_row(*map(render.plain, (
            h.id, holds.target_of(h), h.owner, h.reason,
            f"{h.created_at:%Y-%m-%d} by {h.actor}", h.until, _status(h, today))))
    return table


@hold_app.command("add")
def hold_add(
    reason: Annotated[str, typer.Option("--reason", help="Why (a court order, a complaint...).",
                                        show_default=False)],
    owner: Annotated[str, typer.Option("--owner", help="Who answers for the hold and may "
                                       "release it without a request (an account login).",
                                       show_default=False)],
    ids: IdsArg = None, case: CaseOpt = None,
    until: Annotated[str | None, typer.Option("--until", help="Review date YYYY-MM-DD (the hold "
                                              "stays until released; this only asks for a "
                                              "review).")] = None,
    config: ConfigOpt = None, as_json: JsonOpt = False,
) -> None:
    """Put a legal hold on recordings or on a case: never deleted while the hold is active."""
    if (case is None) == (not ids):
        raise typer.BadParameter("give recording ids or --case, not both")
    if until is not None:
        try:
            date.fromisoformat(until)
        except ValueError:
            raise typer.BadParameter(f"{until!r} is not a date; use YYYY-MM-DD",
                                     param_hint="--until") from None
    data = common.call(config, "holds.add", {"reason": reason, "owner": owner,
                                             "ids": ids or None, "case": case, "until": until},
                       read_only=False)
    if as_json:
        render.emit_json(data)
        return
    for warning in data["warnings"]:
        render.err.print(render.plain(f"warning: {warning}"))
    render.out.print(holds_table_json(data["holds"], f"Holds added ({len(data['holds'])})"))


def holds_table_json(rows: Sequence[dict[str, Any]], title: str) -> Table:
    """``holds_table`` for holds as the API returns them (JSON)."""
    table = Table(title=title)
    for column in ("hold", "on", "owner", "reason", "added", "review by", "status"):
        table.add_column(column, overflow="fold")
    for h in rows:
        status = ("active, REVIEW OVERDUE" if h["review_overdue"] else "active") \
            if h["active"] else f"released {str(h['released_at'])[:10]} by {h['released_by']}"
        table.add_row(*map(render.plain, (
            h["id"], h["target"], h["owner"], h["reason"],
            f"{str(h['created_at'])[:10]} by {h['actor']}", h["until"], status)))
    return table


@hold_app.command("release")
def hold_release(
    hold_id: Annotated[int, typer.Argument(help="Hold id (see bodycam hold list).")],
    reason: Annotated[str, typer.Option("--reason", help="Why the hold ends.",
                                        show_default=False)],
    config: ConfigOpt = None, as_json: JsonOpt = False,
) -> None:
    """Release a hold (final). Its owner releases it with a reason; anyone else makes a request
    that a supervisor approves (bodycam requests)."""
    data = common.call(config, "holds.release", {"hold_id": hold_id, "reason": reason},
                       read_only=False)
    if as_json:
        render.emit_json(data)
        return
    if data["request"] is not None:
        from bodycam_ingest.cli.requests_cmds import print_created

        print_created(data["request"])
        return
    h = data["hold"]
    render.out.print(render.plain(f"hold {h['id']} on {h['target']} released by "
                                  f"{h['released_by']}: {h['release_reason']}"))


@hold_app.command("list")
def hold_list(
    all_: Annotated[bool, typer.Option("--all", help="Released holds too.")] = False,
    case: Annotated[str | None, typer.Option("--case", help="Holds on the case and on the "
                                             "recordings labelled with it.")] = None,
    recording: Annotated[int | None, typer.Option("--recording", help="Holds that keep this "
                                                  "recording (its own and its case's).")] = None,
    config: ConfigOpt = None, as_json: JsonOpt = False,
) -> None:
    """Active holds (all with --all), newest first: owner, reason, review date; overdue reviews
    flagged."""
    from bodycam_ingest.cli import ids

    params: dict[str, Any] = {"all": all_}
    if case is not None:
        params["case"] = case
    if recording is not None:
        params["recording"] = ids.recording(recording)
    rows = common.call(config, "holds.list", params)["items"]
    if as_json:
        render.emit_json(rows)
        return
    overdue = sum(bool(h["review_overdue"]) for h in rows)
    title = f"{'Holds' if all_ else 'Active holds'} ({len(rows)}" + (
        f", {overdue} review overdue)" if overdue else ")")
    render.out.print(render.holds_table(rows, title))


def register(app: typer.Typer) -> None:
    """Add this part's commands to the main app."""
    app.command("retain")(retain)
    app.add_typer(hold_app, name="hold")
