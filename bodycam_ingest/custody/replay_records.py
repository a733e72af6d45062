"""The replay of the station's own records (issue 9 item 1, continued from ``replay``): docks,
the camera files each dock copied, retention runs, the retention policy in force, and four-eyes
requests, each compared with the custody entries and signed manifests that recorded them.

Pure: plain custody entries (``replay.Entry``) and plain rows in, ``replay.Difference`` out; the
catalog is read by ``replay.check``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bodycam_ingest.custody.manifest import (
    Manifest,
    canonical_json,
    format_timestamp,
    safe_camera_path,
    sha256_hex,
)
from bodycam_ingest.custody.replay import Difference, Entry

ACTIONS = ("dock_started", "dock_finished", "retention_run", "request_created",
           "request_approved", "request_rejected", "request_done", "request_failed",
           "recording_ingested", "content_seen_again", "archive_started", "archive_finished",
           "recording_archived", "manifest_signed", "deletion_manifest_signed",
           "camera_file_wiped")
# The states a request may be in after its newest entry. An approval is carried out in the same
# transaction for most kinds (done at once: the action's own entry follows); the others are
# "approved" until their done/failed entry.
REQUEST_STATES = {"request_created": ("pending",), "request_approved": ("approved", "done"),
                  "request_rejected": ("rejected",), "request_done": ("done",),
                  "request_failed": ("failed",)}


def _ts(value: datetime | None) -> str | None:
    return None if value is None else format_timestamp(value)


def _differ(pairs: Iterable[tuple[str, object, object]]) -> list[str]:
    return [f"{name} {mine!r} (recorded: {theirs!r})" for name, mine, theirs in pairs
            if mine != theirs]


def _signing_differs(row: Any, entry: Entry) -> list[str]:
    """A signed manifest's catalog record (dock or deletion) against its signing entry."""
    return _differ((("digest", row.digest, entry.details.get("sha256")),
                    ("previous", row.previous_digest, entry.details.get("previous")),
                    ("entries", row.entries, entry.details.get("entries")),
                    ("key", row.key_id, entry.details.get("key_id")),
                    ("signed at", _ts(row.signed_at), _ts(entry.at))))

def _unpaired(name: str, entry: Entry | None, row: object | None) -> Difference | None:
    """The difference when a record and its custody entry are not both there (None: they are)."""
    if row is None:
        assert entry is not None
        return Difference(name, f"recorded by custody entry {entry.seq} but missing from the "
                          "catalog: it was deleted")
    if entry is None:
        return Difference(name, "no custody entry records it: it was added outside bodycam")
    return None


@dataclass(frozen=True)
class Records:
    """The catalog rows this module compares (plain rows)."""

    docks: Mapping[int, Any]
    device_keys: Mapping[int, str]  # device id -> key
    sightings: Sequence[tuple[Any, str]]  # (copied Sighting row, its recording's sha256)
    runs: Mapping[int, Any]  # RetentionRun by id
    policies: Sequence[Any]  # PolicyApproval rows by id
    requests: Mapping[int, Any]  # RequestRow by id
    archives: Mapping[int, Any] = field(default_factory=dict)  # Archive by id
    replicas: Sequence[Any] = ()  # Replica rows
    manifest_rows: Sequence[Any] = ()  # ManifestRow rows
    tombstones: Sequence[Any] = ()  # Tombstone rows
    deletion_manifests: Mapping[int, int] = field(default_factory=dict)  # run id -> row id
    deletion_rows: Sequence[Any] = ()  # DeletionManifestRow rows


def dock_differences(entries: Sequence[Entry], r: Records) -> Iterator[Difference]:
    started = {e.dock_id: e for e in entries if e.action == "dock_started" and e.dock_id}
    finished = {e.dock_id: e for e in entries if e.action == "dock_finished" and e.dock_id}
    for dock_id in sorted(set(started) | set(r.docks)):
        entry, row = started.get(dock_id), r.docks.get(dock_id)
        if row is None:
            assert entry is not None
            yield Difference(f"dock {dock_id}", f"recorded by custody entry {entry.seq} but "
                             "missing from the catalog: it was deleted")
            continue
        if entry is None:
            yield Difference(f"dock {dock_id}", "no custody entry records it: it was added "
                             "outside bodycam")
            continue
        d = entry.details
        wrong = _differ((("source", row.source, entry.subject),
                         ("camera rule", row.camera_rule, d.get("rule")),
                         ("trigger", row.trigger, d.get("trigger")),
                         ("mount", row.mount_method, d.get("mount")),
                         ("device", r.device_keys.get(row.device_id), d.get("device")),
                         ("actor", row.actor, entry.actor),
                         ("start", _ts(row.started_at), _ts(entry.at))))
        end = finished.get(dock_id)
        if end is not None:
            wrong += _differ((("outcome", row.outcome, end.details.get("outcome")),
                              ("reason", row.reason, end.reason),
                              ("end", _ts(row.finished_at), _ts(end.at))))
        if wrong:
            yield Difference(f"dock {dock_id}", f"the catalog's {', '.join(wrong)} differs from "
                             f"custody entry {entry.seq}: the catalog was edited directly")


def sighting_differences(manifests: Sequence[Manifest], r: Records) -> Iterator[Difference]:
    """The files each signed dock copied, as its manifest lists them."""
    by_dock: dict[int, dict[tuple[str, str], Any]] = defaultdict(dict)
    for row, sha in r.sightings:
        by_dock[row.dock_id][(safe_camera_path(row.camera_path), sha)] = row
    listed: dict[int, list[Any]] = defaultdict(list)  # a dock's manifest and its supplements
    for manifest in manifests:
        try:
            listed[int(manifest.dock_id)].extend(manifest.entries)
        except ValueError:
            continue
    for dock_id, dock_entries in listed.items():
        have = by_dock.pop(dock_id, {})
        dock = r.docks.get(dock_id)
        for entry in dock_entries:
            row = have.pop((entry.camera_path, entry.sha256), None)
            name = f"dock {dock_id} file {entry.camera_path}"
            if row is None:
                yield Difference(name, "is listed by the dock's signed manifest, but no catalog "
                                 "sighting records it copied: the catalog was edited directly",
                                 frozenset())
                continue
            wrong = _differ((("size", row.size, entry.size),
                             ("seen at", _ts(row.seen_at), _ts(entry.ingested_at)),
                             ("device", row.device_id,
                              dock.device_id if dock is not None else row.device_id)))
            if wrong:
                yield Difference(f"sighting {row.id} ({name})", f"the catalog's "
                                 f"{', '.join(wrong)} differs from the signed manifest",
                                 frozenset({row.recording_id}))
        for (path, _sha), row in sorted(have.items()):
            yield Difference(f"sighting {row.id} (dock {dock_id} file {path})", "says the file "
                             "was copied, but the dock's signed manifest does not list it: the "
                             "catalog was edited directly", frozenset({row.recording_id}))
    for dock_id, rest in sorted(by_dock.items()):  # docks without a manifest
        dock = r.docks.get(dock_id)
        if dock is None or dock.outcome is not None:
            for row in rest.values():
                yield Difference(f"sighting {row.id} (dock {dock_id})", "says a file was copied "
                                 "at a dock that has no signed manifest: see the manifests "
                                 "section", frozenset({row.recording_id}))


def copy_differences(entries: Sequence[Entry], r: Records) -> Iterator[Difference]:
    """Each copied sighting has the custody entry its copy wrote, and each such entry its
    sighting (dock, recording, camera path, size, time)."""
    logged = {(e.dock_id, e.recording_id, e.subject): e for e in entries
              if e.action in ("recording_ingested", "content_seen_again")}
    for row, _sha in r.sightings:
        entry = logged.pop((row.dock_id, row.recording_id, row.camera_path), None)
        name = f"sighting {row.id} (dock {row.dock_id} file {row.camera_path})"
        if entry is None:
            yield Difference(name, "says the file was copied, but no custody entry records that "
                             "copy: the catalog was edited directly",
                             frozenset({row.recording_id}))
            continue
        wrong = _differ((("size", row.size, entry.details.get("size")),
                         ("seen at", _ts(row.seen_at), _ts(entry.at))))
        if wrong:
            yield Difference(name, f"the catalog's {', '.join(wrong)} differs from custody entry "
                             f"{entry.seq}: the catalog was edited directly",
                             frozenset({row.recording_id}))
    wiped = {(e.dock_id, e.subject): e for e in entries if e.action == "camera_file_wiped"}
    for row, _sha in r.sightings:
        entry = wiped.get((row.dock_id, row.camera_path))
        if (entry is None) != (row.wiped_at is None):
            yield Difference(f"sighting {row.id} (dock {row.dock_id} file {row.camera_path})",
                             f"says the camera file was {'not ' if entry else ''}wiped, but "
                             + (f"custody entry {entry.seq} recorded its wipe" if entry else
                                "no custody entry records a wipe") + ": the catalog was edited "
                             "directly", frozenset({row.recording_id}))
    for (dock_id, rid, path), entry in sorted(logged.items(), key=lambda i: i[1].seq):
        yield Difference(f"dock {dock_id} file {path}", f"custody entry {entry.seq} recorded its "
                         f"copy (recording {rid}), but the catalog has no such sighting: it was "
                         "deleted", frozenset({rid}) if rid is not None else frozenset())


def archive_differences(entries: Sequence[Entry], r: Records) -> Iterator[Difference]:
    started = {e.details.get("archive_id"): e for e in entries if e.action == "archive_started"}
    finished = {e.details.get("archive_id"): e for e in entries if e.action == "archive_finished"}
    for ident in sorted({k for k in started if isinstance(k, int)} | set(r.archives)):
        entry, row = started.get(ident), r.archives.get(ident)
        name = f"archive {ident}"
        if (unpaired := _unpaired(name, entry, row)) is not None:
            yield unpaired
            continue
        assert entry is not None and row is not None
        end = finished.get(ident)
        wrong = _differ((("target", row.target, entry.subject),
                         ("created at", _ts(row.created_at), _ts(entry.at)),
                         ("tier", row.tier, entry.details.get("tier")),
                         ("medium label", row.medium_label, entry.details.get("label")),
                         ("actor", row.actor, entry.actor)))
        if end is not None:
            wrong += _differ((("finished at", _ts(row.finished_at), _ts(end.at)),
                              ("manifest", row.manifest_digest, end.details.get("manifest_sha256")),
                              ("key", row.key_id, end.details.get("key_id")),
                              ("entries", row.entries, end.details.get("entries"))))
        if wrong:
            yield Difference(name, f"the catalog's {', '.join(wrong)} differs from its custody "
                             "entries: the catalog was edited directly")
    logged = {(e.details.get("archive_id"), e.recording_id): e for e in entries
              if e.action == "recording_archived"}
    for row in r.replicas:
        entry = logged.pop((row.archive_id, row.recording_id), None)
        name = f"replica {row.id} of recording {row.recording_id} (archive {row.archive_id})"
        if entry is None:
            yield Difference(name, "no custody entry records this copy: it was added outside "
                             "bodycam", frozenset({row.recording_id}))
            continue
        archive = r.archives.get(row.archive_id)
        wrong = _differ((("file", row.relative_path, entry.details.get("file")),
                         ("sha256", row.sha256, entry.details.get("sha256")),
                         ("verified at", _ts(row.verified_at), _ts(entry.at)),
                         ("copied at", _ts(row.copied_at),
                          _ts(archive.created_at) if archive is not None else None)))
        if wrong:
            yield Difference(name, f"the catalog's {', '.join(wrong)} differs from custody entry "
                             f"{entry.seq}: the catalog was edited directly",
                             frozenset({row.recording_id}))
    for (archive_id, rid), entry in sorted(logged.items(), key=lambda i: i[1].seq):
        yield Difference(f"replica of recording {rid} (archive {archive_id})", f"recorded by "
                         f"custody entry {entry.seq} but missing from the catalog: it was deleted",
                         frozenset({rid}) if rid is not None else frozenset())


def manifest_row_differences(entries: Sequence[Entry], r: Records) -> Iterator[Difference]:
    """Each dock manifest's catalog record as its ``manifest_signed`` entry recorded it (the
    manifests section checks the files, the signature and the chain); each tombstone names the
    deletion manifest of its run."""
    # by dock and file: a dock may have supplementary manifests (recovery's late commits)
    logged = {(e.dock_id, e.subject): e for e in entries if e.action == "manifest_signed"}
    for row in r.manifest_rows:
        entry = logged.get((row.dock_id, f"{row.file_name}.json"))
        name = f"manifest {row.file_name} (dock {row.dock_id})"
        if entry is None:
            yield Difference(name, "no custody entry records its signing: it was added outside "
                             "bodycam")
            continue
        wrong = _signing_differs(row, entry) + _differ(
            (("file", f"{row.file_name}.json", entry.subject),))
        if wrong:
            yield Difference(name, f"the catalog's {', '.join(wrong)} differs from custody entry "
                             f"{entry.seq}: the catalog was edited directly")
    signed = {e.details.get("run_id"): e for e in entries
              if e.action == "deletion_manifest_signed"}
    for run_id in sorted({k for k in signed if isinstance(k, int)}
                         | {row.run_id for row in r.deletion_rows}):
        entry = signed.get(run_id)
        row = next((d for d in r.deletion_rows if d.run_id == run_id), None)
        if row is None:
            assert entry is not None
            yield Difference(f"deletion manifest {entry.subject} (run {run_id})", f"recorded by "
                             f"custody entry {entry.seq} but missing from the catalog: it was "
                             "deleted")
            continue
        name = f"deletion manifest {row.id} {row.file_name} (run {run_id})"
        if entry is None:
            yield Difference(name, "no custody entry records its signing: it was added outside "
                             "bodycam")
            continue
        wrong = _signing_differs(row, entry)
        if wrong:
            yield Difference(name, f"the catalog's {', '.join(wrong)} differs from custody entry "
                             f"{entry.seq}: the catalog was edited directly")
    for stone in r.tombstones:
        expected = r.deletion_manifests.get(stone.run_id)
        if stone.manifest_id != expected and expected is not None:
            yield Difference(f"tombstone {stone.id} of recording {stone.recording_id}",
                             f"names deletion manifest {stone.manifest_id}, but its run "
                             f"{stone.run_id} was signed in deletion manifest {expected}: the "
                             "catalog was edited directly", frozenset({stone.recording_id}))


def run_differences(entries: Sequence[Entry], r: Records) -> Iterator[Difference]:
    logged = {e.details.get("run_id"): e for e in entries if e.action == "retention_run"}
    for run_id in sorted(set(r.runs) | {k for k in logged if isinstance(k, int)}):
        entry, row = logged.get(run_id), r.runs.get(run_id)
        name = f"retention run {run_id}"
        if row is None:
            assert entry is not None
            yield Difference(name, f"recorded by custody entry {entry.seq} but missing from the "
                             "catalog: it was deleted")
            continue
        if entry is None:
            if row.outcome not in (None, "failed"):  # running, or crashed and closed by the next
                yield Difference(name, f"says it ended {row.outcome!r}, but no custody entry "
                                 "records it: it was added outside bodycam")
            continue
        d = entry.details
        wrong = _differ((("actor", row.actor, entry.actor), ("trigger", row.trigger,
                                                             d.get("trigger")),
                         ("policy", row.policy_digest, d.get("policy_digest")),
                         ("examined", row.examined, d.get("examined")),
                         ("newly due", row.newly_due, d.get("newly_due")),
                         ("deleted", row.deleted, d.get("deleted")),
                         ("kept with alert", row.kept_with_alert, d.get("kept_with_alert")),
                         ("outcome", row.outcome, d.get("outcome")),
                         ("error", row.error, d.get("error")),
                         ("start", _ts(row.started_at), _ts(entry.at))))
        if wrong:
            yield Difference(name, f"the catalog's {', '.join(wrong)} differs from custody entry "
                             f"{entry.seq}: the catalog was edited directly")


def policy_differences(entries: Sequence[Entry], r: Records) -> Iterator[Difference]:
    """The policies in force, in order, as their entries recorded them (rows carry no id in
    the log: the n-th row is the n-th entry)."""
    logged = [e for e in entries if "policy_digest" in e.details and "policy" in e.details
              and "previous_digest" in e.details]
    for index in range(max(len(logged), len(r.policies))):
        entry = logged[index] if index < len(logged) else None
        row = r.policies[index] if index < len(r.policies) else None
        if row is None:
            assert entry is not None
            yield Difference(f"retention policy approval {index + 1} (policy "
                             f"{str(entry.details.get('policy_digest'))[:16]})",
                             f"recorded by custody entry {entry.seq} but missing from the "
                             "catalog: it was deleted")
            continue
        name = f"retention policy approval {row.id}"
        if entry is None:
            yield Difference(name, "no custody entry records it: it was added outside bodycam")
            continue
        wrong = _differ((("digest", row.policy_digest, entry.details.get("policy_digest")),
                         ("content digest", sha256_hex(row.policy_json.encode()),
                          sha256_hex(canonical_json(entry.details.get("policy")))),  # type: ignore[arg-type]
                         ("plan", row.plan_digest, entry.details.get("plan_digest")),
                         ("actor", row.actor, entry.actor),
                         ("approved by", row.approved_by, entry.approved_by),
                         ("reason", row.reason, entry.reason),
                         ("time", _ts(row.at), _ts(entry.at))))
        if wrong:
            yield Difference(name, f"the catalog's {', '.join(wrong)} differs from custody entry "
                             f"{entry.seq}: the catalog was edited directly")


def request_differences(entries: Sequence[Entry], r: Records) -> Iterator[Difference]:
    created: dict[int, Entry] = {}
    decided: dict[int, Entry] = {}
    last: dict[int, Entry] = {}
    for e in entries:
        ident = e.details.get("request_id")
        if e.action not in REQUEST_STATES or not isinstance(ident, int):
            continue
        last[ident] = e
        if e.action == "request_created":
            created[ident] = e
        elif e.action in ("request_approved", "request_rejected"):
            decided[ident] = e
    for ident in sorted(set(created) | set(r.requests)):
        entry, row = created.get(ident), r.requests.get(ident)
        name = f"request {ident}"
        if (unpaired := _unpaired(name, entry, row)) is not None:
            yield unpaired
            continue
        assert entry is not None and row is not None
        decision = decided.get(ident)
        wrong = _differ((("kind", row.kind, entry.details.get("kind")),
                         ("preview digest", row.preview_digest, entry.details.get("digest")),
                         ("preview", sha256_hex(row.preview.encode()), entry.details.get("digest")),
                         ("reason", row.reason, entry.reason),
                         ("requested by", row.requested_by, entry.actor),
                         ("requested at", _ts(row.requested_at), _ts(entry.at)),
                         ("state", row.state, row.state if row.state in REQUEST_STATES[
                             last[ident].action] else " or ".join(REQUEST_STATES[
                                 last[ident].action])),
                         ("decided by", row.decided_by, decision.actor if decision else None),
                         ("decided at", _ts(row.decided_at), _ts(decision.at) if decision
                          else None),
                         ("decision reason", row.decision_reason,
                          decision.reason if decision else None)))
        if wrong:
            yield Difference(name, f"the catalog's {', '.join(wrong)} differs from its custody "
                             "entries: the catalog was edited directly")


def differences(entries: Sequence[Entry], manifests: Sequence[Manifest],
                records: Records) -> list[Difference]:
    return [*dock_differences(entries, records), *sighting_differences(manifests, records),
            *copy_differences(entries, records), *archive_differences(entries, records),
            *manifest_row_differences(entries, records),
            *run_differences(entries, records), *policy_differences(entries, records),
            *request_differences(entries, records)]
