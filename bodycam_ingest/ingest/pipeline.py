"""One dock, start to finish: list the camera, copy each new file once while hashing it, verify the
copy, publish it, catalogue it, probe it, and (only if configured) wipe verified files.

Per file, the commit order is the crash-safety argument:
  1. journal ``copying`` (no byte written yet)      -> crash: staging file removed, nothing stored
  2. copy + hash + fsync into staging; verify it   -> crash: same as 1
  3. journal ``verified`` with the digest           -> crash: recovery re-hashes staging, publishes
  4. publish (link into the content address)       -> crash: recovery finds it stored, catalogues
  5. one transaction: recording + sighting + event, journal ``done``
A ``Recording`` row therefore never exists for content that is not stored and verified.
After the last file the dock's manifest is signed; a file is wiped from the camera only when a
signed manifest lists it (``wipe``). A commit that fails (a full catalog: exit 7) or never happens
(a crash) is finished by the next run's recovery, and signed then in a supplementary manifest if
its dock's manifest was signed already.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import stat
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bodycam_ingest.catalog.db import Catalog
from bodycam_ingest.config import CameraRule, Config
from bodycam_ingest.errors import ExitCode, IngestCatalogFull, Refused
from bodycam_ingest.ingest import copier
from bodycam_ingest.ingest.enumerate import (
    CameraFile,
    Listing,
    Rejected,
    close_camera_fd,
    list_camera,
    open_beneath,
)
from bodycam_ingest.ingest.journal import (
    Clock,
    DeviceIdentity,
    FileMeta,
    Journal,
    catalog_full,
    catalog_where,
)
from bodycam_ingest.ingest.locks import device_lock_path, dock_lock_path, try_lock
from bodycam_ingest.ingest.postprocess import Prober, apply_probe
from bodycam_ingest.ingest.store import STAGING_SUFFIX, EvidenceStore
from bodycam_ingest.ingest.wipe import wipe_verified
from bodycam_ingest.naming import NamePattern

log = logging.getLogger("bodycam.ingest")

_SOURCE_GONE = {errno.ENOTCONN, errno.ENODEV, errno.ENXIO, errno.ESHUTDOWN, errno.ENOENT,
                errno.EIO, errno.ESTALE}
PROGRESS_INTERVAL_S = 0.5


@dataclass(frozen=True)
class DockRequest:
    root: Path  # the camera's files: a read-only mount or a folder
    rule: CameraRule
    identity: DeviceIdentity
    trigger: str  # udev | watch | cli
    source: str  # devnode or folder, for people
    mount_method: str | None = None
    make_writable: Callable[[], Path] | None = None  # for wiping; None: source cannot be written
    # True last-write times on the camera's own clock (naive), keyed by lower-case camera path,
    # where the mount reports them wrongly (fusefat is a month late): see detection.mount.fat_mtimes
    camera_times: Mapping[str, datetime] | None = None


@dataclass
class DockReport:
    dock_id: int
    outcome: str = "complete"
    reason: str | None = None
    stored: int = 0
    duplicates: int = 0
    skipped: int = 0
    deleted_seen: int = 0  # camera files whose content retention deleted: not stored again
    wiped: int = 0
    bytes_copied: int = 0  # stored (verified, published)
    bytes_read: int = 0  # read off the camera so far (progress)
    failed: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        if self.outcome != "complete":
            return ExitCode.INCOMPLETE
        if self.rejected or self.unreadable:
            return ExitCode.WARNING
        return ExitCode.OK


@dataclass(frozen=True)
class _Copied:
    item: CameraFile
    transfer_id: int
    staging_name: str
    result: copier.CopyResult


class _StopDock(Exception):
    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


class Ingester:
    """Turns docks into evidence. Thread-safe: the daemon runs one ``ingest`` per worker."""

    def __init__(self, config: Config, catalog: Catalog, store: EvidenceStore, *, clock: Clock,
                 actor: str, prober: Prober, cancel: threading.Event | None = None,
                 on_progress: Callable[[int, str, int], None] | None = None,
                 after_dock: Sequence[Callable[[int], None]] = ()) -> None:
        self.config = config
        self.catalog = catalog
        self.store = store
        self.journal = Journal(catalog, clock, actor)
        self.prober = prober
        self.cancel = cancel or threading.Event()
        self.on_progress = on_progress  # (dock id, camera path, bytes done in file): tests, UI
        # run with the dock id once every file is stored and probed, before any wipe: continuity
        # analysis, the signed dock manifest. One failing stops the dock short of wiping.
        self.after_dock = after_dock
        self.runtime = config.storage.runtime

    def ingest(self, request: DockRequest) -> DockReport:
        device_lock = try_lock(device_lock_path(self.runtime, request.identity.key))
        if device_lock is None:
            raise Refused(reason=f"camera {request.identity.key} is already being ingested by "
                          "another process; wait for it to finish (bodycam status)")
        token = uuid.uuid4().hex
        dock_lock = try_lock(dock_lock_path(self.runtime, token))
        assert dock_lock is not None, "a fresh random lock name cannot be held"
        with device_lock, dock_lock:
            try:
                report = self._ingest_locked(request, token)
            except Exception as exc:
                # A catalog write refused for space, wherever it happened: a documented end (7).
                # The next dock finishes what this one left (recovery, supplementary manifest).
                if not catalog_full(exc):
                    raise
                raise IngestCatalogFull(where=catalog_where(self.catalog)) from None
            dock_lock_path(self.runtime, token).unlink(missing_ok=True)
            return report

    def _ingest_locked(self, request: DockRequest, token: str) -> DockReport:
        dock_id, device_id = self.journal.start_dock(
            request.identity, rule=request.rule.name, trigger=request.trigger,
            source=request.source, mount_method=request.mount_method, lock_token=token)
        report = DockReport(dock_id=dock_id)
        try:
            self._run(request, report, device_id)
        except _StopDock as stop:
            report.outcome, report.reason = stop.outcome, stop.reason
        except BaseException as exc:
            full = catalog_full(exc)
            outcome, reason = ("incomplete", IngestCatalogFull(
                where=catalog_where(self.catalog)).message()) if full \
                else ("failed", f"internal error: {exc!r}")
            try:
                self.journal.finish_dock(dock_id, outcome, reason, {})
            except Exception:
                if not full:
                    raise
                # still full: the dock stays open; the next run's recovery closes it
                log.warning("dock %d could not be closed: the catalog's disk is full", dock_id)
            raise
        self._finish(report)
        return report

    # ------------------------------------------------------------------------------------------
    def _run(self, request: DockRequest, report: DockReport, device_id: int) -> None:
        ingest_cfg = self.config.ingest
        try:
            listing = list_camera(request.root, request.rule.recordings,
                                  max_entries=ingest_cfg.max_entries, max_depth=ingest_cfg.max_depth)
        except OSError as exc:
            raise _StopDock("incomplete", f"the camera could not be listed ({exc.strerror}); "
                            "check the cable and dock it again") from None
        if request.camera_times:
            listing.files = _with_camera_times(listing.files, request.camera_times,
                                               self.config.camera_zone(request.rule))
        todo = self._plan(listing, report, device_id)
        patterns = self.config.name_patterns(request.rule)
        zone = self.config.camera_zone(request.rule)
        # Two stages overlap: while file N+1 is read from the camera, file N is verified,
        # published and catalogued on the other core. At most one file waits behind the copy.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify") as verifier, \
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="probe") as probes:
            behind: list[Future[int | None]] = []
            probing: list[Future[None]] = []

            def settle() -> None:
                while behind:
                    recording_id = behind.pop().result()
                    if recording_id is not None:
                        probing.append(probes.submit(self._probe, recording_id, report))

            try:
                for item in todo:
                    if self.cancel.is_set():
                        raise _StopDock("interrupted", "the station is shutting down; dock again "
                                        "to finish")
                    copied = self._copy_file(request, report, item)
                    settle()
                    if copied is not None:
                        behind.append(verifier.submit(self._store_file, copied, report, device_id,
                                                      patterns, zone))
            finally:
                settle()
                for future in probing:
                    future.result()
        if listing.truncated:
            raise _StopDock("incomplete", listing.truncated)
        self._after_dock(report)
        if report.failed:
            # Every cause, not just the first to happen: with two stages in flight, a full disk
            # can fail the file being verified after the next file was refused for space.
            shown = "; ".join(f"{name}: {why}" for name, why in report.failed[:3])
            more = f"; and {len(report.failed) - 3} more" if len(report.failed) > 3 else ""
            raise _StopDock("incomplete", f"{len(report.failed)} file(s) could not be ingested: "
                            f"{shown}{more}")
        if self.config.ingest.wipe_after_ingest:
            state = self.config.storage.state_dir
            report.wiped = wipe_verified(self.catalog, self.store, self.journal, request,
                                         report.dock_id, listing.files,
                                         manifest_dir=self.config.custody.manifest_path(state),
                                         key_dir=self.config.custody.key_path(state),
                                         object_store=self.config.storage.object_store
                                         is not None)

    def _after_dock(self, report: DockReport) -> None:
        for hook in self.after_dock:
            try:
                hook(report.dock_id)
            except Exception as exc:
                step = getattr(getattr(hook, "func", hook), "__module__", repr(hook))
                if catalog_full(exc):  # a documented end (IngestCatalogFull, exit 7), not a bug
                    log.error("after-dock step %s stopped for dock %d: the catalog's disk is "
                              "full", step, report.dock_id)
                    raise
                log.exception("after-dock step %s failed for dock %d", step, report.dock_id)
                raise _StopDock("incomplete", f"the files are stored, but {exc}; nothing was "
                                "wiped from the camera") from exc

    def _plan(self, listing: Listing, report: DockReport, device_id: int) -> list[CameraFile]:
        """Log refused entries; skip files this device already delivered (same path, size, mtime)."""
        report.rejected = listing.rejected
        for rejected in listing.rejected:
            self.journal.note("entry_rejected", dock_id=report.dock_id, subject=rejected.relpath,
                              reason=rejected.reason)
        todo: list[CameraFile] = []
        for item in listing.files:
            meta = _meta(item)
            known = self.journal.known_recording(device_id, meta)
            if known is None:
                todo.append(item)
            else:
                self.journal.record_sighting(report.dock_id, device_id, known, meta)
                report.skipped += 1
                gone = self.journal.deleted_content(recording_id=known)
                if gone is not None:
                    report.deleted_seen += 1
                    self.journal.note("deleted_content_seen_again", dock_id=report.dock_id,
                                      recording_id=known, subject=item.relpath,
                                      reason="the camera still holds content deleted by "
                                      "retention; it stays on the camera",
                                      details={"tombstone_id": gone[1]})
        self.journal.update_dock(report.dock_id, files_total=len(listing.files),
                                 files_skipped=report.skipped, files_rejected=len(listing.rejected),
                                 bytes_total=sum(item.size for item in todo))
        return todo

    def _copy_file(self, request: DockRequest, report: DockReport,
                   item: CameraFile) -> _Copied | None:
        """Stage 1: the one read of the camera file, hashed, into a durable staging file."""
        reserve = self.config.storage.free_space_reserve
        free = self.store.free_bytes()
        if free - item.size < reserve:
            reason = (f"not started: storing {item.size} bytes would leave less than the "
                      f"free-space reserve ({reserve} bytes; {free} free); free space or add disk")
            report.failed.append((item.relpath, reason))
            self.journal.note("file_not_started", dock_id=report.dock_id, subject=item.relpath,
                              reason=reason)
            return None
        self.journal.update_dock(report.dock_id, current_file=item.relpath)
        staging_name = f"{report.dock_id}-{uuid.uuid4().hex}{STAGING_SUFFIX}"
        transfer_id = self.journal.begin_transfer(report.dock_id, _meta(item), staging_name)
        try:
            result = self._copy(request, report, item, staging_name)
        except BaseException as exc:  # noqa: BLE001 - cleanup, then _classify_failure re-raises
            self.store.discard_staging(staging_name)
            self._classify_failure(request, report, item, transfer_id, exc)
            return None
        report.bytes_read += result.size
        return _Copied(item, transfer_id, staging_name, result)

    def _store_file(self, copied: _Copied, report: DockReport, device_id: int,
                    patterns: tuple[NamePattern, ...], zone: str) -> int | None:
        """Stage 2: check the stored copy, then journal, publish and catalogue it."""
        try:
            self._verify(copied)
        except copier.StoreWriteError as exc:
            self.store.discard_staging(copied.staging_name)
            self.journal.roll_back(copied.transfer_id, "failed", str(exc))
            report.failed.append((copied.item.relpath, f"store error: {exc}"))
            return None
        result = copied.result
        gone = self.journal.deleted_content(sha256=result.sha256)
        if gone is not None:  # retention deleted this content: never store it again silently
            self.store.discard_staging(copied.staging_name)
            self.journal.deleted_content_seen(copied.transfer_id, device_id=device_id,
                                              recording_id=gone[0], tombstone_id=gone[1])
            report.deleted_seen += 1
            return None
        self.journal.mark_verified(copied.transfer_id, result.sha256, result.size)
        published = self.store.publish(copied.staging_name, result.sha256)
        recording_id, new = self.journal.complete_transfer(
            copied.transfer_id, device_id=device_id, relpath=published.relpath,
            patterns=patterns, zone=zone)
        report.bytes_copied += result.size
        if new:
            report.stored += 1
        else:
            report.duplicates += 1
        self.journal.update_dock(report.dock_id, files_done=report.stored + report.duplicates,
                                 bytes_done=report.bytes_copied)
        return recording_id

    def _verify(self, copied: _Copied) -> None:
        """The stored copy reads back with the digest taken while reading the camera.

        By default from the page cache the copy left behind (CPU only: the bytes that reached
        the file are the bytes hashed); with ``verify_from_disk`` from the disk itself.
        """
        name, result = copied.staging_name, copied.result
        try:
            check_fd = self.store.open_staged_for_reading(name)
            try:
                check = copier.hash_fd(check_fd, drop_cache=self.config.ingest.verify_from_disk)
                copier.forget(check_fd)
            finally:
                os.close(check_fd)
        except OSError as exc:
            raise copier.StoreWriteError(errno=exc.errno, path=name, done=result.size,
                                         reason=f"the stored copy cannot be read back "
                                                f"({exc.strerror or exc})") from exc
        if check != result:
            raise copier.StoreWriteError(
                errno=None, path=name, done=result.size,
                reason=f"the stored copy reads back as {check.sha256}, not {result.sha256}")

    def _copy(self, request: DockRequest, report: DockReport, item: CameraFile,
              staging_name: str) -> copier.CopyResult:
        try:
            src = open_beneath(request.root, item.relpath)
        except OSError as exc:
            raise copier.SourceReadError(errno=exc.errno, source=item.relpath, done=0,
                                         reason=f"cannot open it ({exc.strerror})") from exc
        try:
            info = os.fstat(src)
            if not stat.S_ISREG(info.st_mode) or (info.st_dev, info.st_ino) != (item.dev, item.ino):
                raise copier.SourceReadError(errno=None, source=item.relpath, done=0,
                                             reason="it was replaced after the camera was listed")
            dst = self.store.open_staging(staging_name)
            try:
                result = copier.copy_and_hash(src, dst, progress=self._progress_cb(report, item),
                                              cancel=self.cancel, keep_written=True)
            finally:
                os.close(dst)
            if result.size != info.st_size:
                raise copier.SourceReadError(
                    errno=None, source=item.relpath, done=result.size,
                    reason=f"its size changed while copying ({info.st_size} bytes at open)")
        finally:
            close_camera_fd(src)
        return result

    def _classify_failure(self, request: DockRequest, report: DockReport, item: CameraFile,
                          transfer_id: int, exc: BaseException) -> None:
        if isinstance(exc, copier.CopyCancelled):
            self.journal.roll_back(transfer_id, "rolled_back", "station shutting down")
            raise _StopDock("interrupted", "the station was shut down during the copy; dock "
                            "again to finish") from None
        if isinstance(exc, copier.StoreWriteError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            self.journal.roll_back(transfer_id, "rolled_back", "evidence disk full")
            raise _StopDock("incomplete", "the evidence disk is full; nothing partial was kept. "
                            "Free space, then dock again") from None
        if isinstance(exc, copier.SourceReadError):
            if not _root_alive(request.root):
                self.journal.roll_back(transfer_id, "rolled_back", f"camera gone: {exc}")
                raise _StopDock("incomplete", f"the camera disappeared while copying "
                                f"{item.relpath}; nothing partial was kept. Dock it again "
                                "to finish") from None
            self.journal.roll_back(transfer_id, "failed", str(exc))
            report.failed.append((item.relpath, f"read error: {exc}"))
            return
        if isinstance(exc, copier.StoreWriteError):
            self.journal.roll_back(transfer_id, "failed", str(exc))
            report.failed.append((item.relpath, f"store error: {exc}"))
            return
        self.journal.roll_back(transfer_id, "rolled_back", f"internal error: {exc!r}")
        raise exc

    def _progress_cb(self, report: DockReport, item: CameraFile) -> Callable[[int], None]:
        last = [0.0]
        base = report.bytes_read

        def progress(done: int) -> None:
            if self.on_progress is not None:
                self.on_progress(report.dock_id, item.relpath, done)
            now = time.monotonic()
            if now - last[0] >= PROGRESS_INTERVAL_S:
                last[0] = now
                self.journal.update_dock(report.dock_id, bytes_done=base + done)
        return progress

    def _probe(self, recording_id: int, report: DockReport) -> None:
        status = apply_probe(self.catalog, self.store, self.prober, recording_id)
        if status != "ok":
            report.unreadable.append(f"recording {recording_id}: {status}")

    def _finish(self, report: DockReport) -> None:
        details: dict[str, object] = {
            "stored": report.stored, "duplicates": report.duplicates, "skipped": report.skipped,
            "rejected": len(report.rejected), "failed": len(report.failed),
            "wiped": report.wiped, "bytes": report.bytes_copied}
        self.journal.update_dock(report.dock_id, files_failed=len(report.failed),
                                 files_wiped=report.wiped)
        self.journal.finish_dock(report.dock_id, report.outcome, report.reason, details)


def _with_camera_times(files: list[CameraFile], times: Mapping[str, datetime],
                       zone: str) -> list[CameraFile]:
    tz = ZoneInfo(zone)
    out = []
    for item in files:
        local = times.get(item.relpath.lower())
        out.append(dataclasses.replace(item, mtime=local.replace(tzinfo=tz).astimezone(UTC))
                   if local is not None else item)
    return out


def _meta(item: CameraFile) -> FileMeta:
    return FileMeta(camera_path=item.relpath, size=item.size, mtime=item.mtime)


def _root_alive(root: Path) -> bool:
    try:
        os.listdir(root)
    except OSError as exc:
        return exc.errno not in _SOURCE_GONE
    return True
