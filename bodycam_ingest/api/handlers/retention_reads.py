"""Retention, read-only: the plan (what becomes deletable and why), tombstones of deleted
recordings, long-term archives, legal holds. Nothing here writes to the catalog.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO, cast

from pydantic import Field
from sqlalchemy import select

from bodycam_ingest.api.handlers.recordings import RecordingId, visible
from bodycam_ingest.api.registry import Ctx, Streamed, TextSink, handler
from bodycam_ingest.catalog.models import row_dict
from bodycam_ingest.catalog.retention_models import Archive, DeletionManifestRow, HoldRow, Tombstone

if TYPE_CHECKING:
    from bodycam_ingest.retention.plan import Impact
    from bodycam_ingest.retention.policy import RetentionPolicy
    from bodycam_ingest.retention.rules import Decision
    from bodycam_ingest.station import Station

Limit = Annotated[int, Field(ge=1, le=1_000_000)]


# --- the plan ----------------------------------------------------------------------------------
def policy_text(policy: RetentionPolicy) -> str:
    from bodycam_ingest.retention.tiers import TIER_ORDER

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


def plan_json(station: Station, horizon_days: int | None) -> dict[str, Any]:
    """The whole plan as one JSON document (the shape of ``retention plan --json``). One
    function, so a streamed plan can replace it without touching the handler or the CLI."""
    from bodycam_ingest.retention.service import make_plan, policy_digest

    report = make_plan(station, horizon_days=horizon_days)
    result, pending, state = report.plan, report.pending, report.policy
    return {
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
            "impacted": [_impact_json(i) for i in pending.impacts]}}


@handler("retention.plan")
def retention_plan(ctx: Ctx, horizon: Annotated[int, Field(ge=0, le=3650)] | None = None
                   ) -> dict[str, Any]:
    """Dry run: what a run would delete now and why, what becomes deletable soon, what needs
    attention, and a configured policy change waiting for approval. Writes nothing."""
    return plan_json(ctx.station, horizon)


@handler("retention.plan_stream", action="retention.plan")
def retention_plan_stream(ctx: Ctx, horizon: Annotated[int, Field(ge=0, le=3650)] | None = None
                          ) -> Streamed:
    """``retention.plan`` as ``bodycam retention plan --json`` writes it, streamed (issue 14): the
    same bytes as root's in-process ``write_plan_json(streamed_plan(...))``, written into the
    socket as decided, in one read transaction that lasts as long as the stream."""
    station = ctx.station

    def produce(out: TextSink) -> None:
        from bodycam_ingest.retention import plan_json, service

        with service.streamed_plan(station, horizon_days=horizon) as stream:
            plan_json.write_plan_json(stream, cast(TextIO, out))  # it only calls write

    return Streamed(produce)


@handler("retention.tombstones")
def tombstones(ctx: Ctx, limit: Limit = 1000) -> list[dict[str, Any]]:
    """What remains of deleted recordings, newest first: digest, times, tier, rule, run."""
    with ctx.station.catalog.reading() as session:
        return [{**row_dict(t), "manifest": name} for t, name in session.execute(
            select(Tombstone, DeletionManifestRow.file_name)
            .outerjoin(DeletionManifestRow, DeletionManifestRow.id == Tombstone.manifest_id)
            .order_by(Tombstone.id.desc()).limit(limit))]


# --- archives ----------------------------------------------------------------------------------
@handler("archives.list")
def archives_list(ctx: Ctx) -> list[dict[str, Any]]:
    """Archives, newest first: where, which medium, how many replicas, when and by whom; whether
    the station can reach the package now."""
    with ctx.station.catalog.reading() as session:
        rows = list(session.scalars(select(Archive).order_by(Archive.id.desc())))
    return [{"archive_id": a.id, "target": a.target, "label": a.medium_label, "tier": a.tier,
             "entries": a.entries, "created_at": a.created_at, "finished_at": a.finished_at,
             "actor": a.actor, "key_id": a.key_id, "manifest_sha256": a.manifest_digest,
             "status": "finished" if a.finished_at else "unfinished (failed or interrupted)",
             "reachable": Path(a.target).is_dir()} for a in rows]


# --- holds -------------------------------------------------------------------------------------
def hold_json(hold: HoldRow, today: date) -> dict[str, Any]:
    from bodycam_ingest.retention import holds

    return {**row_dict(hold), "target": holds.target_of(hold), "active": hold.released_at is None,
            "review_overdue": holds.review_overdue(hold, today)}


@handler("holds.list")
def holds_list(ctx: Ctx, all: bool = False, case: str | None = None,
               recording: RecordingId | None = None) -> dict[str, Any]:
    """Active holds (all with ``all``), newest first: owner, reason, review date, overdue."""
    from bodycam_ingest.retention import holds

    today = holds.station_today(ctx.now(), ctx.station.config.station.zone)
    with ctx.station.catalog.reading() as session:
        if recording is not None:
            visible(ctx, session, recording)
        rows = holds.find_holds(session, include_released=all, case=case,
                                recording_id=recording)
        items = [hold_json(h, today) for h in reversed(rows)]
    return {"today": today, "items": items}
