"""R7 statistics over a period, per officer and unit (custodians, supervisors, auditors)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from bodycam_ingest.api.handlers.recordings import local_time
from bodycam_ingest.api.registry import Ctx, handler
from bodycam_ingest.catalog.access_models import AccountRow
from bodycam_ingest.catalog.analysis_models import ExplanationRow, FindingRow
from bodycam_ingest.catalog.custody_models import LabelRow
from bodycam_ingest.catalog.models import Recording
from bodycam_ingest.custody import reports
from bodycam_ingest.custody.statistics import RecordingFacts, group_statistics, totals


@handler("statistics.view")
def statistics(ctx: Ctx, since: str | None = None, until: str | None = None,
               unit: str | None = None) -> dict[str, Any]:
    """Recordings that started in [since, until) (station-local dates), grouped by officer."""
    zone = ctx.station.config.station.zone
    start, end = local_time(since, zone, "since"), local_time(until, zone, "until")
    query = select(Recording).where(Recording.deleted_at.is_(None))
    if start is not None:
        query = query.where(Recording.start_utc >= start)
    if end is not None:
        query = query.where(Recording.start_utc < end)
    with ctx.station.catalog.reading() as session:
        rows = list(session.scalars(query))
        ids = [r.id for r in rows]
        units = dict(session.execute(select(AccountRow.officer_number, AccountRow.unit)
                                     .where(AccountRow.officer_number.is_not(None))).all())
        labels: dict[int, list[LabelRow]] = defaultdict(list)
        for label in session.scalars(select(LabelRow).where(LabelRow.recording_id.in_(ids))
                                     .order_by(LabelRow.id)):
            labels[label.recording_id].append(label)
        explained = select(ExplanationRow.fingerprint).where(
            ExplanationRow.recording_id == FindingRow.recording_id)
        unexplained = dict(session.execute(
            select(FindingRow.recording_id, func.count()).where(
                FindingRow.recording_id.in_(ids), FindingRow.current.is_(True),
                FindingRow.fingerprint.not_in(explained)).group_by(FindingRow.recording_id))
            .all())
    facts = [RecordingFacts(r.id, r.name_officer, units.get(r.name_officer or ""),
                            reports.recording_end(r), r.ingested_at,
                            reports.labelled_at(labels.get(r.id, [])), r.duration_s, r.size,
                            unexplained.get(r.id, 0)) for r in rows]
    if unit is not None:
        facts = [f for f in facts if (f.unit or "-") == unit]
    groups = group_statistics(facts, reports.policy_of(ctx.station.config))
    return {"since": since, "until": until, "zone": zone, "unit": unit,
            "groups": [g.as_json() for g in groups], "total": totals(groups).as_json()}
