"""Long-term copies on a second medium (R2: "a burned disc or a dedicated disk").

``bodycam archive --tier long_term --to DIR`` writes one package per run into ``DIR``: the same
BagIt bag as a disclosure (``custody.export``: the originals bit for bit, their signed dock
manifests, the station's public keys, their custody log, a README for sha256sum/openssl), whose
``tagmanifest-sha256.txt`` the station also signs (``tagmanifest-sha256.txt.sig``): that one
signature covers the manifests, which cover every file.

Write, then verify, then record (STYLE.md):

1. a short write transaction creates the ``Archive`` row (its id names the package) and logs
   ``archive_started``; no lock is held while copying;
2. the package is written in ``DIR/.<name>.partial``: each original read once from the store with
   the ingest's copy engine (SHA-256 of the very bytes written, fsync), compared with the catalog
   (a stored copy that no longer matches is skipped and reported: a damaged file is never
   archived as evidence); every file and folder is fsynced;
3. every file is read back from the medium bypassing the page cache (O_DIRECT, as the camera
   wipe does; where the filesystem refuses O_DIRECT the cache is dropped first and the result
   says so) and compared with the manifest; any mismatch discards the package;
4. the folder is renamed onto its final name and ``DIR`` fsynced; only then one transaction
   finishes the ``Archive`` row, adds one ``Replica`` per file (``verified_at`` set) and logs
   ``recording_archived`` per recording (so ``bodycam log ID`` shows it) and ``archive_finished``.

A crash leaves a ``.partial`` folder (removed by the next run: it is ours, its ``Archive`` row is
unfinished, it carries the run marker of ``custody.destinations``, and nothing refers to it; a
folder of that name without the marker is left alone) or, between rename and commit, a complete
package that no ``Replica`` row names (reported, left in place; its recordings are archived again).

A replica counts as the second copy of R2 when it was verified, its latest re-verification
(``bodycam archive verify``, logged as ``replica_verified`` / ``replica_damaged``: replica rows
are append-only, so re-verification is an event, not an update) did not fail, and its package is
not on the evidence store's own filesystem (``--same-device-ok`` writes such a package, with a
warning, but it is not a second medium).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.models import Recording
from bodycam_ingest.catalog.retention_models import Archive, Replica
from bodycam_ingest.custody import destinations, export, keys, service
from bodycam_ingest.custody.manifest import format_timestamp
from bodycam_ingest.errors import (
    ArchiveNoSpace,
    ArchiveSameDevice,
    ArchiveTargetMissing,
    ArchiveTargetUnusable,
    ArchiveVerifyFailed,
    ArchiveWriteFailed,
    BodycamError,
)
from bodycam_ingest.ingest import copier
from bodycam_ingest.ingest.store import fsync_dir
from bodycam_ingest.retention import queries
from bodycam_ingest.retention.replica_audit import (
    SIGNATURE,
    direct_io_supported,
    replica_standing,
    verify_listing,
)
from bodycam_ingest.retention.tiers import Tier

if TYPE_CHECKING:
    from bodycam_ingest.station import Station

log = logging.getLogger("bodycam.retention")
PARTIAL_SUFFIX = ".partial"
MARGIN_BYTES = 64 * 1024 * 1024
"""Room kept free on the medium beyond the originals: the package's small files, the
filesystem's own metadata, and a disc image's overhead."""
ARCHIVABLE = (Tier.LONG_TERM, Tier.EVIDENCE, Tier.STANDARD)
ALL = "all"  # `bodycam archive --all`: every live recording, whatever its tier

README = """\
Long-term archive {archive_id} of body-camera station {station}: {count} {tier} recording(s)
Written {at} by {actor}{label}; signed with station key {key_id}.

This folder is a BagIt bag (RFC 8493). Nothing in it needs the station's software to check.

1. This package is the one the station wrote (run in this folder):
       openssl pkeyutl -verify -pubin -inkey data/keys/keyring/{key_id}.pub -rawin \\
           -in tagmanifest-sha256.txt -sigfile tagmanifest-sha256.txt.sig
   prints "Signature Verified Successfully"; then
       sha256sum -c tagmanifest-sha256.txt
   checks the tag files, manifest-sha256.txt among them.

2. The files are complete and unchanged:
       sha256sum -c manifest-sha256.txt
   or, with the Library of Congress tool:   bagit.py --validate .

3. The station signed what it received from each camera. For each dock manifest:
       openssl pkeyutl -verify -pubin -inkey data/keys/station.pub -rawin \\
           -in data/manifests/NAME.json -sigfile data/manifests/NAME.sig
   (if the key was rotated, use the key in data/keys/keyring/ named by the custody log's key_id).
   Each recording's SHA-256 (first column of manifest-sha256.txt) appears in one of them.

4. data/recordings.json holds the catalog facts, tier and labels of each recording;
   data/custody-log.jsonl every custody-log entry about them up to this archive.
"""


# --------------------------------------------------------------------------- pure decisions


def package_name(station_id: str, archive_id: int, day: datetime) -> str:
    return f"{station_id}-archive-{archive_id}-{day:%Y%m%d}"


def partial_name(name: str) -> str:
    return f".{name}{PARTIAL_SUFFIX}"


def space_needed(sizes: Iterable[int]) -> tuple[int, int]:
    """(bytes needed, of which margin) for originals of these sizes: 1% and 64 MiB at least."""
    total = sum(sizes)
    margin = max(MARGIN_BYTES, total // 100)
    return total + margin, margin


# --------------------------------------------------------------------------- selection


def tier_ids(session: Session, tier: Tier | None) -> list[int]:
    """Live recordings whose effective tier is ``tier`` (None: every live recording). Standard
    is what is neither long-term nor evidence by its own tier or its case's (R2: a second copy
    of everything kept at least 2 years)."""
    if tier is Tier.LONG_TERM:
        return queries.long_term_ids(session)
    if tier is Tier.EVIDENCE:
        return list(session.scalars(queries.tier_ids_query(Tier.EVIDENCE)))
    live = list(session.scalars(select(Recording.id).where(Recording.deleted_at.is_(None))
                                .order_by(Recording.id)))
    if tier is None:
        return live
    if tier is Tier.STANDARD:
        stronger = set(queries.long_term_ids(session))
        stronger.update(session.scalars(queries.tier_ids_query(Tier.EVIDENCE)))
        return [i for i in live if i not in stronger]
    raise ValueError(f"tier {tier} is not archived (one of {', '.join(ARCHIVABLE)})")


@dataclass(frozen=True)
class Original:
    recording_id: int
    store_path: str
    sha256: str
    size: int
    file: Path  # inside the package


def candidates(session: Session, tier: Tier | None, store_root: Path) -> list[Original]:
    """Live recordings of ``tier`` without a replica that counts, in id order."""
    covered = replica_standing(session, store_root).covered
    wanted = [i for i in tier_ids(session, tier) if i not in covered]
    chosen: list[Original] = []
    for start in range(0, len(wanted), 500):
        for r in session.scalars(select(Recording).where(
                Recording.id.in_(wanted[start:start + 500])).order_by(Recording.id)):
            chosen.append(Original(r.id, r.store_path, r.sha256, r.size,
                                   export.recording_file(r)))
    return chosen


# --------------------------------------------------------------------------- the medium


def check_target(directory: Path, store_root: Path, *, same_device_ok: bool) -> bool:
    """Refuse a folder that is missing, not writable, or (without the flag) on the store's
    filesystem; returns whether it is on the store's filesystem."""
    if not directory.exists():
        raise ArchiveTargetMissing(path=directory)
    if not directory.is_dir():
        raise ArchiveTargetUnusable(path=directory, reason="it is not a folder")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ArchiveTargetUnusable(path=directory, reason="this user may not write to it (a "
                                    "read-only mount, or its owner); fix it and run again")
    local = directory.stat().st_dev == store_root.stat().st_dev
    if local and not same_device_ok:
        raise ArchiveSameDevice(path=directory, store=store_root)
    return local


def free_bytes(directory: Path) -> int:
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize


def leftovers(directory: Path, session: Session, station_id: str) -> list[tuple[Path, bool]]:
    """Partial folders of earlier runs in ``directory``: (path, ours to remove). Ours: named for
    an archive of this station whose row is unfinished, so no replica can refer to it."""
    unfinished = {Path(target).name for target in session.scalars(select(Archive.target).where(
        Archive.finished_at.is_(None)))}
    found = []
    for path in sorted(directory.glob(f".*{PARTIAL_SUFFIX}")):
        name = path.name[1:-len(PARTIAL_SUFFIX)]
        marked = (not path.is_symlink() and path.is_dir()
                  and (path / destinations.MARKER).is_file())
        found.append((path, marked and name in unfinished
                      and name.startswith(f"{station_id}-archive-")))
    return found


def sync_tree(root: Path) -> None:
    """fsync every file, then every folder bottom-up: the package survives a power cut."""
    for folder, dirs, files in os.walk(root, topdown=False):
        for name in [*files, *dirs, "."]:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


# --------------------------------------------------------------------------- writing


@dataclass
class ArchiveResult:
    archive_id: int | None = None  # None: nothing to archive
    target: Path | None = None
    copied: list[Original] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (recording id, why)
    notes: list[str] = field(default_factory=list)
    bytes_copied: int = 0
    seconds: float = 0.0
    direct_io: bool = True
    same_device: bool = False
    manifest_digest: str | None = None


@dataclass(frozen=True)
class ArchiveRequest:
    tier: Tier | None  # None: --all
    directory: Path
    label: str | None
    actor: str
    approved_by: str | None = None  # a second person, if one approved it
    same_device_ok: bool = False

    @property
    def scope(self) -> str:
        """The tier archived, or "all"; what the archive row and the custody log record."""
        return ALL if self.tier is None else self.tier.value


Progress = Callable[[str, int, int], None]  # (phase, bytes done in this call, phase total)


def run(station: Station, request: ArchiveRequest, *, progress: Progress | None = None
        ) -> ArchiveResult:
    """Archive every recording of the tier that lacks a replica that counts (see the module)."""
    config, store_root = station.config, station.store.root
    result = ArchiveResult()
    destinations.refuse_inside_station(request.directory, destinations.station_places(config))
    result.same_device = check_target(request.directory, store_root,
                                      same_device_ok=request.same_device_ok)
    key = service.load_station_key(config)  # no unsigned package: refuse before any copy
    station_id = config.station.id
    with station.catalog.reading() as session:
        for path, ours in leftovers(request.directory, session, station_id):
            if ours:
                shutil.rmtree(path, ignore_errors=True)
                result.notes.append(f"removed {path}: an interrupted archive of this station, "
                                    "never recorded")
            else:
                result.notes.append(f"{path} looks like an interrupted archive that is not this "
                                    "station's unfinished one; left in place for you to check")
        chosen = candidates(session, request.tier, store_root)
    if not chosen:
        return result
    needed, margin = space_needed(o.size for o in chosen)
    free = free_bytes(request.directory)
    if needed > free:
        raise ArchiveNoSpace(path=request.directory, count=len(chosen), needed=_size(needed),
                             margin=_size(margin), free=_size(free))
    from bodycam_ingest.storage.cache import ensure_local_for

    # a recording evicted to the object store is fetched back, verified, before it is copied
    ensure_local_for(station, [o.recording_id for o in chosen])
    now = station.clock()
    with station.catalog.session() as session:
        row = Archive(target="", medium_label=request.label, tier=request.scope,
                      created_at=now, actor=request.actor, entries=0)
        session.add(row)
        session.flush()
        name = package_name(station_id, row.id, now.astimezone(ZoneInfo(config.station.zone)))
        row.target = str(request.directory.resolve() / name)
        result.archive_id, result.target = row.id, Path(row.target)
        record_event(session, at=now, actor=request.actor, action="archive_started",
                     subject=row.target, approved_by=request.approved_by,
                     details={"archive_id": row.id, "tier": request.scope,
                              "recordings": len(chosen), "bytes": sum(o.size for o in chosen),
                              "label": request.label, "same_device": result.same_device})
    work = request.directory / partial_name(name)
    started = time.monotonic()
    try:
        _fill_and_rename(work, result.target, lambda: _write_package(
            station, request, result, chosen, work, key, progress))
    except BaseException as exc:
        _log_failure(station, request, result, exc)
        raise
    result.seconds = time.monotonic() - started
    _record(station, request, result, ident=keys.key_id(key.public_key()))
    return result


def _fill_and_rename(work: Path, target: Path, fill: Callable[[], None]) -> None:
    """Create ``work`` (never adopting an existing folder), mark it as this run's, ``fill`` it,
    rename it onto ``target``; on failure remove it, and nothing that is not this run's."""
    token = secrets.token_hex(8)
    try:
        work.mkdir()
    except OSError as exc:
        raise ArchiveTargetUnusable(path=work, reason=f"it cannot be created ({exc.strerror}); "
                                    "if it exists it is not this run's: move it away") from None
    unmarked = False
    try:
        destinations.mark(work, token)
        fill()
        destinations.unmark(work)
        unmarked = True
        os.rename(work, target)
        fsync_dir(target.parent)
    except BaseException:
        if unmarked and work.is_dir():  # the rename failed: still this run's folder
            destinations.mark(work, token)
        destinations.discard(work, token)  # only the folder this run created and marked
        raise


def _write_package(station: Station, request: ArchiveRequest, result: ArchiveResult,
                   chosen: list[Original], work: Path, key: Any,
                   progress: Progress | None) -> None:
    config = station.config
    total = sum(o.size for o in chosen)
    for original in chosen:
        problem = _copy(station.store.root / original.store_path, work / original.file,
                        original, lambda n: progress("copy", n, total) if progress else None)
        if problem is None:
            result.copied.append(original)
            result.bytes_copied += original.size
        else:
            result.skipped.append((original.recording_id, problem))
            if progress is not None:
                progress("copy", original.size, total)
    if not result.copied:
        raise ArchiveWriteFailed(path=work, reason="no stored copy could be archived: "
                                 + "; ".join(f"recording {i}: {why}" for i, why in result.skipped))
    ids = [o.recording_id for o in result.copied]
    with station.catalog.reading() as session:
        facts = []
        for recording in session.scalars(select(Recording).where(Recording.id.in_(ids))
                                         .order_by(Recording.id)):
            facts.append({**export.recording_facts(session, recording,
                                                   export.recording_file(recording)),
                          "archive_id": result.archive_id})
        export.write_signing_context(session, work, ids, manifest_dir=service.manifest_dir(config),
                                     key_dir=service.key_dir(config))
        export.write_custody_log(session, work, ids)
    export.write_facts(work, facts)
    ident = keys.key_id(key.public_key())
    at = station.clock()
    (work / "README.txt").write_text(README.format(
        archive_id=result.archive_id, station=config.station.id, count=len(ids),
        tier=request.scope, at=format_timestamp(at), actor=request.actor, key_id=ident,
        label=f"; medium {request.label}" if request.label else ""))
    export.write_bag(work, external_id=package_name(config.station.id, result.archive_id or 0, at),
                     station_id=config.station.id, at=at,
                     description=f"long-term archive {result.archive_id} ({request.scope}) "
                     f"by {request.actor}" + (f"; medium {request.label}" if request.label else ""),
                     known={o.file: o.sha256 for o in result.copied})
    tags = (work / export.TAG_MANIFEST).read_bytes()
    (work / SIGNATURE).write_bytes(keys.sign(key, tags))
    result.manifest_digest = hashlib.sha256(tags).hexdigest()
    sync_tree(work)
    result.direct_io = direct_io_supported(work / export.TAG_MANIFEST)
    if not result.direct_io:
        result.notes.append(f"{request.directory} does not support O_DIRECT: the copies were "
                            "re-read after dropping them from the page cache instead")
    problems = verify_listing(work, tags.decode(), on_bytes=None)
    problems += verify_listing(work, (work / "manifest-sha256.txt").read_text(),
                               on_bytes=(lambda n: progress("verify", n, result.bytes_copied))
                               if progress else None)
    if problems:
        raise ArchiveVerifyFailed(path=request.directory, problems="; ".join(problems[:5])
                                  + (f" and {len(problems) - 5} more" if len(problems) > 5 else ""))


def _copy(source: Path, target: Path, original: Original,
          progress: Callable[[int], None]) -> str | None:
    """Copy one original with the ingest's engine; None, or why it was not archived (a stored
    copy that is missing or no longer matches). A write error on the medium raises."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        return f"its stored copy {source} cannot be opened ({exc.strerror}); run bodycam audit"
    try:
        dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            progress(n - done)
            done = n

        try:
            copied = copier.copy_and_hash(src, dst, progress=advance, src_name=str(source),
                                          dst_name=str(target))
        except copier.StoreWriteError as exc:
            raise ArchiveWriteFailed(path=target, reason=str(exc.kwargs.get("reason"))) from exc
        except copier.SourceReadError as exc:
            target.unlink(missing_ok=True)
            return (f"its stored copy {source} cannot be read ({exc.kwargs.get('reason')}); "
                    "run bodycam audit")
        finally:
            os.close(dst)
    finally:
        os.close(src)
    if copied.sha256 != original.sha256 or copied.size != original.size:
        target.unlink(missing_ok=True)
        return (f"its stored copy now reads as sha256 {copied.sha256} ({copied.size} bytes), not "
                f"the catalogued {original.sha256}: it is damaged and was not archived; run "
                "bodycam audit and restore it")
    return None


def _record(station: Station, request: ArchiveRequest, result: ArchiveResult, *,
            ident: str) -> None:
    """One transaction: the archive finished, its replicas, their custody-log entries."""
    now = station.clock()
    assert result.archive_id is not None and result.target is not None
    with station.catalog.session() as session:
        row = session.get_one(Archive, result.archive_id)
        row.finished_at, row.manifest_digest, row.key_id = now, result.manifest_digest, ident
        row.entries = len(result.copied)
        for original in result.copied:
            session.add(Replica(recording_id=original.recording_id, archive_id=row.id,
                                relative_path=str(original.file), sha256=original.sha256,
                                size=original.size, copied_at=row.created_at, verified_at=now))
            record_event(session, at=now, actor=request.actor, action="recording_archived",
                         recording_id=original.recording_id, subject=row.target,
                         approved_by=request.approved_by,
                         details={"archive_id": row.id, "file": str(original.file),
                                  "sha256": original.sha256, "label": request.label,
                                  "tier": request.scope})
        record_event(session, at=now, actor=request.actor, action="archive_finished",
                     subject=row.target, approved_by=request.approved_by,
                     details={"archive_id": row.id, "entries": row.entries,
                              "bytes": result.bytes_copied, "manifest_sha256": row.manifest_digest,
                              "key_id": ident, "same_device": result.same_device,
                              "direct_io": result.direct_io,
                              "skipped": [{"recording_id": i, "reason": why}
                                          for i, why in result.skipped]})


def _log_failure(station: Station, request: ArchiveRequest, result: ArchiveResult,
                 exc: BaseException) -> None:
    """The failed attempt stays in the custody log; logging it never hides the original error."""
    reason = exc.message() if isinstance(exc, BodycamError) else f"{type(exc).__name__}: {exc}"
    try:
        with station.catalog.session() as session:
            record_event(session, at=station.clock(), actor=request.actor, action="archive_failed",
                         subject=str(result.target), approved_by=request.approved_by,
                         reason=reason[:500], details={"archive_id": result.archive_id})
    except Exception:  # the archive's own error is the one to report
        log.exception("the failed archive could not be logged in the custody log")


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB"
