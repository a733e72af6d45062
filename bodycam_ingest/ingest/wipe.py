"""Deleting from the camera: only when configured, only what is verified, catalogued, stored and
listed in a signed dock manifest, and, on a station with an object store, verified there.

Before a file is deleted it is read again from the camera medium, bypassing the page cache, and its
digest must equal the catalogued one; the stored copy must be present; and a manifest file of a dock
that copied it must list that digest and verify with a station key (read here from the manifest
files, whatever the catalog says: a commit that failed half-way must never cost a recording its
last copy outside the station). With ``[storage.object_store]`` configured, the object store must
also hold a verified copy (issue 12): replication runs after the dock, so a dock's files usually
stay on the camera until the next dock wipes them. Anything else stays on the camera, with the
reason logged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.custody_models import ManifestRow
from bodycam_ingest.catalog.db import Catalog
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.models import Recording, Sighting
from bodycam_ingest.custody import keys
from bodycam_ingest.custody.manifest import parse_manifest, sha256_hex
from bodycam_ingest.errors import BodycamError
from bodycam_ingest.ingest import copier
from bodycam_ingest.ingest.enumerate import CameraFile, close_camera_fd, open_beneath
from bodycam_ingest.ingest.journal import Journal
from bodycam_ingest.ingest.store import EvidenceStore, fsync_dir
from bodycam_ingest.storage.queue import replicated

if TYPE_CHECKING:
    from bodycam_ingest.ingest.pipeline import DockRequest


def wipe_verified(catalog: Catalog, store: EvidenceStore, journal: Journal,
                  request: DockRequest, dock_id: int, files: list[CameraFile], *,
                  manifest_dir: Path, key_dir: Path, object_store: bool = False) -> int:
    if request.make_writable is None:
        journal.note("wipe_skipped", dock_id=dock_id, reason="wipe_after_ingest is on, but this "
                     f"source ({request.mount_method or 'folder'}) cannot be written safely; "
                     "files stay on the camera")
        return 0
    candidates, refusals = _candidates(catalog, store, request, dock_id, files,
                                       manifest_dir=manifest_dir, key_dir=key_dir,
                                       object_store=object_store)
    for item, recording_id, reason in refusals:  # after the read: one transaction at a time
        journal.note("wipe_refused", dock_id=dock_id, recording_id=recording_id,
                     subject=item.relpath, reason=reason)
    if not candidates:
        return 0
    writable = request.make_writable()
    wiped = 0
    for item, recording_id in candidates:
        path = PurePosixPath(item.relpath)
        parent_fd = open_beneath(writable, str(path.parent), os.O_RDONLY | os.O_DIRECTORY) \
            if str(path.parent) != "." else os.open(writable, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.unlink(path.name, dir_fd=parent_fd)
            os.fsync(parent_fd)
        except PermissionError as exc:  # e.g. an ext4 camera's root-owned folder
            journal.note("wipe_refused", dock_id=dock_id, recording_id=recording_id,
                         subject=item.relpath, reason=f"the camera does not let the station "
                         f"delete it ({exc.strerror}: its folder belongs to another user); it "
                         "stays on the camera")
            continue
        finally:
            os.close(parent_fd)
        with catalog.session() as session:  # the mark and its custody entry commit together
            at = journal.clock()
            session.execute(update(Sighting).where(Sighting.dock_id == dock_id,
                                                   Sighting.camera_path == item.relpath)
                            .values(wiped_at=at))
            record_event(session, at=at, actor=journal.actor, action="camera_file_wiped",
                         dock_id=dock_id, recording_id=recording_id, subject=item.relpath,
                         reason="verified, catalogued and stored")
        wiped += 1
    fsync_dir(Path(writable))
    return wiped


def _candidates(catalog: Catalog, store: EvidenceStore, request: DockRequest, dock_id: int,
                files: list[CameraFile], *, manifest_dir: Path, key_dir: Path,
                object_store: bool = False,
                ) -> tuple[list[tuple[CameraFile, int]], list[tuple[CameraFile, int, str]]]:
    """The dock's files that may be wiped (with their recording), and those refused, with why."""
    candidates: list[tuple[CameraFile, int]] = []
    refusals: list[tuple[CameraFile, int, str]] = []
    with catalog.reading() as session:
        found = []
        for item in files:
            row = session.execute(
                select(Recording.id, Recording.sha256, Recording.store_path, Recording.deleted_at)
                .join(Sighting, Sighting.recording_id == Recording.id)
                .where(Sighting.dock_id == dock_id, Sighting.camera_path == item.relpath)
            ).first()
            if row is not None:
                found.append((item, row))
        signed, unsigned_why = _signed_digests(session, manifest_dir, key_dir,
                                               [row.id for _, row in found])
        offsite = {row.sha256 for _, row in found if not object_store
                   or replicated(session, [row.sha256])}
        for item, row in found:
            if row.deleted_at is not None:  # no stored copy any more: the camera's is not spare
                reason: str | None = (f"recording {row.id} was deleted by retention on "
                                      f"{row.deleted_at:%Y-%m-%d}; there is no stored copy, so "
                                      "the camera's file is not wiped")
            elif row.sha256 not in signed:
                reason = (f"no signed dock manifest lists recording {row.id} yet{unsigned_why}; "
                          "it stays on the camera until one does (the next dock signs it)")
            elif row.sha256 not in offsite:
                reason = (f"recording {row.id} is not verified on the object store yet; it stays "
                          "on the camera until it is (a later dock wipes it)")
            else:
                reason = _refusal(request.root, item, row.sha256, store.root / row.store_path)
            if reason is None:
                candidates.append((item, row.id))
            else:
                refusals.append((item, row.id, reason))
    return candidates, refusals


def _signed_digests(session: Session, manifest_dir: Path, key_dir: Path,
                    recording_ids: list[int]) -> tuple[set[str], str]:
    """The SHA-256 values listed in the signed manifest files of the docks that copied these
    recordings, counting only files that are the recorded ones and verify with a station key;
    and, when some could not be read, why (for the refusal)."""
    if not recording_ids:
        return set(), ""
    try:
        keyring = keys.load_keyring(key_dir)
    except BodycamError as exc:
        return set(), f" ({exc.message()})"
    docks = select(Sighting.dock_id).where(Sighting.recording_id.in_(recording_ids),
                                           Sighting.copied.is_(True))
    signed: set[str] = set()
    problems: list[str] = []
    for row in session.scalars(select(ManifestRow).where(ManifestRow.dock_id.in_(docks))):
        base = manifest_dir / row.file_name
        try:
            data = base.with_name(f"{base.name}.json").read_bytes()
            signature = base.with_name(f"{base.name}.sig").read_bytes()
        except OSError as exc:
            problems.append(f"{row.file_name}: {exc.strerror}")
            continue
        if sha256_hex(data) != row.digest or not any(
                keys.verify(key, data, signature) for key in keyring.values()):
            problems.append(f"{row.file_name}: does not verify")
            continue
        try:
            manifest = parse_manifest(data, source=f"{row.file_name}.json")
        except BodycamError as exc:
            problems.append(exc.message())
            continue
        signed.update(entry.sha256 for entry in manifest.entries)
    why = f" (manifest {'; '.join(problems)}; run `bodycam audit`)" if problems else ""
    return signed, why


def _refusal(root: Path, item: CameraFile, sha256: str, stored: Path) -> str | None:
    """Why this camera file must not be wiped, or None. Both sides are re-read from their medium,
    bypassing the page cache: the stored copy from the evidence disk, the file from the camera."""
    sides: tuple[tuple[str, Callable[[], int], Callable[[int], None]], ...] = (
        ("the stored copy", lambda: os.open(stored, os.O_RDONLY | os.O_CLOEXEC), os.close),
        ("the camera file", lambda: open_beneath(root, item.relpath), close_camera_fd),
    )
    for where, opener, closer in sides:
        try:
            fd = opener()
        except OSError as exc:
            return f"{where} cannot be opened ({exc.strerror})"
        try:
            digest = copier.hash_fd(fd, drop_cache=True).sha256
        except OSError as exc:  # hash_fd reports read errors as the OSError itself
            return f"{where} cannot be re-read ({exc.strerror or exc})"
        finally:
            closer(fd)
        if digest != sha256:
            return f"{where} now reads {digest}, not the catalogued {sha256}"
    return None
