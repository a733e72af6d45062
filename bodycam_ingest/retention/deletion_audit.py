"""Audit section 'retention' (issue 5): every deletion is complete, recorded and provable.

* every deleted recording has a tombstone, and every tombstone a deleted recording;
* the stored file of a deleted recording is gone (a file still there is a deletion a crash
  interrupted between the catalog commit and the unlink: the next retention run removes it, and
  until then it is a finding, because the catalog says "deleted" while the content exists);
* every tombstone is listed in a signed deletion manifest, with exactly its fields;
* every deletion manifest's files exist, hash to the recorded digest, are canonical, verify with
  a station key, and chain to the manifest before them;
* every deletion and every manifest has its custody-log entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.models import Event, Recording
from bodycam_ingest.catalog.retention_models import DeletionManifestRow, Tombstone
from bodycam_ingest.custody import keys
from bodycam_ingest.custody.manifest import sha256_hex
from bodycam_ingest.ingest.store import relpath_for
from bodycam_ingest.retention import deletion_manifest
from bodycam_ingest.retention.deletion_manifest import ManifestUnreadable, entry_json

if TYPE_CHECKING:
    from bodycam_ingest.custody.audit import AuditInputs, AuditReport

SECTION = 'retention'


def check(session: Session, inputs: AuditInputs, keyring: Mapping[str, Ed25519PublicKey],
          report: AuditReport) -> None:
    """Add every problem of this section to ``report`` (``report.checked[SECTION]`` counts objects)."""
    tombstones = {t.recording_id: t for t in session.scalars(select(Tombstone))}
    _deleted_recordings(session, inputs, tombstones, report)
    listed = _manifests(session, inputs, keyring, report)
    logged = set(session.scalars(select(Event.recording_id).where(
        Event.action == "recording_deleted")))
    for recording_id, tombstone in sorted(tombstones.items()):
        report.checked[SECTION] += 1
        name = f"tombstone of recording {recording_id}"
        if recording_id not in logged:
            report.add(SECTION, name, "no custody-log entry records this deletion "
                       "(recording_deleted): it was written outside bodycam")
        entry = listed.pop(recording_id, None)
        if entry is None:
            if tombstone.manifest_id is None:
                report.add(SECTION, name, f"not yet in a signed deletion manifest (run "
                           f"{tombstone.run_id} was interrupted or had no key); run `bodycam "
                           "retention run` to sign it")
            else:
                report.add(SECTION, name, "its deletion manifest does not list it: the manifest "
                           "or the tombstone was changed")
            continue
        manifest_name, fields = entry
        expected = entry_json(tombstone)
        differ = sorted(k for k in set(expected) | set(fields) if expected.get(k) != fields.get(k))
        if differ:
            report.add(SECTION, name, f"differs from its entry in {manifest_name} in "
                       f"{', '.join(differ)}: the tombstone was altered after it was signed")
    for recording_id, (manifest_name, _fields) in sorted(listed.items()):
        report.add(SECTION, f"deletion manifest {manifest_name}",
                   f"lists recording {recording_id}, which has no tombstone: a tombstone was "
                   "removed from the catalog")


def _deleted_recordings(session: Session, inputs: AuditInputs, tombstones: Mapping[int, Any],
                        report: AuditReport) -> None:
    rows = session.execute(select(Recording.id, Recording.sha256, Recording.deleted_at).where(
        Recording.deleted_at.is_not(None) | Recording.id.in_(list(tombstones)))).all()
    for recording_id, sha256, deleted_at in rows:
        name = f"recording {recording_id}"
        if deleted_at is None:
            report.add(SECTION, name, "has a tombstone but the catalog says it is not deleted: "
                       "its deleted_at was cleared outside bodycam")
            continue
        if recording_id not in tombstones:
            report.add(SECTION, name, f"marked deleted on {deleted_at:%Y-%m-%d} but has no "
                       "tombstone: what was deleted, and why, is no longer recorded")
        try:
            path = inputs.store_root / relpath_for(sha256)
        except ValueError:
            continue  # a bad digest is the fixity section's finding
        if path.exists():
            report.add(SECTION, name, f"deleted on {deleted_at:%Y-%m-%d}, but its stored file "
                       f"{path} is still present (a deletion interrupted after its catalog "
                       "commit); run `bodycam retention run` to finish it")


def _manifests(session: Session, inputs: AuditInputs, keyring: Mapping[str, Ed25519PublicKey],
               report: AuditReport) -> dict[int, tuple[str, dict[str, Any]]]:
    """Check each deletion manifest; return recording id -> (manifest file, its entry)."""
    directory = deletion_manifest.directory_of(inputs.manifest_dir)
    listed: dict[int, tuple[str, dict[str, Any]]] = {}
    previous: str | None = None
    rows = list(session.scalars(select(DeletionManifestRow).order_by(DeletionManifestRow.id)))
    logged = {e.subject for e in session.scalars(select(Event).where(
        Event.action == "deletion_manifest_signed"))}
    for row in rows:
        report.checked[SECTION] += 1
        json_name = f"{row.file_name}.json"
        name = f"deletion manifest {json_name} (run {row.run_id})"
        if row.previous_digest != previous:
            report.add(SECTION, name, "its catalog record does not chain to the deletion "
                       "manifest before it: a manifest record was removed or reordered")
        previous = row.digest
        if f"{deletion_manifest.DIRECTORY}/{json_name}" not in logged:
            report.add(SECTION, name, "no custody-log entry records its signing")
        try:
            data = (directory / json_name).read_bytes()
            signature = (directory / f"{row.file_name}.sig").read_bytes()
        except OSError as exc:
            report.add(SECTION, name, f"a file of it cannot be read ({exc.strerror}: "
                       f"{exc.filename}); it was deleted or moved")
            continue
        if sha256_hex(data) != row.digest:
            report.add(SECTION, name, f"{json_name} is not the manifest that was signed for this "
                       "run (its SHA-256 differs from the catalog's): it was edited or replaced")
        if not any(keys.verify(key, data, signature) for key in keyring.values()):
            report.add(SECTION, name, "its signature does not verify with any station key: the "
                       "manifest or its .sig was altered")
        try:
            manifest = deletion_manifest.parse(data)
        except ManifestUnreadable as exc:
            report.add(SECTION, name, f"{json_name} is unreadable: {exc}")
            continue
        if manifest.get("run_id") != row.run_id:
            report.add(SECTION, name, f"the file holds the manifest of run {manifest.get('run_id')}, "
                       "not of this run: it was swapped")
        if manifest.get("previous_manifest_sha256") != row.previous_digest:
            report.add(SECTION, name, "the chain link inside the file differs from the catalog's")
        if len(manifest["entries"]) != row.entries:
            report.add(SECTION, name, f"lists {len(manifest['entries'])} deletions, the catalog "
                       f"recorded {row.entries}")
        for entry in manifest["entries"]:
            recording_id = entry.get("recording_id")
            if isinstance(recording_id, int):
                listed[recording_id] = (json_name, entry)
    return listed
