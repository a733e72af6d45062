"""Audit section 'replay' (issue 9 item 1): the tables as the signed record says they must be.

The catalog's tables are a fast view; the record is the hash-chained custody log and the signed
dock manifests. This module replays the log once and compares the tables with it, naming every
difference:

* recording facts (officer, device, camera path, start, size) against the signed dock manifest
  entry of the recording's SHA-256 (``fact_differences``);
* tiers: every ``TierChange`` the log vouched for exists and no other does; each recording's own
  tier and reason, and each case's tier row, are what the newest logged change set (a recording
  the log never changed is ``standard``);
* holds: every hold the log added exists, is released exactly when the log released it, and no
  hold exists that the log never added;
* labels: each recording's current label is the one the log set last;
* analysis: every analysis run (the verdict), with its findings, and every explanation is what
  its custody entry's digest covers (``analysis_sha256``, ``explanation_sha256``); which run of a
  recording is current is what the log says;
* deletions: a recording marked deleted has a ``recording_deleted`` entry and vice versa.

Content digests of tier changes, holds and labels are compared by their own sections
(``hold_audit``, ``audit.check_labels``); this section adds what those could not see: a row
DELETED together with its effect, a row that no entry ever mentioned, and a table set back.

This module is the pure core (``replay_log``, ``differences``, ``fact_differences``): plain
entries and plain rows in, plain ``Difference`` values out. ``replay_records`` does the same for
docks, copies, archives, runs, the policy and requests; ``replay_catalog`` is the thin edge that
reads the catalog for the audit (``check``) and for the retention sweep inside its deletion
transaction (``disagreements``).

Catalogs from before this section: analysis runs and explanations whose custody entry predates
the digests (an ``analysis_completed`` entry with no ``analysis_id``) are "legacy": counted in a
note, not compared. Any other run or explanation without an entry is a finding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bodycam_ingest.catalog.models import clock_start_of
from bodycam_ingest.custody.manifest import (
    JsonValue,
    Manifest,
    ManifestEntry,
    canonical_json,
    format_timestamp,
    safe_camera_path,
    sha256_hex,
)

SECTION = "replay"
STANDARD = "standard"


# --------------------------------------------------------------------------- content digests


def _num(value: float | None) -> str | None:
    """Floats have no canonical JSON form: their shortest round-trip spelling instead."""
    return None if value is None else repr(float(value))


def _ts(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


def finding_content(row: Any) -> dict[str, JsonValue]:
    return {"id": row.id, "analysis_id": row.analysis_id, "recording_id": row.recording_id,
            "kind": row.kind, "severity": row.severity, "offset_s": _num(row.offset_s),
            "measured": row.measured, "threshold": row.threshold, "message": row.message,
            "stream": row.stream, "fingerprint": row.fingerprint,
            "analysis_version": row.analysis_version, "analyzed_at": _ts(row.analyzed_at)}


def analysis_content(run: Any, findings: Iterable[Any],
                     fingerprints: Sequence[str]) -> dict[str, JsonValue]:
    """What an ``analysis_completed`` entry vouches for: the run (its verdict), its findings and
    the recording's content fingerprints (written once, with its first analysis). ``current`` is
    not content: which run is current is replayed from the log."""
    return {"id": run.id, "recording_id": run.recording_id, "version": run.version,
            "analyzed_at": _ts(run.analyzed_at), "actor": run.actor, "trigger": run.trigger,
            "dock_id": run.dock_id, "device": run.device, "reader": run.reader,
            "problem": run.problem, "media_duration_s": _num(run.media_duration_s),
            "profile_id": run.profile_id, "thresholds": run.thresholds, "engine": run.engine,
            "critical": run.critical, "warning": run.warning,
            "findings": [finding_content(f) for f in sorted(findings, key=lambda f: f.id)],
            "fingerprints": sorted(fingerprints)}


def analysis_digest(run: Any, findings: Iterable[Any], fingerprints: Sequence[str]) -> str:
    return sha256_hex(canonical_json(analysis_content(run, findings, fingerprints)))


def explanation_content(row: Any) -> dict[str, JsonValue]:
    return {"id": row.id, "recording_id": row.recording_id, "fingerprint": row.fingerprint,
            "finding_id": row.finding_id, "reason": row.reason, "actor": row.actor,
            "explained_at": _ts(row.explained_at)}


def explanation_digest(row: Any) -> str:
    return sha256_hex(canonical_json(explanation_content(row)))


# --------------------------------------------------------------------------- the log, replayed


@dataclass(frozen=True)
class Entry:
    """The parts of a custody entry the replay reads."""

    seq: int
    action: str
    recording_id: int | None
    subject: str | None
    reason: str | None
    details: Mapping[str, object]
    dock_id: int | None = None
    at: datetime | None = None
    actor: str | None = None
    approved_by: str | None = None


@dataclass(frozen=True)
class Vouched:
    seq: int
    digest: str | None
    recording_id: int | None = None
    case: str | None = None


@dataclass
class Replayed:
    """What the log says the tables hold."""

    recording_tiers: dict[int, tuple[int, str, str | None]] = field(default_factory=dict)
    case_tiers: dict[str, tuple[int, int, str, str | None, str | None]] = field(
        default_factory=dict)  # case -> (seq, change id, tier, reason, note)
    changes: dict[int, Vouched] = field(default_factory=dict)
    holds: dict[int, Vouched] = field(default_factory=dict)
    releases: dict[int, Vouched] = field(default_factory=dict)
    current_label: dict[int, tuple[int, int]] = field(default_factory=dict)  # rid -> (seq, id)
    label_case: dict[int, str | None] = field(default_factory=dict)  # rid -> current case
    analyses: dict[int, Vouched] = field(default_factory=dict)
    current_analysis: dict[int, tuple[int, int]] = field(default_factory=dict)  # rid -> seq, id
    legacy_analyses: set[tuple[int, int]] = field(default_factory=set)  # (rid, version)
    explanations: dict[int, Vouched] = field(default_factory=dict)
    legacy_explanations: set[int] = field(default_factory=set)  # finding ids
    deleted: dict[int, tuple[int, int | None]] = field(default_factory=dict)  # rid -> seq, tomb
    deleted_at: dict[int, datetime | None] = field(default_factory=dict)
    deleted_paths: dict[int, str | None] = field(default_factory=dict)
    ingested: dict[int, tuple[int, int | None]] = field(default_factory=dict)  # rid -> seq, dock


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _tier_set(state: Replayed, e: Entry) -> None:
    if e.recording_id is None:
        return
    change = _int(e.details.get("change_id"))
    state.recording_tiers[e.recording_id] = (e.seq, str(e.details.get("new")), e.reason)
    if change is not None:
        state.changes[change] = Vouched(e.seq, _str(e.details.get("change_sha256")),
                                        e.recording_id)


def _case_tier_set(state: Replayed, e: Entry) -> None:
    change = _int(e.details.get("change_id"))
    if e.subject is not None and change is not None:
        state.case_tiers[e.subject] = (e.seq, change, str(e.details.get("new")), e.reason,
                                       _str(e.details.get("note")))
        state.changes[change] = Vouched(e.seq, _str(e.details.get("change_sha256")), None,
                                        e.subject)


def _hold(state: Replayed, e: Entry) -> None:
    hold = _int(e.details.get("hold_id"))
    if hold is None:
        return
    if e.action == "hold_added":
        state.holds[hold] = Vouched(e.seq, _str(e.details.get("hold_sha256")), e.recording_id,
                                    e.subject)
    else:
        state.releases[hold] = Vouched(e.seq, _str(e.details.get("release_sha256")),
                                       e.recording_id, e.subject)


def _label(state: Replayed, e: Entry) -> None:
    label = _int(e.details.get("label_id"))
    if e.recording_id is not None and label is not None:
        state.current_label[e.recording_id] = (e.seq, label)
        state.label_case[e.recording_id] = e.subject


def _analysis(state: Replayed, e: Entry) -> None:
    if e.recording_id is None:
        return
    run = _int(e.details.get("analysis_id"))
    if run is None:
        version = _int(e.details.get("version"))
        if version is not None:
            state.legacy_analyses.add((e.recording_id, version))
        return
    state.analyses[run] = Vouched(e.seq, _str(e.details.get("analysis_sha256")), e.recording_id)
    state.current_analysis[e.recording_id] = (e.seq, run)


def _explained(state: Replayed, e: Entry) -> None:
    explanation = _int(e.details.get("explanation_id"))
    if explanation is None:
        finding = _int(e.details.get("finding_id"))
        if finding is not None:
            state.legacy_explanations.add(finding)
        return
    state.explanations[explanation] = Vouched(e.seq, _str(e.details.get("explanation_sha256")),
                                              e.recording_id)


def _deleted(state: Replayed, e: Entry) -> None:
    if e.recording_id is not None:
        state.deleted[e.recording_id] = (e.seq, _int(e.details.get("tombstone_id")))
        state.deleted_at[e.recording_id] = e.at
        state.deleted_paths[e.recording_id] = _str(e.details.get("store_path"))


def _ingested(state: Replayed, e: Entry) -> None:
    if e.recording_id is not None:
        state.ingested.setdefault(e.recording_id, (e.seq, e.dock_id))


_HANDLERS: dict[str, Callable[[Replayed, Entry], None]] = {
    "retention_tier_set": _tier_set, "retention_case_tier_set": _case_tier_set,
    "hold_added": _hold, "hold_released": _hold, "label_set": _label,
    "analysis_completed": _analysis, "finding_explained": _explained,
    "recording_deleted": _deleted, "recording_ingested": _ingested}
ACTIONS = tuple(_HANDLERS)


def replay_log(entries: Iterable[Entry]) -> Replayed:
    """Walk the log once, in sequence order; later entries supersede earlier ones."""
    state = Replayed()
    for entry in entries:
        handler = _HANDLERS.get(entry.action)
        if handler is not None:
            handler(state, entry)
    return state


# --------------------------------------------------------------------------- the tables


@dataclass(frozen=True)
class Difference:
    """One disagreement between the tables and the record; ``recordings`` and ``cases`` say
    whose protection it concerns (the sweep refuses to delete those)."""

    object: str
    problem: str
    recordings: frozenset[int] = frozenset()
    cases: frozenset[str] = frozenset()


@dataclass
class Tables:
    """The catalog rows the replay compares (plain rows: any object with the columns)."""

    recording_tiers: dict[int, tuple[str, str | None]]  # non-standard, or named by the log
    deleted: dict[int, datetime | None]  # recordings with deleted_at
    changes: dict[int, Any]  # TierChange rows by id
    case_tiers: dict[str, Any]  # CaseTierRow by case
    holds: dict[int, Any]  # HoldRow by id
    current_label: dict[int, Any]  # rid -> newest LabelRow
    runs: dict[int, Any]  # AnalysisRun by id
    findings: dict[int, list[Any]]  # analysis id -> FindingRow list
    explanations: dict[int, Any]  # ExplanationRow by id
    tombstones: dict[int, int] = field(default_factory=dict)  # recording id -> tombstone id
    first_docks: dict[int, int] = field(default_factory=dict)  # recording id -> first dock
    store_paths: dict[int, str] = field(default_factory=dict)  # deleted recordings' paths
    fingerprints: dict[int, list[str]] = field(default_factory=dict)  # rid -> digests, sorted


def _tier_differences(log: Replayed, t: Tables) -> Iterator[Difference]:
    for rid in sorted(set(log.recording_tiers) | set(t.recording_tiers)):
        seq, tier, reason = log.recording_tiers.get(rid, (None, STANDARD, None))
        have, have_reason = t.recording_tiers.get(rid, (STANDARD, None))
        if (have, have_reason or None) != (tier, reason or None):
            said = (f"custody entry {seq} set {tier} ({reason})" if seq is not None
                    else "no custody entry ever changed it (standard)")
            yield Difference(f"recording {rid}", f"has tier {have} ({have_reason}), but {said}: "
                             "the catalog was edited directly; restore the tier with bodycam "
                             "retain", frozenset({rid}))
    for change_id in sorted(set(log.changes) | set(t.changes)):
        vouched, row = log.changes.get(change_id), t.changes.get(change_id)
        if row is None and vouched is not None:
            yield Difference(f"tier change {change_id}", f"recorded by custody entry {vouched.seq}"
                             " but missing from the catalog: it was deleted",
                             _ids(vouched.recording_id), _names(vouched.case))
        elif vouched is None and row is not None:
            yield Difference(f"tier change {change_id}", "no custody entry records it: it was "
                             "written outside bodycam", _ids(row.recording_id),
                             _names(row.case_number))
    for case in sorted(set(log.case_tiers) | set(t.case_tiers)):
        row = t.case_tiers.get(case)
        if case not in log.case_tiers:
            assert row is not None
            yield Difference(f"case {case}", f"has tier row {row.tier} but no custody entry set "
                             "a tier on it: it was written outside bodycam", cases=_names(case))
            continue
        seq, change_id, tier, reason, note = log.case_tiers[case]
        if row is None:
            yield Difference(f"case {case}", f"custody entry {seq} set its tier to {tier}, but "
                             "the case has no tier row: it was deleted", cases=_names(case))
        elif (row.tier, row.reason or None, row.change_id, row.note or None) != (
                tier, reason or None, change_id, note or None):
            yield Difference(f"case {case}", f"its tier row says {row.tier} ({row.reason}, change "
                             f"{row.change_id}), but custody entry {seq} set {tier} ({reason}, "
                             f"change {change_id}): the catalog was edited directly",
                             cases=_names(case))


def _hold_differences(log: Replayed, t: Tables) -> Iterator[Difference]:
    for hold_id in sorted(set(log.holds) | set(t.holds) | set(log.releases)):
        added, released, row = log.holds.get(hold_id), log.releases.get(hold_id), t.holds.get(
            hold_id)
        target = added or released
        if target is not None:
            whose = (_ids(target.recording_id), _names(target.case))
        else:
            assert row is not None
            whose = (_ids(row.recording_id), _names(row.case_number))
        name = f"hold {hold_id}" + (f" on recording {whose[0] and min(whose[0])}" if whose[0]
                                    else f" on case {min(whose[1])}" if whose[1] else "")
        if row is None:
            yield Difference(name, f"recorded by custody entry {target.seq if target else '?'} "
                             "but missing from the catalog: it was deleted", *whose)
            continue
        if added is None:
            yield Difference(name, "no custody entry records it: it was added outside bodycam",
                             *whose)
        if released is None and any(v is not None for v in (
                row.released_at, row.released_by, row.release_reason, row.release_approved_by)):
            yield Difference(name, "is marked (partly) released, but no custody entry released "
                             "it: the catalog was edited directly", *whose)
        elif released is not None and row.released_at is None:
            yield Difference(name, f"custody entry {released.seq} released it, but the catalog "
                             "shows it active: the catalog was edited directly", *whose)


def _label_differences(log: Replayed, t: Tables) -> Iterator[Difference]:
    for rid in sorted(set(log.current_label) | set(t.current_label)):
        logged, row = log.current_label.get(rid), t.current_label.get(rid)
        have = row.id if row is not None else None
        if logged is None or have != logged[1]:
            said = (f"custody entry {logged[0]} set label {logged[1]}" if logged
                    else "no custody entry set a label")
            cases = {c for c in (log.label_case.get(rid), getattr(row, "case_number", None)) if c}
            yield Difference(f"recording {rid}", f"its current label is {have}, but {said}: a "
                             "label was added or deleted outside bodycam", frozenset({rid}),
                             frozenset(cases))


def _analysis_differences(log: Replayed, t: Tables, legacy: list[str]) -> Iterator[Difference]:
    for run_id in sorted(set(log.analyses) | set(t.runs)):
        vouched, run = log.analyses.get(run_id), t.runs.get(run_id)
        if run is None:
            assert vouched is not None
            yield Difference(f"analysis {run_id} of recording {vouched.recording_id}",
                             f"recorded by custody entry {vouched.seq} but missing from the "
                             "catalog: the verdict and its findings were deleted",
                             _ids(vouched.recording_id))
            continue
        name = f"analysis {run_id} of recording {run.recording_id}"
        findings = t.findings.get(run_id, [])
        if vouched is None:
            if (run.recording_id, run.version) in log.legacy_analyses:
                legacy.append(name)
            else:
                yield Difference(name, "no custody entry records it: it was added outside "
                                 "bodycam", _ids(run.recording_id))
            continue
        if vouched.digest != analysis_digest(run, findings,
                                             t.fingerprints.get(run.recording_id, [])):
            yield Difference(name, f"its verdict or findings differ from what custody entry "
                             f"{vouched.seq} recorded ({len(findings)} finding(s) now): they "
                             "(or its content fingerprints) were changed, added or deleted "
                             "outside bodycam",
                             _ids(run.recording_id))
        current = log.current_analysis.get(run.recording_id)
        should = current is not None and current[1] == run_id
        if bool(run.current) != should or any(bool(f.current) != should for f in findings):
            yield Difference(name, f"is marked {'current' if run.current else 'superseded'} "
                             "(or some of its findings are), but the custody log says "
                             f"{'it is current' if should else 'a later analysis superseded it'}"
                             ": the catalog was edited directly", _ids(run.recording_id))
    analysed = {run.recording_id for run in t.runs.values()} | set(log.current_analysis)
    for rid in sorted(set(t.fingerprints) - analysed):
        yield Difference(f"recording {rid}", "has content fingerprints but no analysis wrote "
                         "them: they were added outside bodycam", frozenset({rid}))
    for run_id in sorted(set(t.findings) - set(t.runs)):
        for f in t.findings[run_id]:
            yield Difference(f"finding {f.id} of recording {f.recording_id}", f"belongs to "
                             f"analysis {run_id}, which does not exist", _ids(f.recording_id))


def _explanation_differences(log: Replayed, t: Tables, legacy: list[str]
                             ) -> Iterator[Difference]:
    for ident in sorted(set(log.explanations) | set(t.explanations)):
        vouched, row = log.explanations.get(ident), t.explanations.get(ident)
        if row is None:
            assert vouched is not None
            yield Difference(f"explanation {ident} of recording {vouched.recording_id}",
                             f"recorded by custody entry {vouched.seq} but missing from the "
                             "catalog: it was deleted", _ids(vouched.recording_id))
        elif vouched is None:
            name = f"explanation {ident} of recording {row.recording_id}"
            if row.finding_id in log.legacy_explanations:
                legacy.append(name)
            else:
                yield Difference(name, "no custody entry records it: it was added outside "
                                 "bodycam (an unexplained finding must stay visible)",
                                 _ids(row.recording_id))
        elif vouched.digest != explanation_digest(row):
            yield Difference(f"explanation {ident} of recording {row.recording_id}",
                             f"differs from what custody entry {vouched.seq} recorded: it was "
                             "changed outside bodycam", _ids(row.recording_id))


def _deletion_differences(log: Replayed, t: Tables) -> Iterator[Difference]:
    for rid in sorted(set(log.deleted) | set(t.deleted) | set(t.tombstones)):
        logged = log.deleted.get(rid)
        if logged is None:
            yield Difference(f"recording {rid}", "is marked deleted (or has a tombstone), but no "
                             "custody entry deleted it: the catalog was edited directly",
                             frozenset({rid}))
        elif rid not in t.deleted:
            yield Difference(f"recording {rid}", f"custody entry {logged[0]} deleted it, but the "
                             "catalog shows it live: the catalog was edited directly",
                             frozenset({rid}))
        elif _ts(t.deleted[rid]) != _ts(log.deleted_at.get(rid)):
            yield Difference(f"recording {rid}", f"says it was deleted at {_ts(t.deleted[rid])}, "
                             f"but custody entry {logged[0]} deleted it at "
                             f"{_ts(log.deleted_at.get(rid))}: the catalog was edited directly",
                             frozenset({rid}))
        elif rid in log.deleted_paths and t.store_paths.get(rid) != log.deleted_paths[rid]:
            yield Difference(f"recording {rid}", f"its store path is {t.store_paths.get(rid)}, "
                             f"but custody entry {logged[0]} deleted "
                             f"{log.deleted_paths[rid]}: the catalog was edited directly",
                             frozenset({rid}))
        elif t.tombstones.get(rid) != logged[1]:
            yield Difference(f"recording {rid}", f"its tombstone is {t.tombstones.get(rid)}, but "
                             f"custody entry {logged[0]} wrote tombstone {logged[1]}: the "
                             "catalog was edited directly", frozenset({rid}))


def _ingest_differences(log: Replayed, t: Tables) -> Iterator[Difference]:
    for rid in sorted(set(log.ingested) | set(t.first_docks)):
        logged, dock = log.ingested.get(rid), t.first_docks.get(rid)
        if logged is None:
            yield Difference(f"recording {rid}", "no custody entry records its ingest: it was "
                             "added outside bodycam", frozenset({rid}))
        elif dock is None:
            yield Difference(f"recording {rid}", f"custody entry {logged[0]} recorded its ingest, "
                             "but it is missing from the catalog: it was deleted",
                             frozenset({rid}))
        elif dock != logged[1]:
            yield Difference(f"recording {rid}", f"says dock {dock} first took it, but custody "
                             f"entry {logged[0]} recorded dock {logged[1]}: the catalog was "
                             "edited directly", frozenset({rid}))


def differences(log: Replayed, tables: Tables) -> tuple[list[Difference], list[str]]:
    """Every disagreement, and the legacy rows (no digest to compare with) by name."""
    legacy: list[str] = []
    found = [*_tier_differences(log, tables), *_hold_differences(log, tables),
             *_label_differences(log, tables), *_analysis_differences(log, tables, legacy),
             *_explanation_differences(log, tables, legacy),
             *_deletion_differences(log, tables), *_ingest_differences(log, tables)]
    return found, legacy


@dataclass(frozen=True)
class Fact:
    """A recording's facts as the catalog holds them (plain row)."""

    id: int
    sha256: str
    size: int
    camera_path: str
    device: str
    officer: str | None
    start: datetime | None
    ingested_at: datetime | None = None
    clock_start: datetime | None = None
    duration_s: float | None = None
    first_dock_id: int | None = None


def fact_differences(facts: Iterable[Fact], manifests: Sequence[Manifest]) -> list[Difference]:
    """Each recording's facts against the entry of its SHA-256 in the first signed manifest that
    lists it (coverage itself is the manifests section's)."""
    signed: dict[str, ManifestEntry] = {}
    for manifest in manifests:
        for entry in manifest.entries:
            signed.setdefault(entry.sha256, entry)
    found: list[Difference] = []
    for fact in facts:
        item = signed.get(fact.sha256)
        if item is None:
            continue
        wrong = [f"{name} {mine!r} (signed: {theirs!r})" for name, mine, theirs in (
            ("officer", fact.officer or None, item.officer),
            ("device", fact.device, item.device),
            ("camera path", safe_camera_path(fact.camera_path), item.camera_path),
            ("start", _ts(fact.start), _ts(item.recording_start)),
            ("ingest time", _ts(fact.ingested_at), _ts(item.ingested_at)),
            ("size", fact.size, item.size)) if mine != theirs]
        if fact.ingested_at is not None and fact.clock_start != clock_start_of(
                fact.ingested_at, fact.start, fact.duration_s):
            wrong.append(f"retention clock start {_ts(fact.clock_start)!r} (from its signed "
                         f"start, length and ingest: "
                         f"{_ts(clock_start_of(fact.ingested_at, fact.start, fact.duration_s))!r})")
        if wrong:
            found.append(Difference(f"recording {fact.id} ({fact.camera_path})",
                                    "the catalog's " + ", ".join(wrong) + " differs from its "
                                    "signed dock manifest: the catalog was edited directly",
                                    frozenset({fact.id})))
    return found


def _ids(value: int | None) -> frozenset[int]:
    return frozenset() if value is None else frozenset({value})


def _names(value: str | None) -> frozenset[str]:
    return frozenset() if value is None else frozenset({value})
