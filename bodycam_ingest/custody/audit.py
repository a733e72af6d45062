"""``bodycam verify`` and ``bodycam audit``: every check, every problem gathered before reporting.

A finding is data (bagit's habit), never an exception: a tampered file, a broken chain link or a
missed deadline each becomes one ``Finding`` naming the object and what is wrong, and the command's
exit status is decided from the whole list at the end.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog import scope
from bodycam_ingest.catalog.custody_models import ChainHead, LabelRow, ManifestRow
from bodycam_ingest.catalog.models import Event, Recording
from bodycam_ingest.custody import anchors, eventlog, keys, labels, replay_catalog
from bodycam_ingest.custody.chain import (
    GENESIS,
    ChainProblem,
    Checkpoint,
    LogEntry,
    verify_anchor_chain,
    verify_anchors,
    verify_heads,
    verify_log,
    verify_manifest_chain,
)
from bodycam_ingest.custody.early import EarlyHashes, Stamp, stamp_of
from bodycam_ingest.custody.early import take as take_early
from bodycam_ingest.custody.fixity import FileHash, HashPool, hash_file
from bodycam_ingest.custody.manifest import Manifest, parse_manifest, sha256_hex, sha256sum_listing
from bodycam_ingest.errors import BodycamError

SECTIONS = ("fixity", "manifests", "custody log", "identity", "labels", "continuity", "deadlines",
            "retention", "holds", "replicas", "scrub", "object store", "replay")
# Sections of issue 5, each owned by its own module: (section, module with ``check``).
RETENTION_CHECKS = (("retention", "bodycam_ingest.retention.deletion_audit"),
                    ("holds", "bodycam_ingest.retention.hold_audit"),
                    ("replicas", "bodycam_ingest.retention.replica_audit"),
                    ("scrub", "bodycam_ingest.jobs.scrub_audit"),
                    ("object store", "bodycam_ingest.storage.audit"))


@dataclass(frozen=True)
class Finding:
    section: str
    object: str
    problem: str


@dataclass
class AuditReport:
    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SECTIONS, 0))
    notes: list[str] = field(default_factory=list)
    bytes_hashed: int = 0

    def add(self, section: str, obj: str, problem: str) -> None:
        self.findings.append(Finding(section, obj, problem))

    @property
    def clean(self) -> bool:
        return not self.findings


@dataclass(frozen=True)
class AuditInputs:
    store_root: Path
    manifest_dir: Path
    key_dir: Path
    workers: int = 0
    on_bytes: Callable[[int], None] | None = None
    now: datetime | None = None  # the station's clock (None: the wall clock)
    scrub_period: timedelta | None = None  # longest gap between fixity scrubs (None: 7 days)
    # the object store evicted recordings are checked on (storage.cache.remote_fixity)
    object_store: Any = None


class Stored(NamedTuple):
    """The catalog columns the fixity and coverage checks read (a plain row, no ORM object)."""

    id: int
    camera_path: str
    store_path: str
    sha256: str
    size: int
    deleted_at: datetime | None


STORED_COLUMNS = (Recording.id, Recording.camera_path, Recording.store_path, Recording.sha256,
                  Recording.size, Recording.deleted_at)


BATCH_FILES = 256
BATCH_BYTES = 32 * 1024 * 1024
"""Files are handed to the hash workers in batches of at most this many files and bytes: a large
file goes alone (both cores hash), a batch of small ones costs one task instead of hundreds."""


class Pending(Protocol):
    def results(self) -> Iterator[FileHash | None]:
        """Each recording's hash, in catalog order (None: deleted by retention, not hashed)."""


@dataclass(frozen=True)
class PendingHashes:
    """The hashes of the live recordings, in catalog order, as the workers finish them."""

    batches: list[Future[list[FileHash]]]
    where: list[tuple[int, int] | None]  # per recording: (batch, index in it); None: deleted

    def results(self) -> Iterator[FileHash | None]:
        done: dict[int, list[FileHash]] = {}
        for slot in self.where:
            if slot is None:
                yield None
                continue
            batch, index = slot
            if batch not in done:
                done.clear()  # batches are read in order: keep only the current one
                done[batch] = self.batches[batch].result()
            yield done[batch][index]


@dataclass(frozen=True)
class EarlyPending:
    """The hashes of the live recordings, taken from the store's early hashing
    (``custody.early``): a file changed, replaced or removed since it was hashed, or that could
    not be read then, is hashed again here, so the result is the file as it is now."""

    early: EarlyHashes
    paths: list[str | None]  # per recording: its stored file; None: deleted

    def results(self) -> Iterator[FileHash | None]:
        for path in self.paths:
            if path is None:
                yield None
                continue
            result = self.early.wait(path)
            if result is None or result.stamp is None or _changed(path, result.stamp):
                yield hash_file(path)
            else:
                yield FileHash(path, result.sha256, result.size)


def _changed(path: str, stamp: Stamp) -> bool:
    try:
        return stamp_of(os.stat(path)) != stamp
    except OSError:
        return True


def read_and_hash(session: Session, inputs: AuditInputs, pool: HashPool | None,
                  recording_ids: list[int] | None, early: EarlyHashes | None = None
                  ) -> tuple[list[Stored], Pending]:
    """The recordings to audit, by id; each live one's stored file goes to ``pool`` as its row is
    read (the workers hash the first files while the catalog is still being read), or, with
    ``early``, is taken from the hashing that began before the catalog was read."""
    query = select(*STORED_COLUMNS).where(scope.own(session, Recording.station_id)) \
        .order_by(Recording.id)  # Core below: the station's rows by hand
    if recording_ids is not None:
        query = query.where(Recording.id.in_(recording_ids))
    recordings: list[Stored] = []
    root = str(inputs.store_root)
    if early is not None:
        paths: list[str | None] = []
        for row in session.connection().execute(query):
            recording = Stored(*row)
            recordings.append(recording)
            paths.append(None if recording.deleted_at is not None
                         else os.path.join(root, recording.store_path))
        early.require(p for p in paths if p is not None)  # the ones the listing did not find
        return recordings, EarlyPending(early, paths)
    assert pool is not None
    pending = PendingHashes([], [])
    batch: list[str] = []
    batch_bytes = 0
    for row in session.connection().execute(query):  # Core: rows arrive as SQLite reads them
        recording = Stored(*row)
        recordings.append(recording)
        if recording.deleted_at is not None:
            pending.where.append(None)
            continue
        pending.where.append((len(pending.batches), len(batch)))
        batch.append(os.path.join(root, recording.store_path))
        batch_bytes += recording.size or 0
        if len(batch) >= BATCH_FILES or batch_bytes >= BATCH_BYTES:
            pending.batches.append(pool.submit_batch(batch))
            batch, batch_bytes = [], 0
    if batch:
        pending.batches.append(pool.submit_batch(batch))
    return recordings, pending


def check_fixity(session: Session, recordings: list[Stored], hashes: Pending,
                 report: AuditReport, object_store: Any = None) -> None:
    """Compare each stored file's hash (``hashes``, from ``read_and_hash``) with the catalog and
    with its content address.

    A recording deleted by retention has no stored file by design: it is not hashed, and a note
    says when and by which run it was deleted (the "retention" section checks its tombstone).
    """
    deleted = [r for r in recordings if r.deleted_at is not None]
    if deleted:
        from bodycam_ingest.catalog.retention_models import Tombstone

        runs: dict[int, int] = {}
        if len(deleted) <= 20:  # more are only counted (below)
            runs.update((rid, run) for rid, run in session.execute(
                select(Tombstone.recording_id, Tombstone.run_id).where(
                    Tombstone.recording_id.in_([r.id for r in deleted]))))
        if len(deleted) > 20:
            report.notes.append(f"fixity: {len(deleted)} recordings deleted by retention are not "
                                "hashed; the retention section checks their tombstones")
        for r in deleted if len(deleted) <= 20 else ():
            run = runs.get(r.id)
            assert r.deleted_at is not None
            report.notes.append(f"recording {r.id} ({r.camera_path}) was deleted by retention "
                                f"on {r.deleted_at:%Y-%m-%d %H:%M}Z"
                                + (f" (run {run}); its tombstone remains" if run is not None
                                   else "; it has no tombstone (see the retention section)"))
    missing: dict[int, tuple[str, FileHash]] = {}
    for recording, result in zip(recordings, hashes.results(), strict=True):
        if result is None:
            continue
        report.checked["fixity"] += 1
        name = f"recording {recording.id} ({recording.camera_path})"
        if result.error is not None:  # unreadable, lost, or evicted to the object store
            missing[recording.id] = (name, result)
            continue
        report.bytes_hashed += result.size or 0
        if result.sha256 != recording.sha256:
            report.add("fixity", name, f"the stored file {result.path} hashes to {result.sha256}, "
                       f"but the catalog says {recording.sha256}")
        elif result.size != recording.size:
            report.add("fixity", name, f"the stored file is {result.size} bytes, the catalog says "
                       f"{recording.size}")
        if Path(recording.store_path).name != recording.sha256:
            report.add("fixity", name, f"its catalog SHA-256 {recording.sha256} is not the content "
                       f"address it is stored under ({recording.store_path})")
    _check_evicted(session, missing, object_store, report)


def _check_evicted(session: Session, missing: dict[int, tuple[str, FileHash]],
                   object_store: Any, report: AuditReport) -> None:
    """Stored files that cannot be read: an evicted recording whose file is gone counts when the
    object store shows it as verified (``storage.cache.remote_fixity``); any other is a finding."""
    from bodycam_ingest.storage.cache import remote_fixity

    gone = {rid for rid, (_name, result) in missing.items() if not os.path.lexists(result.path)}
    remote = remote_fixity(session, object_store, gone) if gone else {}
    for rid, (name, result) in missing.items():
        if rid not in remote:
            report.add("fixity", name, f"{result.error}: {result.path}")
        elif remote[rid] is not None:
            report.add("fixity", name, str(remote[rid]))
    verified = sum(1 for problem in remote.values() if problem is None)
    if verified:
        report.notes.append(f"fixity: {verified} recording(s) evicted from this station are "
                            "remote, verified by the object store's HEAD (version, size and "
                            "ETag as verified on upload)")


def load_manifests(session: Session, inputs: AuditInputs, keyring: Mapping[str, Ed25519PublicKey],
                   report: AuditReport) -> list[Manifest]:
    """Check every recorded manifest's files, signature and chain; return the ones that parse."""
    rows = list(session.scalars(select(ManifestRow).order_by(ManifestRow.id)))
    parsed: list[Manifest] = []
    previous: str | None = None
    for row in rows:
        report.checked["manifests"] += 1
        name = f"manifest {row.file_name} (dock {row.dock_id})"
        base = inputs.manifest_dir / row.file_name
        if row.previous_digest != previous:
            report.add("manifests", name, "its catalog record does not chain to the manifest "
                       "before it: a manifest record was removed or reordered")
        previous = row.digest
        try:
            data = base.with_suffix(".json").read_bytes()
            signature = base.with_suffix(".sig").read_bytes()
            listing = base.with_suffix(".sha256").read_text()
        except OSError as exc:
            report.add("manifests", name, f"a file of it cannot be read ({exc.strerror}: "
                       f"{exc.filename}); it was deleted or moved")
            continue
        if sha256_hex(data) != row.digest:
            report.add("manifests", name, f"{base.name}.json is not the manifest that was signed "
                       "for this dock (its SHA-256 differs from the catalog's): it was replaced")
        if not any(keys.verify(key, data, signature) for key in keyring.values()):
            report.add("manifests", name, "its signature does not verify with any station key: "
                       "the manifest or its .sig was altered")
        try:
            manifest = parse_manifest(data, source=f"{base.name}.json")
        except BodycamError as exc:
            report.add("manifests", name, exc.message())
            continue
        if manifest.dock_id != str(row.dock_id):
            report.add("manifests", name, f"the file holds the manifest of dock {manifest.dock_id}, "
                       "not of this dock: it was swapped")
        if listing != sha256sum_listing(manifest):
            report.add("manifests", name, f"{base.name}.sha256 does not match the manifest")
        parsed.append(manifest)
    for problem in verify_manifest_chain(parsed):
        report.add("manifests", "manifest chain", problem.message)
    return parsed


def check_coverage(recordings: list[Stored], manifests: list[Manifest], report: AuditReport,
                   *, reverse: bool) -> None:
    """Every recording's catalog SHA-256 must be in a signed manifest; with ``reverse`` (whole
    station) every SHA-256 a manifest lists must be a catalogued recording."""
    signed = {entry.sha256: m for m in manifests for entry in m.entries}
    for recording in recordings:
        if recording.sha256 not in signed:
            report.add("manifests", f"recording {recording.id} ({recording.camera_path})",
                       f"its catalog SHA-256 {recording.sha256} is in no signed dock manifest: "
                       "the catalog was changed, or its dock was never signed")
    if reverse:
        known = {r.sha256 for r in recordings}
        for digest, manifest in signed.items():
            if digest not in known:
                report.add("manifests", f"manifest of dock {manifest.dock_id}",
                           f"lists SHA-256 {digest}, which no catalogued recording has")


def check_log(session: Session, keyring: Mapping[str, Ed25519PublicKey], report: AuditReport,
              manifest_dir: Path | None = None) -> list[LogEntry]:
    """The custody log's chain, checked against every anchor outside the catalog (the signed
    checkpoint files and the heads recorded by signed manifests in ``manifest_dir``): a rewritten
    or cut log, a deleted or altered checkpoint row or file, a broken file chain are findings.
    Without ``manifest_dir`` only the catalog's own checkpoint rows are checked. Returns the
    entries it read (``check_identity`` reads them too: once is enough)."""
    entries = eventlog.entries(session)
    report.checked["custody log"] = len(entries)
    rows = eventlog.checkpoints(session)
    if manifest_dir is None:
        problems = verify_log(entries, rows, keyring)
    else:
        problems = _anchor_problems(entries, rows, manifest_dir, keyring, report)
    for problem in problems:
        report.add("custody log", f"custody entry {problem.seq}", problem.message)
    check_head(session, entries, report)
    check_registry(session, keyring, report)
    return entries


def check_registry(session: Session, keyring: Mapping[str, Ed25519PublicKey],
                   report: AuditReport) -> None:
    """This station on the catalog (issue 12): registered, with a key of its own keyring; its
    published keys exactly its keyring's public keys (the bureau's audit checks its signatures
    with them); and no row anywhere under a station id that was never registered (a row given a
    made-up station id is out of every station's sight). Nothing for a bureau-wide session."""
    from bodycam_ingest.catalog.custody_models import StationKeyRow, StationRow

    station = scope.station_of(session)
    if station is None:
        return
    registered = {row.id: row for row in session.scalars(select(StationRow))}
    own = registered.get(station)
    if own is None:
        report.add("manifests", f"station {station}", "is not registered on the catalog: its "
                   "registration row was deleted (it is written at the station's start)")
    elif own.key_id not in keyring:
        report.add("manifests", f"station {station}", f"is registered with key {own.key_id}, "
                   "which is not in the station's keyring: the registration was altered")
    published: dict[str, str] = {}
    for row in session.scalars(select(StationKeyRow).order_by(StationKeyRow.id)):
        if row.station_id not in registered:
            report.add("manifests", f"station {row.station_id}", f"has a published key "
                       f"({row.key_id}) but is not registered: the row was put in by hand")
        elif row.station_id == station:
            published[row.key_id] = row.public_pem
    for ident, pem in sorted(published.items()):
        known = keyring.get(ident)
        if known is None:
            report.add("manifests", f"published key {ident}", "is published for this station "
                       "but is not in its keyring: the row was put in or altered by hand")
        elif pem.strip() != keys.public_pem(known).decode().strip():
            report.add("manifests", f"published key {ident}", "differs from the station's key "
                       "of that id: the published key was altered")
    for ident in sorted(set(keyring) - set(published)):
        report.add("manifests", f"station key {ident}", "is in the station's keyring but not "
                   "published to the catalog (keys are published at start): the row was deleted")
    for other, tables in sorted(scope.rows_by_station(session).items()):
        if other not in registered:
            report.add("custody log", f"station {other}", f"has rows in the catalog "
                       f"({', '.join(tables)}) but is not registered: they were written outside "
                       "bodycam, or their station id was altered")
    _dangling_fingerprints(session, report)


def _dangling_fingerprints(session: Session, report: AuditReport) -> None:
    """Content fingerprints are bureau-wide, each station's replay sees its own recordings'
    (by join): one naming no recording at all is seen by none, so it is checked here."""
    from sqlalchemy import exists

    from bodycam_ingest.catalog.analysis_models import ContentFingerprintRow

    prints, recordings = ContentFingerprintRow.__table__, Recording.__table__
    query = select(prints.c.id, prints.c.recording_id).where(~exists().where(
        recordings.c.id == prints.c.recording_id))
    for ident, rid in session.connection().execute(query):
        report.add("continuity", f"recording {rid}", f"has a content fingerprint (row {ident}) "
                   "but no such recording exists: the row was put in by hand")


def check_head(session: Session, entries: list[LogEntry], report: AuditReport) -> None:
    """The chain head (where the next entry chains on) is the log's last entry: a head moved
    past it means entries were cut from the end; any other difference, or a missing head row,
    would make the next entry chain on something the log does not hold. The session is the
    station's: its head is its own row (one per station, a unique key)."""
    heads = list(session.scalars(select(ChainHead).order_by(ChainHead.id)))
    last = entries[-1] if entries else None
    seq, digest = (last.seq, last.digest) if last is not None else (0, GENESIS)
    if not heads:
        if last is not None:
            report.add("custody log", f"the chain head of station {scope.station_of(session)}",
                       f"is missing, though the log holds "
                       f"{seq} entries: the row was deleted or given to another station; the "
                       "next entry would restart the chain")
        return
    for head in heads:
        if head.seq > seq:
            report.add("custody log", f"custody entry {seq + 1}",
                       f"the log ends at entry {seq}, but entry {head.seq} was written: entries "
                       "were removed from the end")
        elif (head.seq, head.digest) != (seq, digest):
            report.add("custody log", f"the chain head (row {head.id})", f"says entry "
                       f"{head.seq} with digest {head.digest}, but the log's last entry is {seq} "
                       f"with digest {digest}: the head was edited")


def _anchor_problems(entries: list[LogEntry], rows: list[Checkpoint], manifest_dir: Path,
                     keyring: Mapping[str, Ed25519PublicKey],
                     report: AuditReport) -> list[ChainProblem]:
    folder = anchors.directory_of(manifest_dir)
    try:
        files, unreadable = anchors.read_all(folder)
    except OSError as exc:
        report.add("custody log", "checkpoint files", f"{folder} cannot be read ({exc.strerror}): "
                   "the custody log cannot be checked against its anchors; restore the folder")
        files, unreadable = [], []
    for name, problem in unreadable:
        report.add("custody log", f"checkpoint file {name}", f"{problem}: restore it from a copy "
                   "of the station's checkpoints")
    if rows and not folder.exists():
        report.add("custody log", "checkpoint files",
                   f"{folder} does not exist, though the catalog holds {len(rows)} checkpoint(s): "
                   "the folder was deleted, or this station was upgraded and has not signed a "
                   "checkpoint since (any command that logs writes them; audit again)")
    # Signatures and the log's agreement come from the signed files; rows must match the files.
    problems = verify_log(entries, [cp for _, cp in files], keyring)
    problems += verify_anchors(rows, files)
    problems += verify_anchor_chain(files)
    problems += verify_heads(entries, anchors.recorded_heads(manifest_dir, keyring))
    anchored = max((cp.seq for _, cp in files), default=0)
    last = max((e.seq for e in entries), default=0)
    if last > anchored:
        report.notes.append(f"custody log: entries {anchored + 1} to {last} come after the last "
                            "signed checkpoint; they are anchored by the next one (signed after "
                            "every command that logs)")
    return problems


def check_identity(session: Session, report: AuditReport,
                   log: list[LogEntry] | None = None) -> None:
    """Who acted: every entry since accounts exist is by an account (enabled then) or the system,
    every approval by another account holding an approving role then, and the accounts table is
    what its custody entries recorded (access.audit_identity)."""
    from bodycam_ingest.access.accounts import account_rows
    from bodycam_ingest.access.audit_identity import LogEntry, identity_problems

    own = eventlog.entries(session) if log is None else log
    entries = [LogEntry(e.seq, str(e.fields.get("actor", "")), str(e.fields.get("action", "")),
                        e.fields.get("details"),  # type: ignore[arg-type]
                        e.fields.get("approved_by"))  # type: ignore[arg-type]
               for e in own]
    entries += _foreign_account_entries(session, [(str(e.fields.get("at", "")), e.seq)
                                                  for e in own])
    rows = account_rows(session)
    report.checked["identity"] = len(rows)
    for problem in identity_problems(entries, rows):
        if problem.seq is not None and problem.seq != int(problem.seq):
            continue  # another station's entry: its own audit judges it
        where = (f"custody entry {problem.seq}" if problem.seq is not None
                 else f"account {problem.login}")
        report.add("identity", where, problem.problem)


def _foreign_account_entries(session: Session, own: list[tuple[str, int]]) -> list[Any]:
    """Accounts are bureau-wide on a shared catalog (issue 12): their history is the
    ``account_*`` entries of every station's log. Those of other stations (each verified in its
    own station's chain) are placed among this station's entries by time, with a fractional
    ``seq`` between the station's own (so problems keep naming the station's real entries)."""
    import bisect

    from bodycam_ingest.access.audit_identity import LogEntry
    from bodycam_ingest.custody.manifest import format_timestamp

    station = scope.station_of(session)
    if station is None:
        return []
    query = (select(Event.at, Event.station_id, Event.seq, Event.actor, Event.action,
                    Event.details, Event.approved_by)
             .where(Event.station_id != station, Event.action.like("account\\_%", escape="\\"))
             .order_by(Event.at, Event.station_id, Event.seq))
    rows = list(session.connection().execute(query))  # Core: across stations, on purpose
    if not rows:
        return []
    own = sorted(own)
    times = [at for at, _seq in own]
    seqs = [seq for _at, seq in own]
    placed: list[Any] = []
    gaps: dict[int, list[Any]] = {}
    for row in rows:
        at = format_timestamp(row.at)
        index = bisect.bisect_right(times, at)
        gaps.setdefault(seqs[index - 1] if index else 0, []).append(row)
    for before, members in gaps.items():
        for rank, row in enumerate(members, start=1):
            seq = before + rank / (len(members) + 1)
            placed.append(LogEntry(seq, row.actor, row.action, row.details,  # type: ignore[arg-type]
                                   row.approved_by))
    return placed


def check_labels(session: Session, report: AuditReport) -> None:
    vouched: dict[int, tuple[int, str]] = {}
    for event in session.scalars(select(Event).where(Event.action == "label_set")):
        details = eventlog.details_of(event)
        label_id, label_sha = details.get("label_id"), details.get("label_sha256")
        if isinstance(label_id, int) and isinstance(label_sha, str):
            vouched[label_id] = (event.seq, label_sha)
    seen: set[int] = set()
    for row in session.scalars(select(LabelRow).order_by(LabelRow.id)):
        report.checked["labels"] += 1
        seen.add(row.id)
        name = f"label {row.id} of recording {row.recording_id}"
        entry = vouched.get(row.id)
        if entry is None:
            report.add("labels", name, "no custody entry records it: it was added outside bodycam")
        elif labels.digest(row) != entry[1]:
            report.add("labels", name, f"its content differs from what custody entry {entry[0]} "
                       "recorded: it was changed outside bodycam")
    for label_id, (seq, _) in vouched.items():
        if label_id not in seen:
            report.add("labels", f"label {label_id}", f"recorded by custody entry {seq} but missing "
                       "from the catalog: it was deleted")


def check_continuity(session: Session, report: AuditReport) -> None:
    try:
        service = importlib.import_module("bodycam_ingest.analysis.service")
    except ImportError:
        service = None
    finder = getattr(service, "unexplained_findings", None)
    if finder is None:
        report.notes.append("continuity: skipped (the analysis part does not expose "
                            "unexplained_findings yet)")
        return
    for item in finder(session):
        report.checked["continuity"] += 1
        recording = getattr(item, "recording_id", None)
        kind = getattr(item, "kind", "finding")
        report.add("continuity", f"recording {recording}" if recording else "continuity",
                   f"unexplained {kind}: {getattr(item, 'message', item)}; explain it or "
                   "investigate")


def audit(session: Session, inputs: AuditInputs, *, recording_ids: list[int] | None = None,
          whole_station: bool = True) -> AuditReport:
    """Fixity and manifest coverage of the given recordings (all when None); with
    ``whole_station`` also the manifest chain, the custody log, labels and continuity.

    The hash workers start first: for every recording (``recording_ids`` None) they hash the
    store's files as listed, before the catalog is read (``custody.early``, perhaps started by
    the CLI before it loaded the station); for some, each file as its catalog row is read. The
    signature, chain, log and label checks run on this thread while they hash. The report is
    assembled in the order the checks are listed (keyring, fixity, then the rest), whatever
    finished first.
    """
    first = AuditReport()  # the keyring's problems come first, then fixity, then the rest
    fixity = AuditReport()
    rest = AuditReport()
    with ExitStack() as stack:
        early: EarlyHashes | None = None
        pool: HashPool | None = None
        if recording_ids is None:
            early = stack.enter_context(take_early(inputs.store_root, inputs.workers))
            early.attach(inputs.on_bytes)
        else:
            pool = stack.enter_context(HashPool(inputs.workers, inputs.on_bytes))
        recordings, hashes = read_and_hash(session, inputs, pool, recording_ids, early)
        try:
            keyring = keys.load_keyring(inputs.key_dir)
        except BodycamError as exc:
            first.add("manifests", "station keyring", exc.message())
            keyring = {}
        if not keyring:
            first.add("manifests", "station keyring", f"no public key in {inputs.key_dir}/keyring: "
                      "nothing signed can be verified; restore the key directory")
        manifests = load_manifests(session, inputs, keyring, rest)
        check_coverage(recordings, manifests, rest, reverse=whole_station)
        if whole_station:
            log = check_log(session, keyring, rest, inputs.manifest_dir)
            check_identity(session, rest, log)
            check_labels(session, rest)
            check_continuity(session, rest)
            for _section, module in RETENTION_CHECKS:
                importlib.import_module(module).check(session, inputs, keyring, rest)
            replay_catalog.check(session, manifests, rest)  # tables vs log and manifests
        check_fixity(session, recordings, hashes, fixity, inputs.object_store)
    report = AuditReport(findings=[*first.findings, *fixity.findings, *rest.findings],
                         notes=[*fixity.notes, *rest.notes], bytes_hashed=fixity.bytes_hashed)
    for part in (first, fixity, rest):
        for section, count in part.checked.items():
            report.checked[section] += count
    return report
