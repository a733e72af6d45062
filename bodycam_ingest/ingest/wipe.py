"""Deleting from the camera: only when configured, only what is verified, catalogued and stored.

Before a file is deleted it is read again from the camera medium, bypassing the page cache, and its
digest must equal the catalogued one; the stored copy must be present. Anything else stays on the
camera, with the reason logged.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from bodycam_ingest.catalog.db import Catalog
from bodycam_ingest.catalog.models import Recording, Sighting
from bodycam_ingest.ingest import copier
from bodycam_ingest.ingest.enumerate import CameraFile, close_camera_fd, open_beneath
from bodycam_ingest.ingest.journal import Journal
from bodycam_ingest.ingest.store import EvidenceStore, fsync_dir

if TYPE_CHECKING:
    from bodycam_ingest.ingest.pipeline import DockRequest


def wipe_verified(catalog: Catalog, store: EvidenceStore, journal: Journal,
                  request: DockRequest, dock_id: int, files: list[CameraFile]) -> int:
    if request.make_writable is None:
        journal.note("wipe_skipped", dock_id=dock_id, reason="wipe_after_ingest is on, but this "
                     f"source ({request.mount_method or 'folder'}) cannot be written safely; "
                     "files stay on the camera")
        return 0
    candidates: list[tuple[CameraFile, int]] = []
    refusals: list[tuple[CameraFile, int, str]] = []
    with catalog.reading() as session:
        for item in files:
            row = session.execute(
                select(Recording.id, Recording.sha256, Recording.store_path, Recording.deleted_at)
                .join(Sighting, Sighting.recording_id == Recording.id)
                .where(Sighting.dock_id == dock_id, Sighting.camera_path == item.relpath)
            ).first()
            if row is None:
                continue
            if row.deleted_at is not None:  # no stored copy any more: the camera's is not spare
                reason: str | None = (f"recording {row.id} was deleted by retention on "
                                      f"{row.deleted_at:%Y-%m-%d}; there is no stored copy, so "
                                      "the camera's file is not wiped")
            else:
                reason = _refusal(request.root, item, row.sha256, store.root / row.store_path)
            if reason is None:
                candidates.append((item, row.id))
            else:
                refusals.append((item, row.id, reason))
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
        with catalog.session() as session:
            session.execute(update(Sighting).where(Sighting.dock_id == dock_id,
                                                   Sighting.camera_path == item.relpath)
                            .values(wiped_at=journal.clock()))
        journal.note("camera_file_wiped", dock_id=dock_id, recording_id=recording_id,
                     subject=item.relpath, reason="verified, catalogued and stored")
        wiped += 1
    fsync_dir(Path(writable))
    return wiped


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
