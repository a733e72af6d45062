"""Read side of the analysis in the catalog: verdicts, findings with their explanations, devices.

Used by the CLI, by ``bodycam show`` and by the custody audit (``unexplained_findings``); every
function takes an open session and returns plain data, never writes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from bodycam_ingest.analysis.facts import CatalogRecording, analysis_device, session_order
from bodycam_ingest.catalog.analysis_models import (
    AnalysisRun,
    DeviceProfileRow,
    ExplanationRow,
    FindingRow,
)
from bodycam_ingest.catalog.models import Device, Dock, Recording


@dataclass(frozen=True)
class Explanation:
    id: int
    reason: str
    actor: str
    explained_at: datetime


@dataclass(frozen=True)
class FindingView:
    """A stored finding and every explanation given for its fingerprint."""

    id: int
    recording_id: int
    kind: str
    severity: str
    offset_s: float | None
    measured: Any
    threshold: Any
    message: str
    stream: int | None
    fingerprint: str
    analysis_version: int
    analyzed_at: datetime
    current: bool
    explanations: tuple[Explanation, ...] = ()

    @property
    def explained(self) -> bool:
        return bool(self.explanations)

    def as_json(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k != "explanations"}
        data["explained"] = self.explained
        data["explanations"] = [vars(e) for e in self.explanations]
        return data


@dataclass(frozen=True)
class Verdict:
    """``clean``, ``findings`` or ``not analyzed``, with counts of the current version."""

    verdict: str
    version: int | None = None
    analyzed_at: datetime | None = None
    reader: str | None = None
    counts: dict[str, int] = field(default_factory=dict)  # by severity
    explained: int = 0
    unexplained: int = 0

    def summary(self) -> str:
        if self.verdict != "findings":
            return self.verdict if self.version is None else f"{self.verdict} (analysis v{self.version})"
        by = ", ".join(f"{n} {sev}" for sev, n in sorted(self.counts.items()))
        return (f"findings: {by}; {self.unexplained} unexplained, {self.explained} explained "
                f"(analysis v{self.version})")

    def as_json(self) -> dict[str, Any]:
        return dict(vars(self))


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _views(session: Session, rows: list[FindingRow]) -> list[FindingView]:
    prints = {r.fingerprint for r in rows}
    explained: dict[tuple[int, str], list[Explanation]] = defaultdict(list)
    if prints:
        for e in session.scalars(select(ExplanationRow).where(ExplanationRow.fingerprint.in_(prints))
                                 .order_by(ExplanationRow.id)):
            explained[(e.recording_id, e.fingerprint)].append(
                Explanation(e.id, e.reason, e.actor, e.explained_at))
    return [FindingView(
        id=r.id, recording_id=r.recording_id, kind=r.kind, severity=r.severity,
        offset_s=r.offset_s, measured=_loads(r.measured), threshold=_loads(r.threshold),
        message=r.message, stream=r.stream, fingerprint=r.fingerprint,
        analysis_version=r.analysis_version, analyzed_at=r.analyzed_at, current=r.current,
        explanations=tuple(explained.get((r.recording_id, r.fingerprint), ())))
        for r in rows]


def findings(session: Session, *, recording_id: int | None = None, kind: str | None = None,
             history: bool = False) -> list[FindingView]:
    """Current findings (with ``history`` also those of superseded versions), oldest first."""
    query = select(FindingRow)
    if not history:
        query = query.where(FindingRow.current.is_(True))
    if recording_id is not None:
        query = query.where(FindingRow.recording_id == recording_id)
    if kind is not None:
        query = query.where(FindingRow.kind == kind)
    rows = list(session.scalars(query.order_by(FindingRow.recording_id, FindingRow.id)))
    return _views(session, rows)


def unexplained_findings(session: Session) -> list[FindingView]:
    """Every current finding nobody has explained yet (R4: it must stay visible)."""
    return [f for f in findings(session) if not f.explained]


def finding(session: Session, finding_id: int) -> FindingView | None:
    row = session.get(FindingRow, finding_id)
    return None if row is None else _views(session, [row])[0]


def current_run(session: Session, recording_id: int) -> AnalysisRun | None:
    return session.scalar(select(AnalysisRun).where(AnalysisRun.recording_id == recording_id,
                                                    AnalysisRun.current.is_(True)))


def verdict(session: Session, recording_id: int) -> Verdict:
    run = current_run(session, recording_id)
    if run is None:
        return Verdict("not analyzed")
    found = findings(session, recording_id=recording_id)
    counts: dict[str, int] = defaultdict(int)
    for f in found:
        counts[f.severity] += 1
    explained = sum(1 for f in found if f.explained)
    return Verdict("findings" if found else "clean", run.version, run.analyzed_at, run.reader,
                   dict(counts), explained, len(found) - explained)


# --- recordings and devices as the analysis sees them -------------------------------------------
def _recording_select() -> Select[Recording, str]:
    return select(Recording, Device.key).outerjoin(Device, Device.id == Recording.device_id)


def _catalog_recording(row: Recording, key: str | None) -> CatalogRecording:
    return CatalogRecording(
        id=row.id, device=analysis_device(row.name_device, key, row.id),
        officer=row.name_officer, camera_path=row.camera_path, name_pattern=row.name_pattern,
        name_start_local=row.name_start_local, name_seq=row.name_seq, zone=row.zone,
        camera_mtime=row.camera_mtime, size=row.size, first_dock_id=row.first_dock_id,
        duration_s=row.duration_s, deleted=row.deleted_at is not None)


def catalog_recordings(session: Session, ids: list[int] | None) -> list[CatalogRecording]:
    query = _recording_select()
    if ids is not None:
        query = query.where(Recording.id.in_(ids))
    return [_catalog_recording(row, key)
            for row, key in session.execute(query.order_by(Recording.id))]


def device_recordings(session: Session, device: str) -> list[CatalogRecording]:
    """Every recording of one analysis device, in the order the camera made them."""
    query = _recording_select().where(or_(
        Recording.name_device == device,
        Recording.name_device.is_(None) & (Device.key == device)))
    rows = [_catalog_recording(row, key) for row, key in session.execute(query)]
    return sorted((r for r in rows if r.device == device), key=session_order)


class OrderedRecording(NamedTuple):
    id: int
    name_seq: int | None


def device_order(session: Session, device: str) -> list[OrderedRecording]:
    """The ids (and sequence numbers) of one analysis device's recordings in the order the camera
    made them: ``device_recordings``' order, from four columns instead of whole rows."""
    query = (select(Recording.id, Recording.name_device, Recording.name_start_local,
                    Recording.name_seq, Device.key)
             .outerjoin(Device, Device.id == Recording.device_id)
             .where(or_(Recording.name_device == device,
                        Recording.name_device.is_(None) & (Device.key == device))))
    far = datetime.max - timedelta(days=1)
    rows = [(start or far, seq if seq is not None else -1, ident, seq)
            for ident, name_device, start, seq, key in session.execute(query)
            if analysis_device(name_device, key, ident) == device]
    return [OrderedRecording(ident, seq) for *_, ident, seq in sorted(rows)]


def device_docks(session: Session, recordings: list[CatalogRecording]) -> list[Dock]:
    """Docks of the catalog devices through which this camera's recordings arrived."""
    ids = {r.id for r in recordings}
    if not ids:
        return []
    device_ids = select(Recording.device_id).where(Recording.id.in_(ids)).distinct()
    return list(session.scalars(select(Dock).where(Dock.device_id.in_(device_ids))
                                .order_by(Dock.id)))


def media_durations(session: Session, ids: list[int]) -> dict[int, float | None]:
    """What the current analysis measured as each recording's length."""
    return {run.recording_id: run.media_duration_s for run in session.scalars(
        select(AnalysisRun).where(AnalysisRun.recording_id.in_(ids),
                                  AnalysisRun.current.is_(True)))}


def clean_recordings(session: Session, ids: list[int]) -> set[int]:
    """Of ``ids``, those whose current analysis read them and found nothing."""
    return {run.recording_id for run in session.scalars(
        select(AnalysisRun).where(AnalysisRun.recording_id.in_(ids), AnalysisRun.current.is_(True),
                                  AnalysisRun.reader.is_not(None),
                                  AnalysisRun.critical + AnalysisRun.warning == 0))}


def latest_profile(session: Session, device: str, source: str | None = None
                   ) -> DeviceProfileRow | None:
    query = select(DeviceProfileRow).where(DeviceProfileRow.device == device)
    if source is not None:
        query = query.where(DeviceProfileRow.source == source)
    return session.scalar(query.order_by(DeviceProfileRow.id.desc()).limit(1))


@dataclass(frozen=True)
class DeviceSummary:
    device: str
    keys: tuple[str, ...]  # catalog device keys it was docked as
    recordings: int
    docks: int
    profile: str  # e.g. "learned from 3 recordings", "config", "learning (1 of 3 clean)"
    unexplained: int


def devices(session: Session) -> list[str]:
    rows = session.execute(_recording_select())
    return sorted({analysis_device(r.name_device, key, r.id) for r, key in rows})


def device_summary(session: Session, device: str, configured: bool,
                   learn_after: int) -> DeviceSummary:
    recs = device_recordings(session, device)
    docks = device_docks(session, recs)
    keys = {k for (k,) in session.execute(select(Device.key).where(
        Device.id.in_({d.device_id for d in docks if d.device_id is not None})))}
    ids = [r.id for r in recs]
    stored = latest_profile(session, device)
    if configured:
        profile = "config"
    elif stored is not None:
        profile = f"learned from {len(json.loads(stored.learned_from))} recordings"
    else:
        profile = f"learning ({len(clean_recordings(session, ids))} of {learn_after} clean)"
    unexplained = session.scalar(select(func.count()).select_from(FindingRow).where(
        FindingRow.recording_id.in_(ids), FindingRow.current.is_(True),
        ~select(ExplanationRow.id).where(
            ExplanationRow.recording_id == FindingRow.recording_id,
            ExplanationRow.fingerprint == FindingRow.fingerprint).exists())) or 0
    return DeviceSummary(device, tuple(sorted(keys)), len(recs), len(docks), profile, unexplained)


def analysis_device_of(session: Session, recording: Recording) -> str:
    key = session.scalar(select(Device.key).where(Device.id == recording.device_id)) \
        if recording.device_id is not None else None
    return analysis_device(recording.name_device, key, recording.id)
