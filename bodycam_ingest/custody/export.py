"""Approved disclosure (R6): a BagIt bag (RFC 8493) anyone can verify with sha256sum and openssl.

Layout::

    bagit.txt  bag-info.txt  manifest-sha256.txt  tagmanifest-sha256.txt  README.txt
    data/recordings/<id>/<camera path>     the original files, bit for bit (the camera path
                                           spelled by ``package_name``: no %, controls, :*?"<>|)
    data/recordings.json                   catalog facts and label history of each recording
    data/manifests/<station>-<dock>.{json,sig,sha256}   their signed dock manifests
    data/keys/station.pub, data/keys/keyring/<key id>.pub
    data/custody-log.jsonl                 the custody-log entries of these recordings

Lock discipline (issue 9, D5): the originals are read in a short read transaction (``plan``),
copied and hashed with no transaction open (``copy_payload``, before the approval's transaction),
and the approval's short write transaction (``finish``) re-checks them, logs the export (who
requested, approved, why, to whom) and writes the package's small files; its commit precedes the
rename onto ``DEST`` (``publish``). The
package is built in a folder of this run (``destinations.make_workdir``: a unique name and a
marker); nothing else is ever deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.custody_models import ManifestRow
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.models import Event, Recording, Sighting, row_dict
from bodycam_ingest.custody import destinations, keys, labels
from bodycam_ingest.custody.fixity import hash_file
from bodycam_ingest.custody.manifest import format_timestamp
from bodycam_ingest.errors import RecordingDeleted, Refused, StorageError
from bodycam_ingest.ingest import copier

README = """\
Evidence package {export_id} from body-camera station {station}
Exported {at} to {recipient} ({recipient_kind}); requested by {requested_by}, approved by
{approved_by}; reason: {reason}

This folder is a BagIt bag (RFC 8493). Nothing in it needs the station's software to check.

1. The files are complete and unchanged (run in this folder):
       sha256sum -c manifest-sha256.txt
   or, with the Library of Congress tool:   bagit.py --validate .

2. The station signed what it received from each camera. For each dock manifest:
       openssl pkeyutl -verify -pubin -inkey data/keys/station.pub -rawin \\
           -in data/manifests/NAME.json -sigfile data/manifests/NAME.sig
   prints "Signature Verified Successfully". If the station key was rotated, use the key in
   data/keys/keyring/ whose id is named in the custody log (key_id) instead of station.pub.

3. Each exported file is one the station signed: its SHA-256 (first column of
   manifest-sha256.txt) appears in a signed manifest:
       grep -l SHA256 data/manifests/*.json
   and data/manifests/NAME.sha256 lists the dock's files by their name on the camera.

4. data/custody-log.jsonl is every custody-log entry about these recordings (ingest, labels,
   views, this export). Each entry's "digest" is SHA-256 over the RFC 8785 canonical JSON of
   {{"format": "bodycam-custody-entry/1", "seq": seq, "prev": prev_digest, "fields": fields}}.
"""

TAG_FILES = ("bagit.txt", "bag-info.txt", "manifest-sha256.txt", "README.txt")
TAG_MANIFEST = "tagmanifest-sha256.txt"


@dataclass(frozen=True)
class ExportRequest:
    recording_ids: list[int]
    dest: Path
    recipient: str  # kind: court, procuratorate, lawyer, party, supervision, audit, ...
    recipient_name: str | None
    requested_by: str | None  # the account that made the four-eyes request
    approved_by: str | None  # the account that approved it (access.requests)
    reason: str | None
    request_id: int | None = None


def check_request(request: ExportRequest) -> None:
    """R6: no disclosure without a requester, an approver, a reason and a recipient."""
    missing = [what for what, value in (("an approved request", request.approved_by),
                                        ("a requester", request.requested_by),
                                        ("--reason", request.reason),
                                        ("--recipient", request.recipient)) if not value]
    if missing:
        raise Refused(reason=f"an export needs {', '.join(missing)}: disclosure must be approved, "
                      "and who asked, who approved, why and for whom are recorded")
    if request.dest.exists() and any(request.dest.iterdir()):
        raise Refused(reason=f"{request.dest} is not empty; export to a new folder")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _copy_small(source: Path, target: Path) -> None:
    """A tag-sized file (a dock manifest, a key) copied as is."""
    _write(target, source.read_bytes())


def _copy_verified(source: Path, target: Path, sha256: str,
                   progress: Callable[[int], None] | None = None) -> None:
    """Copy a stored original with the ingest's engine (hashing the very bytes written, then
    fsync); refuse a stored copy that no longer has the catalogued digest."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        src = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise StorageError(path=str(source), reason=f"the stored copy cannot be opened "
                           f"({exc.strerror}); run `bodycam audit` before exporting") from None
    try:
        dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                      0o640)
        try:
            copied = copier.copy_and_hash(src, dst, progress=progress, src_name=str(source),
                                          dst_name=str(target))
        finally:
            os.close(dst)
    finally:
        os.close(src)
    if copied.sha256 != sha256:
        raise StorageError(path=str(source), reason=f"the stored file hashes to {copied.sha256}, "
                           f"not {sha256}; run `bodycam audit` before exporting")


def _sha256(path: Path) -> str:
    result = hash_file(path)
    assert result.sha256 is not None, result.error
    return result.sha256


@dataclass(frozen=True)
class Source:
    """One original to put in the package: plain data read in a short read transaction."""

    recording_id: int
    store_path: str
    sha256: str
    size: int
    file: Path  # inside the package


def plan(session: Session, request: ExportRequest) -> list[Source]:
    """The originals of the request (refusing a deleted recording): read only, no lock held."""
    check_request(request)
    recordings = list(session.scalars(select(Recording).where(
        Recording.id.in_(request.recording_ids)).order_by(Recording.id)))
    _refuse_deleted(session, recordings)
    return [Source(r.id, r.store_path, r.sha256, r.size, recording_file(r)) for r in recordings]


def copy_payload(sources: list[Source], work: Path, store_root: Path,
                 progress: Callable[[int], None] | None = None) -> dict[Path, str]:
    """Copy the originals into ``work`` outside any transaction (D5: a long export must not
    hold the catalog's write lock); returns their verified digests for the bag manifest."""
    for source in sources:
        _copy_verified(store_root / source.store_path, work / source.file, source.sha256,
                       progress)
    return {source.file: source.sha256 for source in sources}


def finish(session: Session, request: ExportRequest, sources: list[Source], work: Path, *,
           station_id: str, manifest_dir: Path, key_dir: Path, actor: str, at: datetime) -> None:
    """The short write transaction after the copy: check the recordings are still there and
    unchanged, log the export, and write the package's small files (facts, signed manifests,
    keys, custody log including this export, README, tag files)."""
    export_id = f"{station_id}-export-{at:%Y%m%dT%H%M%SZ}"
    recordings = list(session.scalars(select(Recording).where(
        Recording.id.in_([s.recording_id for s in sources])).order_by(Recording.id)))
    _refuse_deleted(session, recordings)
    now = {r.id: (r.store_path, r.sha256) for r in recordings}
    for source in sources:
        if now.get(source.recording_id) != (source.store_path, source.sha256):
            raise Refused(reason=f"recording {source.recording_id} changed in the catalog while "
                          "it was being exported; nothing was disclosed. Run `bodycam audit`")
    facts = [recording_facts(session, r, recording_file(r)) for r in recordings]
    ids = [r.id for r in recordings]
    write_signing_context(session, work, ids, manifest_dir=manifest_dir, key_dir=key_dir)
    for recording in recordings:
        record_event(session, at=at, actor=actor, action="recording_exported",
                     recording_id=recording.id, subject=str(request.dest),
                     reason=request.reason, approved_by=request.approved_by,
                     details={"export_id": export_id, "requested_by": request.requested_by,
                              "request_id": request.request_id,
                              "recipient": request.recipient,
                              "recipient_name": request.recipient_name})
    session.flush()
    write_custody_log(session, work, ids)
    write_facts(work, facts)
    _write(work / "README.txt", README.format(
        export_id=export_id, station=station_id, at=format_timestamp(at),
        recipient=request.recipient_name or "-", recipient_kind=request.recipient,
        requested_by=request.requested_by, approved_by=request.approved_by,
        reason=request.reason).encode())
    write_bag(work, external_id=export_id, station_id=station_id, at=at,
              description=f"requested by {request.requested_by}; approved by "
              f"{request.approved_by}; reason: {request.reason}; recipient: {request.recipient}"
              + (f" {request.recipient_name}" if request.recipient_name else ""),
              known={s.file: s.sha256 for s in sources})


# --- package parts, shared with the long-term archive (retention.archive) ----------------------
def recording_file(recording: Recording) -> Path:
    """Where a recording's original goes in a package, relative to the package folder."""
    return Path("data") / "recordings" / str(recording.id) / package_name(recording.camera_path)


_UNSAFE = frozenset('%\\:*?"<>|')


def _safe_char(c: str) -> str:
    return "_" if c in _UNSAFE or unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c


def package_name(camera_path: str) -> str:
    """A camera path as a relative file name inside a package (D7) that every checker reads the
    same way: no ``%`` (RFC 8493 manifests percent-decode it, ``sha256sum -c`` does not), no CR,
    LF or backslash (``sha256sum`` escapes them, bagit.py does not), no control characters, no
    leading or trailing blank (bagit.py strips them), no empty, ``.`` or ``..`` component, and
    none of the characters FAT and Windows refuse (``:*?"<>|``), so a recipient can copy it to
    any stick. Each such character becomes ``_``. One recording per folder, so two names
    spelled alike cannot collide; the camera's own name is in ``data/recordings.json``."""
    parts = []
    for part in camera_path.split("/"):
        if not part:
            continue
        safe = "".join(_safe_char(c) for c in part)
        lead, trail = len(safe) - len(safe.lstrip()), len(safe) - len(safe.rstrip())
        if lead == len(safe):
            safe = "_" * len(safe)
        else:  # bagit.py strips a manifest line: a blank at either end would be lost
            safe = "_" * lead + safe[lead:len(safe) - trail] + "_" * trail
        if set(safe) == {"."}:
            safe = "_" * len(safe)
        if safe.endswith("."):  # Windows drops a trailing dot
            safe = safe[:-1] + "_"
        parts.append(safe)
    return "/".join(parts) or "_"


def recording_facts(session: Session, recording: Recording, file: Path) -> dict[str, Any]:
    """The catalog facts and label history of a recording, for ``data/recordings.json``."""
    return {**{k: v for k, v in row_dict(recording).items() if k != "probe_json"},
            "file": str(file),
            "labels": [{**row_dict(row), "officers": labels.officers_of(row)}
                       for row in labels.history(session, recording.id)]}


def write_signing_context(session: Session, work: Path, recording_ids: list[int], *,
                          manifest_dir: Path, key_dir: Path) -> None:
    """The signed dock manifests of these recordings and every station public key."""
    data = work / "data"
    docks = set(session.scalars(select(Sighting.dock_id).where(
        Sighting.recording_id.in_(recording_ids), Sighting.copied.is_(True))))
    for row in session.scalars(select(ManifestRow).where(ManifestRow.dock_id.in_(docks))):
        for suffix in (".json", ".sig", ".sha256"):
            name = row.file_name + suffix
            _copy_small(manifest_dir / name, data / "manifests" / name)
    _write(data / "keys" / keys.PUBLIC_NAME, (key_dir / keys.PUBLIC_NAME).read_bytes())
    for ident, public in keys.load_keyring(key_dir).items():
        _write(data / "keys" / keys.KEYRING_NAME / f"{ident}.pub", keys.public_pem(public))


def write_custody_log(session: Session, work: Path, recording_ids: list[int]) -> None:
    """``data/custody-log.jsonl``: every custody-log entry about these recordings so far."""
    log_rows = session.scalars(select(Event).where(Event.recording_id.in_(recording_ids))
                               .order_by(Event.seq))
    _write(work / "data" / "custody-log.jsonl", "".join(
        json.dumps({**row_dict(e), "at": format_timestamp(e.at)}, ensure_ascii=False,
                   sort_keys=True) + "\n" for e in log_rows).encode())


def write_facts(work: Path, facts: list[dict[str, Any]]) -> None:
    _write(work / "data" / "recordings.json", json.dumps(
        facts, ensure_ascii=False, indent=2, default=str, sort_keys=True).encode())


def _refuse_deleted(session: Session, recordings: list[Recording]) -> None:
    """A recording deleted by retention has no content left to disclose: say so, by name."""
    for recording in recordings:
        if recording.deleted_at is None:
            continue
        from bodycam_ingest.catalog.retention_models import Tombstone

        stone = session.scalar(select(Tombstone).where(Tombstone.recording_id == recording.id))
        raise RecordingDeleted(ident=recording.id, run=stone.run_id if stone else "?",
                               when=f"{recording.deleted_at:%Y-%m-%d %H:%M}Z",
                               rule=stone.rule if stone else "no tombstone: run bodycam audit")


def write_bag(work: Path, *, external_id: str, station_id: str, at: datetime,
              description: str, known: Mapping[Path, str] | None = None) -> None:
    """The BagIt tag files of the folder ``work`` (its payload in ``work/data``, README.txt
    written). ``known``: SHA-256 of payload files (relative to ``work``) already hashed while
    they were copied, so that a large payload is not read once more here."""
    payload = sorted(p for p in (work / "data").rglob("*") if p.is_file())
    lines, octets = [], 0
    for path in payload:
        octets += path.stat().st_size
        relative = path.relative_to(work)
        digest = (known or {}).get(relative) or _sha256(path)
        lines.append(f"{digest}  {_bag_path(relative)}\n")
    _write(work / "manifest-sha256.txt", "".join(lines).encode())
    _write(work / "bagit.txt", b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    info = {"Source-Organization": station_id, "Bagging-Date": f"{at:%Y-%m-%d}",
            "External-Identifier": external_id, "Payload-Oxum": f"{octets}.{len(payload)}",
            "Internal-Sender-Description": description}
    _write(work / "bag-info.txt", "".join(f"{k}: {' '.join(v.split())}\n"
                                          for k, v in info.items()).encode())
    tags = [work / n for n in TAG_FILES]
    _write(work / TAG_MANIFEST, "".join(
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n" for p in tags).encode())


def _bag_path(path: Path) -> str:
    """RFC 8493 section 2.1.3: percent-encode CR, LF and % in manifest paths."""
    return str(path).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def publish(work: Path, token: str, dest: Path) -> None:
    """Move the finished bag (this run's temporary folder) onto its name, after the export was
    logged; the folder's marker is removed first so that the package is exactly the bag."""
    if not destinations.is_ours(work, token):
        raise StorageError(path=str(work), reason="the package being built is no longer the "
                           "folder this export created; nothing was published. Export again")
    if dest.exists() and (dest.is_symlink() or not dest.is_dir() or any(dest.iterdir())):
        raise StorageError(path=str(dest), reason="it appeared while the package was built; "
                           "move it away and export again")
    destinations.unmark(work)
    try:
        if dest.exists():
            dest.rmdir()  # empty, checked above
        os.replace(work, dest)
    except OSError as exc:
        destinations.mark(work, token)  # still ours: remove it, and only it
        destinations.discard(work, token)
        raise StorageError(path=str(dest), reason=f"the finished package could not be moved "
                           f"onto its name ({exc.strerror}); export again") from None


def discard(work: Path, token: str) -> None:
    """Remove this run's temporary folder (only if it still carries this run's marker)."""
    destinations.discard(work, token)
