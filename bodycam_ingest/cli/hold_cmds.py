"""CLI commands: ``bodycam retain`` and ``bodycam hold add | release | list`` (issue 5).

Thin: parse, select, call ``retention.tiering`` / ``retention.holds`` inside one write
transaction (the change and its custody entry commit together), render, sign a checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.models import row_dict
from bodycam_ingest.catalog.queries import RecordingFilter, recordings_query
from bodycam_ingest.catalog.retention_models import HoldRow
from bodycam_ingest.cli import common, render
from bodycam_ingest.custody import service
from bodycam_ingest.custody.roles import resolve_actor
from bodycam_ingest.errors import NotFound
from bodycam_ingest.retention import holds, tiering
from bodycam_ingest.retention.tiers import LONG_TERM_REASONS, parse_tier

_station = common.open_station
ConfigOpt = common.ConfigOpt
JsonOpt = common.JsonOpt
AsOpt = Annotated[str | None, typer.Option("--as", help="Act for NAME (needs a role in "
                                           "custody.act_for_others; you are recorded as approver).")]
IdsArg = Annotated[list[int] | None, typer.Argument(help="Recording ids.", show_default=False)]
CaseOpt = Annotated[str | None, typer.Option("--case", help="A case number (案号): applies to "
                                             "every recording labelled into it, now or later.")]
ApprovedOpt = Annotated[str | None, typer.Option("--approved-by", help="Who approved it (another "
                                                 "person); required to lower a tier.")]

hold_app = typer.Typer(no_args_is_help=True, help="Legal holds: a held recording is never deleted.")


def _select(session: Session, ids: list[int] | None, device: str | None, officer: str | None,
            since: datetime | None, until: datetime | None) -> list[int]:
    """Recording ids given, or the live recordings of a device/officer in a time range."""
    if ids:
        return [r.id for r in tiering.live_recordings(session, ids)]
    if not (device or officer or since or until):
        raise typer.BadParameter("give recording ids, --case, or --device/--by-officer with a "
                                 "time range")
    flt = RecordingFilter(device=device, officer=officer, since=since, until=until, limit=100000)
    chosen = [row.id for row in session.scalars(recordings_query(flt)) if row.deleted_at is None]
    if not chosen:
        raise NotFound(what="Recordings matching", ident="the selection", hint="Check with: "
                       "bodycam list --device ... --since ...")
    return chosen


def _case_warning(session: Session, case: str) -> str | None:
    if tiering.case_recordings(session, case):
        return None
    return (f"no recording is labelled with case {case} yet; it applies to the recordings "
            f"labelled into it later (bodycam tag IDS --case {case})")


def _tier_json(outcome: tiering.TierOutcome) -> dict[str, Any]:
    return {"target": outcome.target, "recording_id": outcome.recording_id,
            "case_number": outcome.case_number, "old_tier": outcome.old,
            "new_tier": outcome.new, "reason": outcome.reason, "changed": outcome.changed,
            "change_id": outcome.change_id}


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
    approved_by: ApprovedOpt = None, act_as: AsOpt = None, config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set the retention tier of recordings or of a case. Raising needs a reason; lowering also
    needs --approved-by. Every change is logged."""
    try:
        wanted = parse_tier(tier)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--tier") from None
    if case is not None and (ids or device or by_officer or since or until):
        raise typer.BadParameter("give recording ids (or a device/time selection) or --case, "
                                 "not both")
    warnings: list[str] = []
    with _station(config) as station:
        acting = resolve_actor(station.config.custody, station.actor, act_as)
        zone = station.config.station.zone
        with station.catalog.session() as session:
            if case is not None:
                outcomes = [tiering.set_case_tier(
                    session, case, wanted, reason=reason, note=note, acting=acting,
                    approved_by=approved_by, at=station.clock())]
                warning = _case_warning(session, case)
                warnings += [warning] if warning else []
            else:
                targets = _select(session, ids, device, by_officer,
                                  common.parse_local_date(since, zone, "--since"),
                                  common.parse_local_date(until, zone, "--until"))
                outcomes = tiering.set_recording_tiers(
                    session, targets, wanted, reason=reason, note=note, acting=acting,
                    approved_by=approved_by, at=station.clock())
        service.after_command(station)
    if as_json:
        render.emit_json({"changes": [_tier_json(o) for o in outcomes], "warnings": warnings})
        return
    for warning in warnings:
        render.err.print(render.plain(f"warning: {warning}"))
    changed = sum(o.changed for o in outcomes)
    table = Table(title=f"Retention tiers ({changed} changed, {len(outcomes) - changed} "
                  "already so)")
    for column in ("target", "tier", "reason", "approved by"):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        table.add_row(*map(render.plain, (
            o.target, f"{o.old or 'none'} -> {o.new}" if o.changed else f"{o.new} (unchanged)",
            o.reason, approved_by or acting.approved_by)))
    render.out.print(table)


# --- holds -------------------------------------------------------------------------------------
def _review_date(value: str | None, today: date) -> date | None:
    if value is None:
        return None
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD",
                                 param_hint="--until") from None
    if parsed < today:
        raise typer.BadParameter(f"the review date {parsed} has already passed (today is "
                                 f"{today})", param_hint="--until")
    return parsed


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
                                       "release it.", show_default=False)],
    ids: IdsArg = None, case: CaseOpt = None,
    until: Annotated[str | None, typer.Option("--until", help="Review date YYYY-MM-DD (the hold "
                                              "stays until released; this only asks for a "
                                              "review).")] = None,
    act_as: AsOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False,
) -> None:
    """Put a legal hold on recordings or on a case: never deleted while the hold is active."""
    if (case is None) == (not ids):
        raise typer.BadParameter("give recording ids or --case, not both")
    warnings: list[str] = []
    with _station(config) as station:
        acting = resolve_actor(station.config.custody, station.actor, act_as)
        today = holds.station_today(station.clock(), station.config.station.zone)
        review = _review_date(until, today)
        with station.catalog.session() as session:
            if case is not None:
                added = [holds.add_case_hold(session, case, reason=reason, owner=owner,
                                             until=review, acting=acting, at=station.clock())]
                warning = _case_warning(session, case)
                warnings += [warning] if warning else []
            else:
                targets = [r.id for r in tiering.live_recordings(session, ids or [])]
                added = holds.add_recording_holds(session, targets, reason=reason, owner=owner,
                                                  until=review, acting=acting, at=station.clock())
            shown = [hold_json(h, today) for h in added]
        service.after_command(station)
    if as_json:
        render.emit_json({"holds": shown, "warnings": warnings})
        return
    for warning in warnings:
        render.err.print(render.plain(f"warning: {warning}"))
    render.out.print(holds_table(added, today, f"Holds added ({len(added)})"))


@hold_app.command("release")
def hold_release(
    hold_id: Annotated[int, typer.Argument(help="Hold id (see bodycam hold list).")],
    reason: Annotated[str, typer.Option("--reason", help="Why the hold ends.",
                                        show_default=False)],
    approved_by: Annotated[str | None, typer.Option("--approved-by", help="Who approved the "
                                                    "release; required unless you own the "
                                                    "hold.")] = None,
    act_as: AsOpt = None, config: ConfigOpt = None, as_json: JsonOpt = False,
) -> None:
    """Release a hold (final). Its owner needs a reason; anyone else also --approved-by."""
    with _station(config) as station:
        acting = resolve_actor(station.config.custody, station.actor, act_as)
        today = holds.station_today(station.clock(), station.config.station.zone)
        with station.catalog.session() as session:
            row = holds.release(session, hold_id, reason=reason, approved_by=approved_by,
                                acting=acting, at=station.clock())
            shown = hold_json(row, today)
        service.after_command(station)
    if as_json:
        render.emit_json(shown)
        return
    render.out.print(render.plain(f"hold {row.id} on {holds.target_of(row)} released: "
                                  f"{_status(row, today)}"))


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
