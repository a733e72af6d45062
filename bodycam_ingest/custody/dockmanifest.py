"""Signed dock manifests on the station: build one from the catalog, write it, record it.

Files, in the manifest directory, for dock D of station S::

    S-D.json     canonical manifest bytes (RFC 8785), what is hashed and signed
    S-D.sig      detached raw Ed25519 signature (64 bytes):
                 openssl pkeyutl -verify -pubin -inkey station.pub -rawin -in S-D.json -sigfile S-D.sig
    S-D.sha256   ``sha256sum -c`` listing of the dock's files, by manifest camera path

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
from sqlalchemy import exists, select
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
    safe_camera_path,
    sha256_hex,
    sha256sum_listing,
)

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


def _finished(session: Session, dock_id: int) -> bool:
    return session.scalar(select(Dock.outcome).where(Dock.id == dock_id)) is not None


def log_head(session: Session) -> LogHead | None:
    """The custody log's last entry as the caller's transaction sees it (None: an empty log)."""
    row = session.execute(select(Event.seq, Event.digest).order_by(Event.seq.desc())
                          .limit(1)).first()
    return None if row is None else LogHead(row.seq, row.digest)


def build(session: Session, station_id: str, dock_id: int, previous_digest: str | None,
          now: datetime, head: LogHead | None = None) -> Manifest:
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
    return Manifest(station_id=station_id, dock_id=str(dock_id), device=device_key,
                    started=dock.started_at, finished=dock.finished_at or now, entries=entries,
                    previous_digest=previous_digest, custody_head=head)


def sign_dock(session: Session, *, directory: Path, station_id: str, dock_id: int,
              private_key: Ed25519PrivateKey, now: datetime, actor: str) -> ManifestRow | None:
    """Sign dock ``dock_id``'s manifest in the caller's write transaction (None: already done)."""
    lock_head(session)
    if session.scalar(select(ManifestRow.id).where(ManifestRow.dock_id == dock_id)) is not None:
        return None
    last = session.scalar(select(ManifestRow).order_by(ManifestRow.id.desc()).limit(1))
    previous = last.digest if last is not None else None
    manifest = build(session, station_id, dock_id, previous, now, log_head(session))
    data = canonical_bytes(manifest)
    digest = sha256_hex(data)
    stem = file_stem(station_id, dock_id)
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    write_atomic(directory / f"{stem}.json", data, sync_dir=False)
    write_atomic(directory / f"{stem}.sig", keys.sign(private_key, data), sync_dir=False)
    write_atomic(directory / f"{stem}.sha256", sha256sum_listing(manifest).encode())
    ident = keys.key_id(private_key.public_key())
    row = ManifestRow(dock_id=dock_id, file_name=stem, digest=digest, previous_digest=previous,
                      key_id=ident, signed_at=now, entries=len(manifest.entries))
    session.add(row)
    record_event(session, at=now, actor=actor, action="manifest_signed", dock_id=dock_id,
                 subject=f"{stem}.json", details={"sha256": digest, "previous": previous,
                                                  "entries": len(manifest.entries),
                                                  "key_id": ident})
    return row
