"""The catalog edges of the replay (``replay``, ``replay_records``): read the custody entries,
the tables and the recording facts, then report (the audit's section 'replay') or answer the
retention sweep inside its deletion transaction (``disagreements``)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.custody.manifest import Manifest
from bodycam_ingest.custody.replay import (
    ACTIONS,
    SECTION,
    STANDARD,
    Difference,
    Entry,
    Fact,
    Replayed,
    Tables,
    differences,
    fact_differences,
    replay_log,
)

if TYPE_CHECKING:
    from bodycam_ingest.custody.audit import AuditReport


def read_entries(session: Session, actions: Sequence[str]) -> list[Entry]:
    """The custody entries of ``actions``, in sequence order (the chain itself is checked by the
    custody-log section)."""
    from bodycam_ingest.catalog.models import Event

    rows = session.execute(select(Event.seq, Event.action, Event.recording_id, Event.subject,
                                  Event.reason, Event.details, Event.dock_id, Event.at,
                                  Event.actor, Event.approved_by)
                           .where(Event.action.in_(actions)).order_by(Event.seq))
    return [Entry(seq, action, rid, subject, reason, _details(details), dock, at, actor, approver)
            for seq, action, rid, subject, reason, details, dock, at, actor, approver in rows]


def read_log(session: Session) -> Replayed:
    return replay_log(read_entries(session, ACTIONS))


def _details(text: str | None) -> Mapping[str, object]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


PROTECTION = ("retention_tier_set", "retention_case_tier_set", "hold_added", "hold_released",
              "label_set")
"""What keeps a recording: the entries and tables the sweep re-checks before deleting."""


def read_tables(session: Session, log: Replayed, *, protection_only: bool = False) -> Tables:
    """The tables the replay compares; with ``protection_only`` only tiers, holds and labels
    (the sweep's re-check: analysis, ingest and deletion rows are left empty)."""
    from bodycam_ingest.catalog.analysis_models import (
        AnalysisRun,
        ContentFingerprintRow,
        ExplanationRow,
        FindingRow,
    )
    from bodycam_ingest.catalog.custody_models import LabelRow
    from bodycam_ingest.catalog.models import Recording
    from bodycam_ingest.catalog.retention_models import CaseTierRow, HoldRow, TierChange, Tombstone

    tiers = {rid: (tier, reason) for rid, tier, reason in session.execute(
        select(Recording.id, Recording.tier, Recording.tier_reason)
        .where(Recording.tier != STANDARD))}
    named = sorted(set(log.recording_tiers) - set(tiers))
    for start in range(0, len(named), 500):
        tiers.update((rid, (tier, reason)) for rid, tier, reason in session.execute(
            select(Recording.id, Recording.tier, Recording.tier_reason)
            .where(Recording.id.in_(named[start:start + 500]))))
    labels: dict[int, Any] = {}
    for row in session.scalars(select(LabelRow).order_by(LabelRow.id)):
        labels[row.recording_id] = row
    protection = Tables(
        recording_tiers=tiers, deleted={},
        changes={r.id: r for r in session.scalars(select(TierChange))},
        case_tiers={r.case_number: r for r in session.scalars(select(CaseTierRow))},
        holds={r.id: r for r in session.scalars(select(HoldRow))},
        current_label=labels, runs={}, findings={}, explanations={})
    if protection_only:
        return protection
    deleted = dict(session.execute(
        select(Recording.id, Recording.deleted_at).where(Recording.deleted_at.is_not(None))).all())
    first_docks = dict(session.execute(select(Recording.id, Recording.first_dock_id)).all())
    store_paths = dict(session.execute(select(Recording.id, Recording.store_path).where(
        Recording.deleted_at.is_not(None))).all())
    findings: dict[int, list[Any]] = defaultdict(list)
    for finding in session.scalars(select(FindingRow).order_by(FindingRow.id)):
        findings[finding.analysis_id].append(finding)
    prints: dict[int, list[str]] = defaultdict(list)
    for rid, digest in session.execute(  # fingerprints are bureau-wide: the station's by join
            select(ContentFingerprintRow.recording_id, ContentFingerprintRow.digest)
            .join(Recording, Recording.id == ContentFingerprintRow.recording_id)):
        prints[rid].append(digest)
    return replace(
        protection, deleted=deleted,
        runs={r.id: r for r in session.scalars(select(AnalysisRun))},
        findings=dict(findings),
        explanations={r.id: r for r in session.scalars(select(ExplanationRow))},
        tombstones=dict(session.execute(select(Tombstone.recording_id, Tombstone.id)).all()),
        first_docks=first_docks, store_paths=store_paths,
        fingerprints={rid: sorted(d) for rid, d in prints.items()})


def read_facts(session: Session) -> list[Fact]:
    from bodycam_ingest.catalog.models import Device, Recording

    rows = session.execute(select(Recording.id, Recording.sha256, Recording.size,
                                  Recording.camera_path, Device.key, Recording.first_dock_id,
                                  Recording.name_officer, Recording.start_utc,
                                  Recording.ingested_at, Recording.clock_start,
                                  Recording.duration_s)
                           .outerjoin(Device, Device.id == Recording.device_id)
                           .order_by(Recording.id))
    return [Fact(rid, sha, size, path, key if key is not None else f"dock-{dock}", officer, start,
                 ingested, clock, duration, dock)
            for rid, sha, size, path, key, dock, officer, start, ingested, clock, duration in rows]


POLICY_ACTIONS = ("retention_policy_recorded", "retention_policy_approved")


def read_records(session: Session) -> Any:
    from bodycam_ingest.catalog.access_models import RequestRow
    from bodycam_ingest.catalog.custody_models import ManifestRow
    from bodycam_ingest.catalog.models import Device, Dock, Recording, Sighting
    from bodycam_ingest.catalog.retention_models import (
        Archive,
        DeletionManifestRow,
        PolicyApproval,
        Replica,
        RetentionRun,
        Tombstone,
    )
    from bodycam_ingest.custody.replay_records import Records

    return Records(
        docks={d.id: d for d in session.scalars(select(Dock))},
        device_keys=dict(session.execute(select(Device.id, Device.key)).all()),
        # plain rows of every sighting column (as attributes) and the recording's digest: a
        # station of 20,000 recordings builds no ORM objects here (the scope still applies)
        sightings=[(row, row.sha256) for row in session.execute(
            select(*(getattr(Sighting, c.key) for c in Sighting.__table__.columns),
                   Recording.sha256.label("sha256"))
            .join(Recording, Recording.id == Sighting.recording_id)
            .where(Sighting.copied.is_(True)).order_by(Sighting.id))],
        runs={r.id: r for r in session.scalars(select(RetentionRun))},
        policies=list(session.scalars(select(PolicyApproval).order_by(PolicyApproval.id))),
        requests={r.id: r for r in session.scalars(select(RequestRow))},
        archives={a.id: a for a in session.scalars(select(Archive))},
        manifest_rows=list(session.scalars(select(ManifestRow).order_by(ManifestRow.id))),
        tombstones=list(session.scalars(select(Tombstone).order_by(Tombstone.id))),
        deletion_manifests=dict(session.execute(select(DeletionManifestRow.run_id,
                                                       DeletionManifestRow.id)).all()),
        deletion_rows=list(session.scalars(select(DeletionManifestRow)
                                           .order_by(DeletionManifestRow.id))),
        replicas=list(session.scalars(select(Replica).order_by(Replica.id))))


def check(session: Session, manifests: Sequence[Manifest], report: AuditReport) -> None:
    """The audit's section: every difference is a finding naming the object."""
    from bodycam_ingest.custody import replay_records

    entries = read_entries(session, (*ACTIONS, *replay_records.ACTIONS, *POLICY_ACTIONS))
    log = replay_log(entries)
    found, legacy = differences(log, read_tables(session, log))
    facts = read_facts(session)
    found += fact_differences(facts, manifests)
    found += replay_records.differences(entries, manifests, read_records(session))
    report.checked[SECTION] += len(facts)
    for difference in found:
        report.add(SECTION, difference.object, difference.problem)
    if legacy:
        report.notes.append(f"replay: {len(legacy)} analysis run(s)/explanation(s) predate "
                            "content digests in the custody log and were not compared "
                            f"(e.g. {legacy[0]})")


def disagreements(session: Session, recording_cases: Mapping[int, str | None]
                  ) -> dict[int, list[Difference]]:
    """For the retention sweep, inside its deletion transaction: the differences that concern
    each recording of ``recording_cases`` (its own tier, holds or label, or its current case's
    tier and holds, by the catalog's or the log's reading of that case)."""
    log = replay_log(read_entries(session, PROTECTION))
    found, _legacy = differences(log, read_tables(session, log, protection_only=True))
    result: dict[int, list[Difference]] = {}
    for rid, case in recording_cases.items():
        cases = {c for c in (case, log.label_case.get(rid)) if c}
        mine = [d for d in found if rid in d.recordings or d.cases & cases]
        if mine:
            result[rid] = mine
    return result
