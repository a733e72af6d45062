"""The analysis part's services on the station (catalog + files), called by the ingest pipeline.

The edge around the pure core: it reads catalog rows, extracts timelines from the *stored*
copies (never the camera), hands plain facts to ``continuity``, and stores what comes back as a
new analysis version. An analysis problem (an unreadable file, a missing index) is a finding,
not an exception; only a storage error or a bug raises.

Order per group (one device's recordings from one dock): read the catalog, extract (I/O, no
transaction open), judge (pure), learn the device's profile if it is due, then write every run,
finding, profile and event in one transaction.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bodycam_ingest.analysis.chain import continuing_pairs, learn_chain, sessions_of
from bodycam_ingest.analysis.continuity import analyze_file, analyze_reuse, analyze_session
from bodycam_ingest.analysis.extract import Extraction, extract
from bodycam_ingest.analysis.facts import (
    CatalogRecording,
    build_facts,
    name_findings,
    seen,
    session_order,
)
from bodycam_ingest.analysis.model import (
    DeviceHistory,
    DeviceProfile,
    Finding,
    RecordingFacts,
    learn_profile,
)
from bodycam_ingest.analysis.profiles import profile_from_json, profile_to_json
from bodycam_ingest.analysis.reuse import fingerprint
from bodycam_ingest.analysis.scan import media_duration, scan_all
from bodycam_ingest.analysis.seams import (
    ocr_reader,
    overlay_check,
    scene_check,
    seam_thumbs,
)
from bodycam_ingest.analysis.seams import release as release_pictures
from bodycam_ingest.analysis.views import (
    FindingView,
    catalog_recordings,
    clean_recordings,
    device_docks,
    device_recordings,
    latest_profile,
    media_durations,
)
from bodycam_ingest.analysis.views import finding as finding_view
from bodycam_ingest.analysis.views import unexplained_findings as _unexplained
from bodycam_ingest.catalog.analysis_models import (
    AnalysisRun,
    ContentFingerprintRow,
    DeviceProfileRow,
    ExplanationRow,
    FindingRow,
)
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.models import Dock, Recording, Sighting
from bodycam_ingest.custody import replay
from bodycam_ingest.errors import ConfigError, NotFound, Refused, StorageError

if TYPE_CHECKING:
    from bodycam_ingest.station import Station

log = logging.getLogger("bodycam.analysis")

ENGINE = "2"  # bump when the analysis code judges differently; stored with every run


@dataclass(frozen=True)
class RunResult:
    """What one analysis of one recording concluded."""

    recording_id: int
    version: int
    verdict: str  # clean | findings
    critical: int
    warning: int
    reader: str | None


def unexplained_findings(session: Session) -> list[FindingView]:
    """Every current finding without an explanation (the custody audit reports them)."""
    return _unexplained(session)


def after_dock(station: Station, dock_id: int) -> None:
    """Runs once every file of a dock is stored and probed, before any camera wipe.

    Analyses the recordings this dock copied that were never analysed (a re-dock, or a second
    call, adds nothing), and any recording of the same device that an earlier, crashed or
    killed, dock stored but never analysed (each judged against its own dock's time). This
    dock holds the device's lock, so none of them belongs to a live dock. Raising stops the dock
    short of wiping: only storage errors do.
    """
    with station.catalog.reading() as session:
        analysed = select(AnalysisRun.recording_id)
        device_id = session.get_one(Dock, dock_id).device_id
        copied = select(Sighting.recording_id).where(Sighting.dock_id == dock_id,
                                                     Sighting.copied.is_(True))
        ids = sorted(set(session.scalars(select(Recording.id).where(
            Recording.id.not_in(analysed),
            Recording.id.in_(copied) | (Recording.device_id == device_id)))))
    if ids:
        analyze_recordings(station, ids, trigger="dock")


def analyze_recordings(station: Station, ids: Sequence[int] | None, *,
                       trigger: str = "analyze") -> list[RunResult]:
    """Analyse the given recordings (all when ``ids`` is None) again, each as a new version,
    in sessions of one device and one dock; returns one result per recording."""
    with station.catalog.reading() as session:
        recs = catalog_recordings(session, None if ids is None else list(ids))
    if ids is not None:
        unknown = sorted(set(ids) - {r.id for r in recs})
        if unknown:
            raise NotFound(what="Recording", ident=unknown[0],
                           hint="List recordings with: bodycam list")
        deleted = sorted(r.id for r in recs if r.deleted)
        if deleted:
            raise Refused(reason=f"recording {deleted[0]} was deleted by retention (its tombstone "
                          "remains); its media cannot be analysed again")
    recs = [r for r in recs if not r.deleted]
    groups: dict[tuple[str, int], list[CatalogRecording]] = defaultdict(list)
    for rec in recs:
        groups[(rec.device, rec.first_dock_id)].append(rec)
    results: list[RunResult] = []
    for (device, dock_id), group in sorted(groups.items(), key=lambda g: (g[0][1], g[0][0])):
        results += _analyze_group(station, device, dock_id, sorted(group, key=session_order),
                                  trigger)
    return sorted(results, key=lambda r: r.recording_id)


def explain(station: Station, finding_id: int, reason: str) -> FindingView:
    """Record why a finding is justified (R4); the finding itself stays, explained."""
    reason = reason.strip()
    if not reason:
        raise Refused(reason="an explanation needs a reason; say what happened (weather, device "
                      "fault, battery...) with --reason")
    with station.catalog.session() as session:
        row = session.get(FindingRow, finding_id)
        if row is None:
            raise NotFound(what="Finding", ident=finding_id,
                           hint="List findings with: bodycam findings")
        if not row.current:
            raise Refused(reason=f"finding {finding_id} belongs to analysis version "
                          f"{row.analysis_version} of recording {row.recording_id}, which was "
                          "superseded; explain the current one (bodycam findings --recording "
                          f"{row.recording_id})")
        now = station.clock()
        explanation = ExplanationRow(recording_id=row.recording_id, fingerprint=row.fingerprint,
                                     finding_id=row.id, reason=reason, actor=station.actor,
                                     explained_at=now)
        session.add(explanation)
        session.flush()
        record_event(session, at=now, actor=station.actor, action="finding_explained",
                     recording_id=row.recording_id, subject=row.fingerprint, reason=reason,
                     details={"finding_id": row.id, "kind": row.kind,
                              "version": row.analysis_version,
                              "explanation_id": explanation.id,
                              "explanation_sha256": replay.explanation_digest(explanation)})
        view = finding_view(session, finding_id)
    assert view is not None
    return view


# --- one device's recordings from one dock --------------------------------------------------
@dataclass
class _Judged:
    rec: CatalogRecording
    extraction: Extraction
    facts: RecordingFacts
    findings: list[Finding]
    duration: float | None
    path: Path
    fingerprint: frozenset[str] = frozenset()
    earlier: dict[str, frozenset[str]] | None = None  # recordings sharing its pictures


def _zone(station: Station, dock: Dock, rec: CatalogRecording) -> str:
    try:
        return station.config.camera_zone(station.config.camera(dock.camera_rule))
    except ConfigError:  # the rule was removed since: keep the zone it was ingested with
        return rec.zone


def _stored_path(station: Station, rec_id: int) -> Path:
    with station.catalog.reading() as session:
        return station.store.root / session.get_one(Recording, rec_id).store_path


def _fetch_evicted(station: Station, ids: set[int]) -> None:
    """Recordings evicted to the object store (a re-analysis of old ones) fetched back and
    verified before they are read; nothing to do (one query) when every stored file is here."""
    with station.catalog.reading() as session:
        places = session.execute(select(Recording.id, Recording.store_path).where(
            Recording.id.in_(ids))).all()
    missing = [rid for rid, place in places if not (station.store.root / place).is_file()]
    if missing:
        from bodycam_ingest.storage.cache import ensure_local_for

        ensure_local_for(station, missing)


def _extract(station: Station, rec_id: int) -> Extraction:
    path = _stored_path(station, rec_id)
    cfg = station.config.analysis
    try:
        return extract(path, ffprobe=cfg.ffprobe, timeout_s=cfg.ffprobe_timeout_s)
    except OSError as exc:
        raise StorageError(path=path, reason=f"the stored recording {rec_id} cannot be read for "
                           f"analysis ({exc.strerror or exc}); check the evidence disk") from exc


def _analyze_group(station: Station, device: str, dock_id: int, recs: list[CatalogRecording],
                   trigger: str) -> list[RunResult]:
    cfg = station.config.analysis
    th = cfg.thresholds.to_thresholds()
    ids = {r.id for r in recs}
    with station.catalog.reading() as session:
        dock = session.get_one(Dock, dock_id)
        everything = device_recordings(session, device)
        others = [r for r in everything if r.id not in ids]
        durations = media_durations(session, [r.id for r in others])
        dock_times = tuple(d.started_at for d in device_docks(session, everything)
                           if d.outcome == "complete" and d.id != dock_id)
        stored = latest_profile(session, device, "learned")
        earlier_clean = clean_recordings(session, [r.id for r in others])
    configured = cfg.profile_for(device)
    profile = configured or (profile_from_json(json.loads(stored.profile)) if stored else None)
    with station.catalog.reading() as session:
        seen_at = dict(session.execute(select(Sighting.recording_id, Sighting.seen_at).where(
            Sighting.dock_id == dock_id, Sighting.recording_id.in_(ids))).all())
    _fetch_evicted(station, ids)
    judged: list[_Judged] = []
    for rec in recs:
        got = _extract(station, rec.id)
        facts = replace(build_facts(rec, got.timeline, got.problem, _zone(station, dock, rec)),
                        seen_at=seen_at.get(rec.id))
        duration = media_duration(scan_all(got.timeline, th)) if got.timeline else None
        judged.append(_Judged(rec, got, facts, [], duration, _stored_path(station, rec.id),
                              fingerprint(got.timeline)))
    with station.catalog.reading() as session:
        for j in judged:
            j.earlier = _sharing(session, j.rec.id, j.fingerprint)
    history = DeviceHistory(device, tuple(s for r in others
                                          if (s := seen(r, durations.get(r.id))) is not None),
                            dock_times)
    named = [j.facts for j in judged if j.rec.named]

    def by_session(p: DeviceProfile | None) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = defaultdict(list)
        for f in analyze_session(named, history, dock.started_at, th, p) if named else []:
            out[f.recording_id].append(f)
        return out

    def judge(j: _Judged, p: DeviceProfile | None, chain: dict[str, list[Finding]]) -> None:
        j.findings = [*analyze_file(j.facts, th, p), *name_findings(j.rec),
                      *chain[str(j.rec.id)],
                      *analyze_reuse(str(j.rec.id), j.facts.timeline, j.earlier or {}, th)]

    chain = by_session(profile)
    for j in judged:
        judge(j, profile, chain)
    learned: tuple[DeviceProfile, list[int]] | None = None
    if profile is None and cfg.learning.enabled:
        learned = _learn(station, cfg.learning.recordings, others, earlier_clean, judged)
        if learned is not None:
            chain = by_session(learned[0])
            for j in judged:
                if j.rec.id not in learned[1]:
                    judge(j, learned[0], chain)
    final = profile or (learned[0] if learned else None)
    if final is not None and final.overlay is not None and cfg.pictures.enabled:
        pictures = cfg.pictures
        by_id = {j.facts.recording_id: j for j in judged}
        seams: dict[str, list[RecordingFacts]] = defaultdict(list)  # by the later recording
        for a, b in continuing_pairs([j.facts for j in judged if j.rec.named], final, th):
            seams[b.recording_id].append(a)
        for j in judged:  # the slow part: a few decoded frames and OCR per recording
            once, twice = (ocr_reader(j.path, final.overlay, ffmpeg=pictures.ffmpeg,
                                      tesseract=pictures.tesseract,
                                      timeout_s=pictures.timeout_s, frames=n,
                                      engine=pictures.engine) for n in (1, 2))
            j.findings += overlay_check(j.facts, once, th, twice)
            for a in seams[j.facts.recording_id]:  # right after: a's file is still open
                thumbs = seam_thumbs(by_id[a.recording_id].path, j.path,
                                     ffmpeg=pictures.ffmpeg, timeout_s=pictures.timeout_s,
                                     engine=pictures.engine,
                                     keyframe_ratio=th.seam_keyframe_ratio)
                j.findings += scene_check(a, j.facts, thumbs, th)
        release_pictures()
    return _store(station, device, dock_id, judged, trigger,
                  configured=configured, stored_id=stored.id if stored else None, learned=learned)


def _learn(station: Station, needed: int, others: list[CatalogRecording], earlier_clean: set[int],
           judged: list[_Judged]) -> tuple[DeviceProfile, list[int]] | None:
    """The device's profile from its first ``needed`` clean recordings, once it has that many."""
    now_clean = {j.rec.id: j for j in judged if not j.findings and j.facts.timeline is not None}
    pool = [r for r in others if r.id in earlier_clean and not r.deleted] + \
        [j.rec for j in now_clean.values()]
    first = sorted(pool, key=session_order)[:needed]
    if len(first) < needed:
        return None
    timelines = []
    for rec in first:
        timeline = now_clean[rec.id].facts.timeline if rec.id in now_clean else \
            _extract(station, rec.id).timeline
        if timeline is None:  # it read before; a stored file that no longer does is not clean
            return None
        timelines.append(timeline)
    th = station.config.analysis.thresholds.to_thresholds()
    groups = sessions_of([(r.name_seq, r.name_start_local, r.duration_s) for r in first], th)
    profile = learn_chain(learn_profile(timelines), [[timelines[i] for i in g] for g in groups],
                          th)
    return profile, [r.id for r in first]


def _sharing(session: Session, rid: int, mine: frozenset[str]) -> dict[str, frozenset[str]]:
    """Earlier recordings (by id) that share a GOP digest with this one: one indexed lookup."""
    found: dict[str, set[str]] = defaultdict(set)
    digests = sorted(mine)
    for i in range(0, len(digests), 500):  # SQLite's bound-parameter limit
        for other, digest in session.execute(select(
                ContentFingerprintRow.recording_id, ContentFingerprintRow.digest).where(
                ContentFingerprintRow.digest.in_(digests[i:i + 500]),
                ContentFingerprintRow.recording_id < rid)):
            found[str(other)].add(digest)
    return {k: frozenset(v) for k, v in found.items()}


def _profile_row(session: Session, device: str, source: str, profile: DeviceProfile,
                 learned_from: list[int], now: datetime) -> DeviceProfileRow:
    row = DeviceProfileRow(device=device, profile=json.dumps(profile_to_json(profile),
                                                             sort_keys=True),
                           learned_from=json.dumps(learned_from), source=source, updated_at=now)
    session.add(row)
    session.flush()
    return row


def _store(station: Station, device: str, dock_id: int, judged: list[_Judged], trigger: str, *,
           configured: DeviceProfile | None, stored_id: int | None,
           learned: tuple[DeviceProfile, list[int]] | None) -> list[RunResult]:
    cfg = station.config.analysis
    thresholds = json.dumps(cfg.thresholds.as_json(), sort_keys=True)
    results = []
    with station.catalog.session() as session:
        now = station.clock()
        profile_id = stored_id
        learned_ids: list[int] = []
        if configured is not None:
            text = json.dumps(profile_to_json(configured), sort_keys=True)
            last = latest_profile(session, device, "config")
            profile_id = last.id if last is not None and last.profile == text else \
                _profile_row(session, device, "config", configured, [], now).id
        elif learned is not None:
            learned_ids = learned[1]
            row = _profile_row(session, device, "learned", learned[0], learned_ids, now)
            profile_id = row.id
            record_event(session, at=now, actor=station.actor, action="profile_learned",
                         dock_id=dock_id, subject=device,
                         details={"profile_id": row.id, "learned_from": learned_ids})
        for j in judged:
            rid = j.rec.id
            version = (session.scalar(select(func.max(AnalysisRun.version))
                                      .where(AnalysisRun.recording_id == rid)) or 0) + 1
            session.execute(update(AnalysisRun).where(AnalysisRun.recording_id == rid,
                                                      AnalysisRun.current.is_(True))
                            .values(current=False))
            session.execute(update(FindingRow).where(FindingRow.recording_id == rid,
                                                     FindingRow.current.is_(True))
                            .values(current=False))
            critical = sum(1 for f in j.findings if f.severity.value == "critical")
            warning = len(j.findings) - critical
            timeline = j.extraction.timeline
            judged_by = profile_id if configured is not None or stored_id is not None or \
                (learned is not None and rid not in learned_ids) else None
            run = AnalysisRun(
                recording_id=rid, version=version, current=True, analyzed_at=now,
                actor=station.actor, trigger=trigger, dock_id=dock_id, device=device,
                reader=timeline.source if timeline else None, problem=j.extraction.problem,
                media_duration_s=j.duration, profile_id=judged_by, thresholds=thresholds,
                engine=ENGINE, critical=critical, warning=warning)
            session.add(run)
            session.flush()
            rows = []
            for f in j.findings:
                rows.append(FindingRow(
                    analysis_id=run.id, recording_id=rid, kind=f.kind.value,
                    severity=f.severity.value, offset_s=f.offset_s,
                    measured=None if f.measured is None else json.dumps(f.measured),
                    threshold=None if f.threshold is None else json.dumps(f.threshold),
                    message=f.message, stream=f.stream, fingerprint=f.fingerprint(),
                    analysis_version=version, analyzed_at=now, current=True))
            session.add_all(rows)
            session.flush()
            prints = sorted(session.scalars(select(ContentFingerprintRow.digest).where(
                ContentFingerprintRow.recording_id == rid)))
            if j.fingerprint and not prints:  # written once, with the first analysis
                prints = sorted(j.fingerprint)
                session.add_all(ContentFingerprintRow(recording_id=rid, digest=d) for d in prints)
                session.flush()
            verdict = "findings" if j.findings else "clean"
            record_event(session, at=now, actor=station.actor, action="analysis_completed",
                         dock_id=dock_id, recording_id=rid, subject=j.rec.camera_path,
                         details={"version": version, "verdict": verdict, "critical": critical,
                                  "warning": warning, "reader": run.reader,
                                  "profile_id": judged_by, "trigger": trigger,
                                  "kinds": sorted({f.kind.value for f in j.findings}),
                                  "analysis_id": run.id,
                                  "analysis_sha256": replay.analysis_digest(run, rows, prints)})
            results.append(RunResult(rid, version, verdict, critical, warning, run.reader))
    for r in results:
        log.info("recording %d analysed (v%d): %s", r.recording_id, r.version, r.verdict)
    return results
