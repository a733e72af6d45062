"""Signed dock manifests on the station: build one from the catalog, write it, record it.

Files, in the manifest directory, for dock D of station S::

    S-D.json     canonical manifest bytes (RFC 8785), what is hashed and signed
    S-D.sig      detached raw Ed25519 signature (64 bytes):
                 openssl pkeyutl -verify -pubin -inkey station.pub -rawin -in S-D.json -sigfile S-D.sig
    S-D.sha256   ``sha256sum -c`` listing of the dock's files, by manifest camera path

Files that recovery commits to a dock after its manifest was signed (a commit that failed after
the copy was verified, finished by the next run) are signed in a SUPPLEMENTARY manifest of the same
dock, ``S-D-sN`` (N = 1, 2, ...): chained like any manifest, listing only those files, and naming the
digest of the dock's manifest before it (``supplements_manifest_sha256``). What a dock's manifests
already cover is read from the signed files, not from the catalog's counts.


The manifest records the custody log's head at its signing (``custody_log_head``, an anchor the
audit checks the log against). Each is written atomically (temp + fsync + rename + dir fsync)
before the transaction that records the manifest and its ``manifest_signed`` event commits; the
chain position is taken with the custody-log head locked, so two docks finishing together never
both chain to the same manifest.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from bodycam_ingest.catalog.custody_models import ManifestRow
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.models import Device, Dock, Event, Recording, Sighting
from bodycam_ingest.custody import keys
from bodycam_ingest.custody.eventlog import lock_head
from bodycam_ingest.custody.files import write_atomic
from bodycam_ingest.custody.manifest import (
    LogHead,
    Manifest,
    ManifestEntry,
    canonical_bytes,
    parse_manifest,
    safe_camera_path,
    sha256_hex,
    sha256sum_listing,
)
from bodycam_ingest.errors import ManifestInvalid

SUFFIXES = (".json", ".sig", ".sha256")


def file_stem(station_id: str, dock_id: int) -> str:
    return f"{station_id}-{dock_id}"


def docks_needing_manifest(session: Session, current_dock: int | None) -> list[int]:
    """Docks that stored files but have no manifest: finished ones, and the one finishing now."""
    copied = exists().where(Sighting.dock_id == Dock.id, Sighting.copied.is_(True))
    signed = exists().where(ManifestRow.dock_id == Dock.id)
    query = select(Dock.id).where(copied, ~signed).order_by(Dock.id)
    return [dock_id for dock_id in session.scalars(query)
            if dock_id == current_dock or _finished(session, dock_id)]


def docks_needing_supplement(session: Session) -> list[int]:
    """Signed docks with more copied files than their manifests list: recovery committed files
    to them after they were signed (a cheap count; ``sign_dock`` reads the signed files)."""
    copied = (select(func.count()).select_from(Sighting)
              .where(Sighting.dock_id == Dock.id, Sighting.copied.is_(True)).scalar_subquery())
    listed = (select(func.coalesce(func.sum(ManifestRow.entries), 0))
              .where(ManifestRow.dock_id == Dock.id).scalar_subquery())
    signed = exists().where(ManifestRow.dock_id == Dock.id)
    return list(session.scalars(select(Dock.id).where(signed, copied > listed).order_by(Dock.id)))


def signed_entries(directory: Path, rows: list[ManifestRow]) -> set[tuple[str, str]]:
    """(manifest camera path, SHA-256) of every entry of these signed manifest files; a file
    that is not the one recorded as signed is refused (the audit says more)."""
    covered: set[tuple[str, str]] = set()
    for row in rows:
        source = f"{row.file_name}.json"
        try:
            data = (directory / source).read_bytes()
        except OSError as exc:
            raise ManifestInvalid(source=source, problem=f"it cannot be read ({exc.strerror}); "
                                  "run `bodycam audit`") from None
        if sha256_hex(data) != row.digest:
            raise ManifestInvalid(source=source, problem="it is not the manifest that was "
                                  "signed (its SHA-256 differs); run `bodycam audit`")
        covered.update((e.camera_path, e.sha256) for e in parse_manifest(data, source=source).entries)
    return covered


def _finished(session: Session, dock_id: int) -> bool:
    return session.scalar(select(Dock.outcome).where(Dock.id == dock_id)) is not None


def log_head(session: Session) -> LogHead | None:
    """The custody log's last entry as the caller's transaction sees it (None: an empty log)."""
    row = session.execute(select(Event.seq, Event.digest).order_by(Event.seq.desc())
                          .limit(1)).first()
    return None if row is None else LogHead(row.seq, row.digest)


def build(session: Session, station_id: str, dock_id: int, previous_digest: str | None,
          now: datetime, head: LogHead | None = None, *,
          covered: frozenset[tuple[str, str]] = frozenset(),
          supplements: str | None = None) -> Manifest:
    """The dock's manifest; with ``supplements`` a supplementary one listing only the files not
    in ``covered`` (what the dock's earlier manifests list)."""
    dock = session.get_one(Dock, dock_id)
    device = session.get(Device, dock.device_id) if dock.device_id is not None else None
    device_key = device.key if device is not None else f"dock-{dock_id}"
    rows = session.execute(select(Sighting, Recording).join(
        Recording, Recording.id == Sighting.recording_id).where(
        Sighting.dock_id == dock_id, Sighting.copied.is_(True)).order_by(Sighting.id)).all()
    entries = tuple(
        ManifestEntry(camera_path=safe_camera_path(sighting.camera_path), size=sighting.size,
                      sha256=recording.sha256, device=device_key,
                      officer=recording.name_officer or None, recording_start=recording.start_utc,
                      ingested_at=sighting.seen_at)
        for sighting, recording in rows)
    entries = tuple(e for e in entries if (e.camera_path, e.sha256) not in covered)
    return Manifest(station_id=station_id, dock_id=str(dock_id), device=device_key,
                    started=dock.started_at, finished=dock.finished_at or now, entries=entries,
                    previous_digest=previous_digest, custody_head=head,
                    supplements=supplements)


def sign_dock(session: Session, *, directory: Path, station_id: str, dock_id: int,
              private_key: Ed25519PrivateKey, now: datetime, actor: str) -> ManifestRow | None:
    """Sign dock ``dock_id``'s manifest in the caller's write transaction, or a supplementary
    one for its files that its signed manifests do not list (None: nothing left to sign)."""
    lock_head(session)
    earlier = list(session.scalars(select(ManifestRow).where(ManifestRow.dock_id == dock_id)
                                   .order_by(ManifestRow.id)))
    last = session.scalar(select(ManifestRow).order_by(ManifestRow.id.desc()).limit(1))
    previous = last.digest if last is not None else None
    if earlier:
        covered = frozenset(signed_entries(directory, earlier))
        manifest = build(session, station_id, dock_id, previous, now, log_head(session), covered=covered,
                         supplements=earlier[-1].digest)
        if not manifest.entries:
            return None
        stem = f"{file_stem(station_id, dock_id)}-s{len(earlier)}"
    else:
        manifest = build(session, station_id, dock_id, previous, now, log_head(session))
        stem = file_stem(station_id, dock_id)
    data = canonical_bytes(manifest)
    digest = sha256_hex(data)
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    write_atomic(directory / f"{stem}.json", data, sync_dir=False)
    write_atomic(directory / f"{stem}.sig", keys.sign(private_key, data), sync_dir=False)
    write_atomic(directory / f"{stem}.sha256", sha256sum_listing(manifest).encode())
    ident = keys.key_id(private_key.public_key())
    row = ManifestRow(dock_id=dock_id, file_name=stem, digest=digest, previous_digest=previous,
                      key_id=ident, signed_at=now, entries=len(manifest.entries))
    session.add(row)
    details: dict[str, object] = {"sha256": digest, "previous": previous,
                                  "entries": len(manifest.entries), "key_id": ident}
    if manifest.supplements is not None:
        details["supplements"] = manifest.supplements
    record_event(session, at=now, actor=actor, action="manifest_signed", dock_id=dock_id,
                 subject=f"{stem}.json", details=details)
    return row
