"""CLI commands: ``bodycam retention plan | run | approve | tombstones`` (issue 5).

Thin. ``plan`` and ``tombstones`` call the local API (in-process for the station's own account,
else the daemon's socket) and render its JSON; ``plan`` writes nothing at all (not even the first
policy record). ``run`` works on the station's files in-process, as the service account only;
``run`` and ``approve`` log every change in the custody log and sign a checkpoint on the way out.

Exit status of ``retention run``: 0 clean, 1 done with alerts, 5 deletions refused (no station
key: nothing is deleted without a signed deletion manifest), 7 the run stopped part-way (what it
did is committed; the next run completes it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer
from rich.table import Table

from bodycam_ingest.cli import common, lean, render
from bodycam_ingest.errors import ExitCode, Refused
from bodycam_ingest.retention.rules import Why

retention_app = typer.Typer(no_args_is_help=True, help="Retention: what is deleted, when and "
                            "why (plan), the sweep (run), approving a shortened policy.")

ROWS_SHOWN = 200  # rich tables stop here (with a count); --json is always complete


def register(app: typer.Typer) -> None:
    """Add this part's commands to the main app."""
    app.add_typer(retention_app, name="retention")


# --------------------------------------------------------------------------- rendering helpers

_when = render.when_z
FIXITY_UNKNOWN = Why.FIXITY_UNKNOWN.value  # re-hashed before it is deleted


def _table(title: str, columns: tuple[str, ...], rows: Sequence[Sequence[Any]]) -> Table:
    more = f" (first {ROWS_SHOWN}; --json lists all)" if len(rows) > ROWS_SHOWN else ""
    return render.table(f"{title} ({len(rows)}){more}", columns, rows[:ROWS_SHOWN])


# --------------------------------------------------------------------------- plan


@retention_app.command("plan")
def plan_cmd(horizon: Annotated[int | None, typer.Option(
                 "--horizon", min=0, max=3650, help="Days ahead to list what becomes deletable "
                 "(default: retention.plan_horizon_days).")] = None,
             config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """Dry run: what a run would delete now and why, what becomes deletable soon, what needs
    attention, and a configured policy change waiting for approval. Writes nothing."""
    if as_json:  # streamed, in-process or through the socket: memory is a batch (issue 14)
        lean.plan_json_command(config, horizon)  # also what the lean front door runs
        return
    render_plan(common.call(config, "retention.plan",
                            {} if horizon is None else {"horizon": horizon}))


def render_plan(data: Mapping[str, Any]) -> None:
    """The plan as people read it, from its JSON document."""
    pending = data["pending_policy_change"]
    render.out.print(render.key_values("Retention plan (dry run: nothing is changed)", [
        ("now", _when(data["now"])), ("policy in force", data["policy_in_force"]["text"]),
        ("configured policy", data["policy_configured"]["text"]),
        ("live recordings", data["live_recordings"]),
        ("examined (past or near their period, due, or flagged)", data["examined"]),
        ("horizon", f"{data['horizon_days']} days (until {_when(data['horizon_end'])})")]))
    render.out.print(_table("Deleted by a run now", ("id", "tier", "due since", "check", "rule"), [
        (d["recording_id"], d["tier"], _when(d["due_since"]),
         "re-hashed first" if d["why"] == FIXITY_UNKNOWN else "verified", d["rule"])
        for d in data["delete_now"]]))
    render.out.print(_table(f"Deletable within {data['horizon_days']} days if nothing changes",
                            ("id", "deletable from", "tier", "state", "rule"), [
        (d["recording_id"], _when(d["deletable_at"]), d["tier"], d["kind"], d["rule"])
        for d in data["upcoming"]]))
    if data["attention"]:
        render.out.print(_table("Needs attention", ("id", "alert"), [
            (d["recording_id"], alert) for d in data["attention"] for alert in d["alerts"]]))
    counts = Table(title="Examined recordings by reason")
    counts.add_column("reason")
    counts.add_column("recordings", justify="right")
    for why, n in data["counts"].items():
        counts.add_row(render.plain(why), render.plain(n))
    render.out.print(counts)
    if pending is None:
        render.out.print("No pending policy change: the configuration shortens nothing.")
        return
    render.out.print(render.key_values("Pending policy change (shortens retention: needs approval)",
                                       [("shortened", "; ".join(pending["shortened"])),
                                        ("recordings brought closer to deletion",
                                         len(pending["impacted"])),
                                        ("plan digest", pending["plan_digest"])]))
    render.out.print(_table("Impact of the pending change", (
        "id", "now", "after approval", "new deletable from", "rule after approval"), [
        (i["recording_id"], f"{i['now']['kind']} ({i['now']['why']})",
         f"{i['after']['kind']} ({i['after']['why']})", _when(i["after"]["deletable_at"]),
         i["after"]["rule"]) for i in pending["impacted"]]))
    render.out.print(render.plain("Each of these first becomes due and waits the full grace "
                                  "period after approval. To request approval of exactly this plan "
                                  "(a supervisor approves the request):"))
    render.out.print(render.plain(f"  {pending['approve_command']}"))


# --------------------------------------------------------------------------- run


@retention_app.command("run")
def run_cmd(config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """Run the retention sweep now: mark due, rescue, delete (after the grace period, with a
    fresh re-hash, a tombstone and a signed deletion manifest). There is no option that deletes
    inside a period or skips the grace. Runs as the service account."""
    from bodycam_ingest.retention.service import run_sweep

    common.require_system(config, "retention run")
    with common.open_station(config) as station:
        report = run_sweep(station, trigger="cli")
    if report.refused is not None:
        code = ExitCode.REFUSED
    elif report.error is not None:
        code = ExitCode.INCOMPLETE
    else:
        code = ExitCode.WARNING if report.alerts else ExitCode.OK
    if as_json:
        render.emit_json({"run_id": report.run_id, "trigger": report.trigger,
                          "started_at": report.started_at, "finished_at": report.finished_at,
                          "outcome": report.outcome, "policy_digest": report.policy_digest,
                          "examined": report.examined, "newly_due": report.newly_due,
                          "rescued": report.rescued, "rehashed": report.rehashed,
                          "deleted": report.deleted, "kept_with_alert": report.kept_with_alert,
                          "leftovers_removed": report.leftovers_removed,
                          "manifests": report.manifests, "alerts": report.alerts,
                          "pending_policy": list(report.pending_policy),
                          "refused": report.refused, "error": report.error})
        raise typer.Exit(int(code))
    pairs: list[tuple[str, Any]] = [
        ("run", report.run_id), ("outcome", report.outcome), ("examined", report.examined),
        ("newly due (grace period started)", report.newly_due),
        ("rescued (due mark cleared)", report.rescued),
        ("stored copies re-hashed", report.rehashed), ("deleted", len(report.deleted)),
        ("kept with an alert", report.kept_with_alert)]
    if report.leftovers_removed:
        pairs.append(("files of interrupted deletions removed", report.leftovers_removed))
    pairs += [("deletion manifest", name) for name in report.manifests]
    if report.pending_policy:
        pairs.append(("policy change waiting for approval", "; ".join(report.pending_policy)
                      + " (see bodycam retention plan)"))
    if report.error:
        pairs.append(("stopped", f"{report.error}; the next run completes what this one left"))
    render.out.print(render.key_values("Retention run", pairs))
    if report.deleted:
        shown = report.deleted[:ROWS_SHOWN]
        render.out.print(render.plain("deleted: " + " ".join(map(str, shown))
                                      + (" ..." if len(report.deleted) > ROWS_SHOWN else "")))
    for alert in report.alerts[:ROWS_SHOWN]:
        render.out.print(render.plain(f"alert: {alert}"))
    if len(report.alerts) > ROWS_SHOWN:
        render.out.print(render.plain(f"... and {len(report.alerts) - ROWS_SHOWN} more alerts "
                                      "(--json lists all)"))
    raise typer.Exit(int(code))


# --------------------------------------------------------------------------- approve


@retention_app.command("approve")
def approve_cmd(
    plan: Annotated[str, typer.Option("--plan", help="The plan digest shown by `bodycam "
                                      "retention plan`.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded).")] = None,
    config: common.ConfigOpt = None, as_json: common.JsonOpt = False,
) -> None:
    """Ask for a configured policy that shortens retention to be put into force, exactly as
    the plan showed it: a request that a supervisor approves (bodycam requests); refused if the
    plan changed since. Affected recordings still become due first and wait the full grace
    period."""
    from bodycam_ingest.cli.requests_cmds import print_created

    if not (reason or "").strip():
        raise Refused(reason="shortening retention needs --reason TEXT")
    data = common.call(config, "retention.approve", {"plan": plan, "reason": reason},
                       read_only=False)
    if as_json:
        render.emit_json(data)
        return
    print_created(data["request"])


# --------------------------------------------------------------------------- tombstones


@retention_app.command("tombstones")
def tombstones_cmd(limit: Annotated[int, typer.Option(min=1)] = 1000,
                   config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """What remains of deleted recordings, newest first: digest, times, tier, rule, run."""
    rows = common.call(config, "retention.tombstones", {"limit": limit})
    if as_json:
        render.emit_json(rows)
        return
    render.out.print(_table("Tombstones", ("recording", "deleted (UTC)", "run", "tier", "sha256",
                                           "camera path", "manifest", "rule"), [
        (t["recording_id"], _when(t["deleted_at"]), t["run_id"], t["tier"],
         t["sha256"][:16] + "…", t["camera_path"], t["manifest"] or "not yet signed", t["rule"])
        for t in rows]))
