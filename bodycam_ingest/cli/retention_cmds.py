"""CLI commands: ``bodycam retention plan | run | approve | tombstones`` (issue 5).

Thin: parse, call ``retention.service``, render, exit. ``plan`` writes nothing at all (not even
the first policy record); ``run`` and ``approve`` log every change in the custody log and sign a
checkpoint on the way out.

Exit status of ``retention run``: 0 clean, 1 done with alerts, 5 deletions refused (no station
key: nothing is deleted without a signed deletion manifest), 7 the run stopped part-way (what it
did is committed; the next run completes it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.models import Recording, row_dict
from bodycam_ingest.catalog.retention_models import DeletionManifestRow, Tombstone
from bodycam_ingest.cli import common, render
from bodycam_ingest.custody.roles import resolve_actor
from bodycam_ingest.errors import ExitCode, Refused
from bodycam_ingest.retention.plan import Impact
from bodycam_ingest.retention.policy import RetentionPolicy
from bodycam_ingest.retention.rules import Decision, Why
from bodycam_ingest.retention.tiers import TIER_ORDER

retention_app = typer.Typer(no_args_is_help=True, help="Retention: what is deleted, when and "
                            "why (plan), the sweep (run), approving a shortened policy.")

ROWS_SHOWN = 200  # rich tables stop here (with a count); --json is always complete
AsOpt = Annotated[str | None, typer.Option("--as", help="Act for NAME (needs a role in "
                                           "[custody] act_for_others).")]


def register(app: typer.Typer) -> None:
    """Add this part's commands to the main app."""
    app.add_typer(retention_app, name="retention")


# --------------------------------------------------------------------------- rendering helpers


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") + "Z"


def policy_text(policy: RetentionPolicy) -> str:
    tiers = ", ".join(f"{t.value} {policy.tiers.get(t) if policy.tiers.get(t) is not None else 'never'}"
                      + (" days" if policy.tiers.get(t) is not None else "") for t in TIER_ORDER)
    floor = "below-floor allowed" if policy.allow_below_floor else f"floor {policy.floor_days} days"
    return f"{tiers}; grace {policy.grace_days} days; {floor}"


def decision_json(decision: Decision) -> dict[str, Any]:
    return {"recording_id": decision.recording_id, "kind": decision.kind.value,
            "why": decision.why.value, "tier": decision.tier.value,
            "tier_source": decision.tier_source, "clock_start": decision.clock_start,
            "expires_at": decision.expires_at, "due_since": decision.due_since,
            "deletable_at": decision.deletable_at, "active_holds": list(decision.active_holds),
            "alerts": list(decision.alerts), "rule": decision.rule}


def _impact_json(impact: Impact) -> dict[str, Any]:
    return {"recording_id": impact.recording_id, "now": decision_json(impact.old),
            "after": decision_json(impact.new)}


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> Table:
    shown = rows[:ROWS_SHOWN]
    more = f" (first {ROWS_SHOWN}; --json lists all)" if len(rows) > ROWS_SHOWN else ""
    table = Table(title=f"{title} ({len(rows)}){more}")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in shown:
        table.add_row(*map(render.plain, row))
    return table


# --------------------------------------------------------------------------- plan


@retention_app.command("plan")
def plan_cmd(horizon: Annotated[int | None, typer.Option(
                 "--horizon", min=0, max=3650, help="Days ahead to list what becomes deletable "
                 "(default: retention.plan_horizon_days).")] = None,
             config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """Dry run: what a run would delete now and why, what becomes deletable soon, what needs
    attention, and a configured policy change waiting for approval. Writes nothing."""
    from bodycam_ingest.retention.service import make_plan, policy_digest

    if as_json:  # streamed: memory is one decision, not the answer (issue 14)
        import sys

        from bodycam_ingest.retention.plan_json import write_plan_json
        from bodycam_ingest.retention.service import streamed_plan

        with (common.open_station(config, read_only=True) as station,
              streamed_plan(station, horizon_days=horizon) as stream):
            write_plan_json(stream, sys.stdout)
        return
    with common.open_station(config, read_only=True) as station:
        report = make_plan(station, horizon_days=horizon)
    result, pending, state = report.plan, report.pending, report.policy
    if as_json:
        render.emit_json({
            "now": report.now, "horizon_days": report.horizon_days,
            "horizon_end": result.horizon_end, "live_recordings": report.live,
            "examined": report.examined,
            "policy_in_force": {"digest": state.digest, "text": policy_text(state.effective)},
            "policy_configured": {"digest": policy_digest(state.configured),
                                  "text": policy_text(state.configured)},
            "delete_now": [decision_json(d) for d in result.delete_now],
            "upcoming": [decision_json(d) for d in result.upcoming],
            "attention": [decision_json(d) for d in result.attention],
            "counts": {why.value: n for why, n in sorted(result.counts.items())},
            "pending_policy_change": None if pending is None else {
                "shortened": list(pending.shortened), "plan_digest": pending.digest,
                "approve_command": pending.command(),
                "impacted": [_impact_json(i) for i in pending.impacts]}})
        return
    render.out.print(render.key_values("Retention plan (dry run: nothing is changed)", [
        ("now", _when(report.now)), ("policy in force", policy_text(state.effective)),
        ("configured policy", policy_text(state.configured)),
        ("live recordings", report.live),
        ("examined (past or near their period, due, or flagged)", report.examined),
        ("horizon", f"{report.horizon_days} days (until {_when(result.horizon_end)})")]))
    render.out.print(_table("Deleted by a run now", ("id", "tier", "due since", "check", "rule"), [
        (d.recording_id, d.tier, _when(d.due_since),
         "re-hashed first" if d.why is Why.FIXITY_UNKNOWN else "verified", d.rule)
        for d in result.delete_now]))
    render.out.print(_table(f"Deletable within {report.horizon_days} days if nothing changes",
                            ("id", "deletable from", "tier", "state", "rule"), [
        (d.recording_id, _when(d.deletable_at), d.tier, d.kind, d.rule) for d in result.upcoming]))
    if result.attention:
        render.out.print(_table("Needs attention", ("id", "alert"), [
            (d.recording_id, alert) for d in result.attention for alert in d.alerts]))
    counts = Table(title="Examined recordings by reason")
    counts.add_column("reason")
    counts.add_column("recordings", justify="right")
    for why, n in sorted(result.counts.items()):
        counts.add_row(render.plain(why.value), render.plain(n))
    render.out.print(counts)
    if pending is None:
        render.out.print("No pending policy change: the configuration shortens nothing.")
        return
    render.out.print(render.key_values("Pending policy change (shortens retention: needs approval)",
                                       [("shortened", "; ".join(pending.shortened)),
                                        ("recordings brought closer to deletion",
                                         len(pending.impacts)),
                                        ("plan digest", pending.digest)]))
    render.out.print(_table("Impact of the pending change", (
        "id", "now", "after approval", "new deletable from", "rule after approval"), [
        (i.recording_id, f"{i.old.kind} ({i.old.why})", f"{i.new.kind} ({i.new.why})",
         _when(i.new.deletable_at), i.new.rule) for i in pending.impacts]))
    render.out.print(render.plain("Each of these first becomes due and waits the full grace "
                                  "period after approval. To approve exactly this plan:"))
    render.out.print(render.plain(f"  {pending.command()}"))


# --------------------------------------------------------------------------- run


@retention_app.command("run")
def run_cmd(config: common.ConfigOpt = None, as_json: common.JsonOpt = False,
            act_as: AsOpt = None) -> None:
    """Run the retention sweep now: mark due, rescue, delete (after the grace period, with a
    fresh re-hash, a tombstone and a signed deletion manifest). There is no option that deletes
    inside a period or skips the grace."""
    from bodycam_ingest.retention.service import run_sweep

    with common.open_station(config) as station:
        station.actor = resolve_actor(station.config.custody, station.actor, act_as).actor
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
    approved_by: Annotated[str | None, typer.Option("--approved-by", help="Who approves "
                                                    "shortening retention.")] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded).")] = None,
    act_as: AsOpt = None, config: common.ConfigOpt = None,
) -> None:
    """Put a configured policy that shortens retention into force, exactly as the plan showed
    it; refused if the plan changed since. Affected recordings still become due first and wait
    the full grace period."""
    from bodycam_ingest.retention.service import approve

    if not (approved_by or "").strip():
        raise Refused(reason="shortening retention needs --approved-by NAME (the person who "
                      "approved the plan shown by `bodycam retention plan`)")
    if not (reason or "").strip():
        raise Refused(reason="shortening retention needs --reason TEXT")
    assert approved_by is not None and reason is not None
    with common.open_station(config) as station:
        acting = resolve_actor(station.config.custody, station.actor, act_as)
        result = approve(station, plan=plan, approved_by=approved_by, reason=reason,
                         actor=acting.actor)
    render.out.print(render.key_values("Retention policy approved", [
        ("policy", result.policy_digest), ("plan", result.plan_digest),
        ("shortened", "; ".join(result.shortened)),
        ("recordings brought closer to deletion", result.impacted),
        ("approved by", approved_by),
        ("next", "from the next run these become due, and are deleted after the grace period")]))


# --------------------------------------------------------------------------- tombstones


@retention_app.command("tombstones")
def tombstones_cmd(limit: Annotated[int, typer.Option(min=1)] = 1000,
                   config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """What remains of deleted recordings, newest first: digest, times, tier, rule, run."""
    with common.open_station(config, read_only=True) as station, \
            station.catalog.reading() as session:
        rows = [(t, name) for t, name in session.execute(
            select(Tombstone, DeletionManifestRow.file_name)
            .outerjoin(DeletionManifestRow, DeletionManifestRow.id == Tombstone.manifest_id)
            .order_by(Tombstone.id.desc()).limit(limit))]
    if as_json:
        render.emit_json([{**row_dict(t), "manifest": name} for t, name in rows])
        return
    render.out.print(_table("Tombstones", ("recording", "deleted (UTC)", "run", "tier", "sha256",
                                           "camera path", "manifest", "rule"), [
        (t.recording_id, _when(t.deleted_at), t.run_id, t.tier, t.sha256[:16] + "…",
         t.camera_path, name or "not yet signed", t.rule) for t, name in rows]))


# --------------------------------------------------------------------------- show


def show_pairs(session: Session, recording: Recording, now: datetime | None = None
               ) -> list[tuple[str, Any]]:
    """Extra (field, value) rows for `bodycam show`: deletion and tombstone, or the retention
    decision under the policy in force (``now``: the station's clock; default the wall clock)."""
    from bodycam_ingest.retention.service import recording_status

    if recording.deleted_at is not None:
        found = session.execute(select(Tombstone, DeletionManifestRow.file_name).outerjoin(
            DeletionManifestRow, DeletionManifestRow.id == Tombstone.manifest_id).where(
            Tombstone.recording_id == recording.id)).first()
        pairs: list[tuple[str, Any]] = [("deleted", f"{_when(recording.deleted_at)} by retention; "
                                         "only its tombstone remains")]
        if found is None:
            return [*pairs, ("tombstone", "MISSING (run bodycam audit)")]
        tombstone, manifest = found
        return [*pairs,
                ("tombstone", f"run {tombstone.run_id} by {tombstone.actor}; tier "
                 f"{tombstone.tier}; due since {_when(tombstone.due_since)}"),
                ("deletion rule", tombstone.rule),
                ("deletion manifest", f"deletions/{manifest}.json" if manifest
                 else "not yet signed (the next retention run signs it)")]
    decision, _state = recording_status(session, recording, now or datetime.now(UTC))
    pairs = [("due since", _when(recording.due_since))]
    if decision is None:
        return [*pairs, ("retention", "no retention run yet")]
    return [*pairs, ("retention", f"{decision.kind} ({decision.why}); tier {decision.tier} from "
                     f"{decision.tier_source}"),
            ("retention period ends", _when(decision.expires_at) if decision.expires_at
             else "never"),
            ("deletable from", _when(decision.deletable_at) if decision.deletable_at
             else "not foreseeable (kept)"),
            ("retention rule", decision.rule)]
