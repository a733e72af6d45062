"""Checking long-term copies: the audit section 'replicas' (``check``) and ``bodycam archive
verify`` (``verify_archives``). The writing side is ``retention.archive``.

What each checks, and why the split:

* the audit (``check``), which already re-hashes the whole store, stays cheap here: every live
  long-term recording must have a replica that counts (verified, not found damaged by its latest
  re-verification, not on the store's own filesystem); for every archive whose folder is
  reachable, each replica file must exist with its recorded size, and the package's signed tag
  manifest must be the recorded one, verify with its station key and vouch for
  ``manifest-sha256.txt``. An archive whose folder is not reachable (a disc on the shelf, a disk
  not mounted) is a note, not a finding: its replicas were not checked.
* ``bodycam archive verify`` re-reads every file of the package from its medium (O_DIRECT) and
  compares replicas with the catalog and the other files with the package's manifest. Replica
  rows are append-only, so the outcome is logged per replica (``replica_verified`` /
  ``replica_damaged``) and the latest outcome decides whether the replica still counts.
"""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.models import Event, Recording
from bodycam_ingest.catalog.retention_models import Archive, CaseTierRow, Replica
from bodycam_ingest.custody import keys, service
from bodycam_ingest.custody.eventlog import details_of
from bodycam_ingest.custody.export import TAG_MANIFEST
from bodycam_ingest.errors import NotFound
from bodycam_ingest.ingest import copier
from bodycam_ingest.retention import queries
from bodycam_ingest.retention.tiers import Tier

if TYPE_CHECKING:
    from bodycam_ingest.custody.audit import AuditInputs, AuditReport
    from bodycam_ingest.station import Station

SECTION = 'replicas'
SIGNATURE = "tagmanifest-sha256.txt.sig"
LISTING = "manifest-sha256.txt"


def parse_manifest_line(line: str) -> tuple[str, str]:
    """(sha256, relative path) of a BagIt manifest line; ValueError for a line that is not one,
    or whose path could escape the package (bagit's rule)."""
    digest, sep, path = line.rstrip("\n").partition("  ")
    if not sep or len(digest) != 64 or not path:
        raise ValueError(f"not a manifest line: {line!r}")
    path = path.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")
    if path.startswith("/") or any(part in ("", ".", "..") for part in path.split("/")):
        raise ValueError(f"path {path!r} could leave the package")
    return digest, path



@dataclass
class ReplicaStanding:
    """Which recordings have a replica that counts, and why the others' replicas do not."""

    covered: set[int] = field(default_factory=set)
    why_not: dict[int, str] = field(default_factory=dict)  # recording id -> latest reason


def latest_reverifications(session: Session) -> dict[int, tuple[bool, datetime, str]]:
    """replica id -> (ok, when, problem) of its latest ``bodycam archive verify``."""
    latest: dict[int, tuple[bool, datetime, str]] = {}
    for event in session.scalars(select(Event).where(Event.action.in_(
            ("replica_verified", "replica_damaged"))).order_by(Event.seq)):
        details = details_of(event)
        replica = details.get("replica_id")
        if isinstance(replica, int):
            latest[replica] = (event.action == "replica_verified", event.at,
                               str(details.get("problem") or ""))
    return latest


def same_device(target: str, store_dev: int) -> bool:
    """True when the package folder is reachable and on the store's filesystem."""
    try:
        return os.stat(target).st_dev == store_dev
    except OSError:
        return False


def replica_standing(session: Session, store_root: Path) -> ReplicaStanding:
    standing = ReplicaStanding()
    store_dev = os.stat(store_root).st_dev
    targets: dict[int, str] = dict(session.execute(select(Archive.id, Archive.target).where(
        Archive.finished_at.is_not(None))).all())
    local = {a for a, target in targets.items() if same_device(target, store_dev)}
    damaged = {r: v for r, v in latest_reverifications(session).items() if not v[0]}
    rows = session.execute(select(Replica.id, Replica.recording_id, Replica.archive_id)
                           .where(Replica.verified_at.is_not(None)).order_by(Replica.id))
    for replica_id, recording_id, archive_id in rows:
        if archive_id in local:
            standing.why_not[recording_id] = (f"its replica in archive {archive_id} is on the "
                                              "evidence store's own filesystem")
        elif replica_id in damaged:
            _, when, problem = damaged[replica_id]
            standing.why_not[recording_id] = (f"its replica in archive {archive_id} failed "
                                              f"verification on {when:%Y-%m-%d} ({problem})")
        elif archive_id in targets:
            standing.covered.add(recording_id)
    for recording_id in standing.covered:
        standing.why_not.pop(recording_id, None)
    return standing



def direct_io_supported(path: Path) -> bool:
    """Whether this file's filesystem serves O_DIRECT reads (tmpfs, some FUSE ones do not)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT | os.O_CLOEXEC)
    except OSError:
        return False
    probe = mmap.mmap(-1, mmap.PAGESIZE)
    try:
        os.preadv(fd, [probe], 0)
    except OSError:
        return False
    finally:
        probe.close()
        os.close(fd)
    return True



def rehash(path: Path) -> tuple[str | None, int | None, str | None]:
    """(sha256, size, error) of a file read from its medium, bypassing the page cache."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        return None, None, "missing" if exc.errno == errno.ENOENT else (exc.strerror or str(exc))
    try:
        result = copier.hash_fd(fd, drop_cache=True)
    except OSError as exc:
        return None, None, f"unreadable ({exc.strerror or exc})"
    finally:
        os.close(fd)
    return result.sha256, result.size, None


def verify_listing(package: Path, listing: str, *,
                   on_bytes: Callable[[int], None] | None = None) -> list[str]:
    """Re-read every file a BagIt manifest lists; one problem per file that differs."""
    problems = []
    for line in listing.splitlines():
        try:
            digest, relative = parse_manifest_line(line)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        seen, size, error = rehash(package / relative)
        if on_bytes is not None and size:
            on_bytes(size)
        if error is not None:
            problems.append(f"{relative}: {error}")
        elif seen != digest:
            problems.append(f"{relative}: reads as sha256 {seen}, the manifest says {digest}")
    return problems


def signature_problems(package: Path, manifest_digest: str | None, key_id: str | None,
                       keyring: Mapping[str, Ed25519PublicKey]) -> list[str]:
    """The signed tag manifest is the one recorded, its signature verifies, and it vouches for
    manifest-sha256.txt (cheap: small files only; the audit runs this)."""
    try:
        tags = (package / TAG_MANIFEST).read_bytes()
        signature = (package / SIGNATURE).read_bytes()
        listing = (package / "manifest-sha256.txt").read_bytes()
    except OSError as exc:
        return [f"{Path(exc.filename or '').name} cannot be read ({exc.strerror})"]
    problems = []
    if hashlib.sha256(tags).hexdigest() != manifest_digest:
        problems.append(f"{TAG_MANIFEST} is not the one recorded when the archive was "
                        "written (its SHA-256 differs): the package was changed")
    key = keyring.get(key_id or "")
    if key is None:
        problems.append(f"it was signed with key {key_id}, which is not in the keyring")
    elif not keys.verify(key, tags, signature):
        problems.append(f"the signature of {TAG_MANIFEST} does not verify with station key "
                        f"{key_id}: the package or its signature was altered")
    try:
        expected = {path: digest for digest, path in (
            parse_manifest_line(line) for line in tags.decode(errors="replace").splitlines()
            if line.strip())}
    except ValueError as exc:
        return [*problems, f"{TAG_MANIFEST}: {exc}"]
    if expected.get(LISTING) != hashlib.sha256(listing).hexdigest():
        problems.append(f"{LISTING} differs from what the signed tag manifest lists")
    return problems


# --------------------------------------------------------------------------- archive verify


@dataclass(frozen=True)
class ReplicaResult:
    replica_id: int
    recording_id: int
    file: str
    problem: str | None  # None: it reads back as catalogued
    sha256_seen: str | None


@dataclass
class ArchiveVerification:
    archive_id: int
    target: str
    label: str | None
    reachable: bool
    package_problems: list[str] = field(default_factory=list)
    replicas: list[ReplicaResult] = field(default_factory=list)
    direct_io: bool = True

    @property
    def ok(self) -> bool:
        return self.reachable and not self.package_problems and all(
            r.problem is None for r in self.replicas)


@dataclass(frozen=True)
class _Planned:
    archive_id: int
    target: str
    label: str | None
    manifest_digest: str | None
    key_id: str | None
    replicas: list[tuple[int, int, str, str, int]]  # id, recording, file, sha256, size


def verify_archives(station: Station, archive_ids: list[int] | None, *, actor: str,
                    approved_by: str | None = None,
                    on_bytes: Callable[[int], None] | None = None) -> list[ArchiveVerification]:
    """Re-read the packages of these finished archives (all when None) from their medium and
    log the outcome of every replica; an unreachable archive is reported, not failed."""
    keyring = keys.load_keyring(service.key_dir(station.config))
    with station.catalog.reading() as session:
        query = select(Archive).where(Archive.finished_at.is_not(None)).order_by(Archive.id)
        if archive_ids is not None:
            query = query.where(Archive.id.in_(archive_ids))
        rows = list(session.scalars(query))
        missing = sorted(set(archive_ids or ()) - {a.id for a in rows})
        if missing:
            raise NotFound(what="Finished archive", ident=missing[0],
                           hint="List them with: bodycam archive list")
        planned = [_Planned(a.id, a.target, a.medium_label, a.manifest_digest, a.key_id, [
            (r.id, r.recording_id, r.relative_path, r.sha256, r.size)
            for r in session.scalars(select(Replica).where(Replica.archive_id == a.id)
                                     .order_by(Replica.id))]) for a in rows]
    results = [_verify_one(plan, keyring, on_bytes) for plan in planned]
    now = station.clock()
    with station.catalog.session() as session:
        for result in results:
            for replica in result.replicas:
                record_event(session, at=now, actor=actor, approved_by=approved_by,
                             action="replica_verified" if replica.problem is None
                             else "replica_damaged",
                             recording_id=replica.recording_id, subject=result.target,
                             details={"archive_id": result.archive_id,
                                      "replica_id": replica.replica_id, "file": replica.file,
                                      "sha256_seen": replica.sha256_seen,
                                      "problem": replica.problem,
                                      "direct_io": result.direct_io})
            record_event(session, at=now, actor=actor, approved_by=approved_by,
                         action="archive_verified", subject=result.target,
                         details={"archive_id": result.archive_id,
                                  "reachable": result.reachable, "ok": result.ok,
                                  "package_problems": result.package_problems,
                                  "damaged": sum(1 for r in result.replicas if r.problem)})
    return results


def _verify_one(plan: _Planned, keyring: Mapping[str, Ed25519PublicKey],
                on_bytes: Callable[[int], None] | None) -> ArchiveVerification:
    package = Path(plan.target)
    result = ArchiveVerification(plan.archive_id, plan.target, plan.label,
                                 reachable=package.is_dir())
    if not result.reachable:
        return result
    result.package_problems = signature_problems(package, plan.manifest_digest, plan.key_id,
                                                 keyring)
    result.direct_io = direct_io_supported(package / TAG_MANIFEST)
    files = set()
    for replica_id, recording_id, file, sha256, size in plan.replicas:
        files.add(file)
        seen, seen_size, error = rehash(package / file)
        if on_bytes is not None and seen_size:
            on_bytes(seen_size)
        problem = error
        if problem is None and (seen != sha256 or seen_size != size):
            problem = (f"reads as sha256 {seen} ({seen_size} bytes), the catalog says {sha256} "
                       f"({size} bytes)")
        result.replicas.append(ReplicaResult(replica_id, recording_id, file, problem, seen))
    try:  # the rest of the payload (dock manifests, keys, custody log) against the package
        listing = (package / LISTING).read_text()
    except OSError as exc:
        result.package_problems.append(f"{LISTING} cannot be read ({exc.strerror})")
        return result
    others = "\n".join(line for line in listing.splitlines()
                       if line.partition("  ")[2] not in files)
    result.package_problems += verify_listing(package, others)
    return result


# --------------------------------------------------------------------------- audit


def check(session: Session, inputs: AuditInputs, keyring: Mapping[str, Ed25519PublicKey],
          report: AuditReport) -> None:
    """Add every problem of this section to ``report`` (``report.checked[SECTION]`` counts the
    long-term recordings checked). Cheap: sizes and signatures, no re-hash (see the module)."""
    ids = queries.long_term_ids(session)
    report.checked[SECTION] += len(ids)
    standing = replica_standing(session, inputs.store_root)
    missing = [i for i in ids if i not in standing.covered]
    reasons = _long_term_reasons(session, missing)
    for recording_id in missing:
        why = standing.why_not.get(recording_id)
        report.add(SECTION, f"recording {recording_id}",
                   f"is long-term ({reasons.get(recording_id, 'reason not recorded')}) but has "
                   "no verified replica on a second medium" + (f": {why}" if why else "")
                   + "; run `bodycam archive --tier long_term --to DIR`")
    logged = set()
    for event in session.scalars(select(Event).where(Event.action == "recording_archived")):
        logged.add((details_of(event).get("archive_id"), event.recording_id))
    catalogued: dict[int, str] = dict(session.execute(select(Recording.id, Recording.sha256)
                                                      .where(Recording.id.in_(
                                                          select(Replica.recording_id)))).all())
    for archive in session.scalars(select(Archive).order_by(Archive.id)):
        name = f"archive {archive.id} ({archive.target})"
        if archive.finished_at is None:
            report.notes.append(f"replicas: {name} was started on {archive.created_at:%Y-%m-%d} "
                                "and never finished: nothing in it counts as a replica")
            continue
        replicas = list(session.scalars(select(Replica).where(Replica.archive_id == archive.id)
                                        .order_by(Replica.id)))
        for replica in replicas:
            if (archive.id, replica.recording_id) not in logged:
                report.add(SECTION, f"replica {replica.id} of recording {replica.recording_id}",
                           f"no custody-log entry records it in {name}: it was added outside "
                           "bodycam")
            if catalogued.get(replica.recording_id) != replica.sha256:
                report.add(SECTION, f"replica {replica.id} of recording {replica.recording_id}",
                           f"its SHA-256 {replica.sha256} is not the recording's catalogued one")
        package = Path(archive.target)
        if not package.is_dir():
            report.notes.append(f"replicas: {name} is not reachable (medium "
                                f"{archive.medium_label or 'unlabelled'} not mounted?): its "
                                f"{len(replicas)} replica(s) were not checked")
            continue
        for problem in signature_problems(package, archive.manifest_digest, archive.key_id,
                                          keyring):
            report.add(SECTION, name, problem)
        for replica in replicas:
            try:
                size = (package / replica.relative_path).stat().st_size
            except OSError as exc:
                report.add(SECTION, f"replica of recording {replica.recording_id} in {name}",
                           f"{replica.relative_path} is "
                           + ("missing" if exc.errno == errno.ENOENT else
                              f"unreadable ({exc.strerror})")
                           + "; run `bodycam archive verify` and archive it again")
                continue
            if size != replica.size:
                report.add(SECTION, f"replica of recording {replica.recording_id} in {name}",
                           f"{replica.relative_path} is {size} bytes, the catalog says "
                           f"{replica.size}: it was changed; run `bodycam archive verify`")


def _long_term_reasons(session: Session, ids: list[int]) -> dict[int, str]:
    """recording id -> why it is long-term: its own tier reason, or its case's."""
    reasons: dict[int, str] = {}
    case = queries.current_case()
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(Recording.id, Recording.tier, Recording.tier_reason, case.c.case_number,
                   CaseTierRow.tier, CaseTierRow.reason)
            .outerjoin(case, case.c.recording_id == Recording.id)
            .outerjoin(CaseTierRow, CaseTierRow.case_number == case.c.case_number)
            .where(Recording.id.in_(ids[start:start + 500])))
        for rid, own, own_reason, case_number, case_tier, case_reason in rows:
            if own == Tier.LONG_TERM.value:
                reasons[rid] = f"reason {own_reason or '-'}"
            elif case_tier == Tier.LONG_TERM.value:
                reasons[rid] = f"case {case_number}, reason {case_reason or '-'}"
    return reasons


