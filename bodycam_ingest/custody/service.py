"""The custody part's services on the station (catalog + files), called by the ingest pipeline,
the daemon and the CLI. The pure cores (manifest, chain, keys, deadlines) do the thinking; this is
the edge that reads the key, the catalog and the clock and hands them plain data.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from bodycam_ingest.catalog.custody_models import CheckpointRow
from bodycam_ingest.config import Config
from bodycam_ingest.custody import anchors, dockmanifest, keys
from bodycam_ingest.custody.chain import Checkpoint
from bodycam_ingest.custody.eventlog import sign_checkpoint
from bodycam_ingest.errors import BodycamError, StationKeyMissing, StorageError
from bodycam_ingest.ingest.journal import catalog_full

if TYPE_CHECKING:
    from bodycam_ingest.station import Station

log = logging.getLogger("bodycam.custody")


def key_dir(config: Config) -> Path:
    return config.custody.key_path(config.storage.state_dir)


def manifest_dir(config: Config) -> Path:
    return config.custody.manifest_path(config.storage.state_dir)


def load_station_key(config: Config) -> Ed25519PrivateKey:
    """The station's private key, or one sentence saying why it cannot be used and the fix."""
    path = key_dir(config) / keys.PRIVATE_NAME
    if not path.exists() and not path.is_symlink():
        raise StationKeyMissing(path=str(path))
    return keys.load_private(path)


def after_dock(station: Station, dock_id: int) -> None:
    """Runs once every file of a dock is stored and probed, before any camera wipe.

    Signs this dock's manifest (and any finished dock's that lacks one), then a checkpoint.
    Raising stops the dock short of wiping: it is then marked incomplete with the error.
    """
    key = load_station_key(station.config)
    sign_pending_manifests(station, key=key, current_dock=dock_id)
    checkpoint(station, key=key)


def sign_pending_manifests(station: Station, *, key: Ed25519PrivateKey | None = None,
                           current_dock: int | None = None, required: bool = True) -> list[int]:
    """Sign the manifest of every dock that stored files and has none (docks closed by recovery,
    docks cut short by an unplug), and a supplementary manifest for every signed dock that recovery
    committed files to afterwards; returns their dock ids. Idempotent.

    With ``required=False`` a missing or unusable key, or a catalog whose disk is full, is logged
    instead of raised (ingest start, after a command: the dock's own hook will refuse with the
    reason, and the next run signs what is left).
    """
    if key is None:
        try:
            key = load_station_key(station.config)
        except BodycamError as exc:
            if required:
                raise
            log.warning("dock manifests not signed: %s", exc.message())
            return []
    with station.catalog.reading() as session:
        pending = sorted({*dockmanifest.docks_needing_manifest(session, current_dock),
                          *dockmanifest.docks_needing_supplement(session)})
    signed: list[int] = []
    for dock_id in pending:
        try:
            with station.catalog.session() as session:
                row = dockmanifest.sign_dock(session, directory=manifest_dir(station.config),
                                             station_id=station.config.station.id,
                                             dock_id=dock_id, private_key=key,
                                             now=station.clock(), actor=station.actor)
        except BodycamError as exc:
            # an earlier manifest of this dock is unreadable or not the signed one: the audit
            # names it; it must not stop other docks from being signed
            if dock_id == current_dock:
                raise
            log.warning("dock %d: no supplementary manifest signed: %s", dock_id, exc.message())
            continue
        except Exception as exc:
            if required or not catalog_full(exc):
                raise
            log.warning("dock manifests not signed: the catalog's disk is full")
            return signed
        if row is not None:
            signed.append(dock_id)
            log.info("signed the manifest of dock %d (%d file(s))", dock_id, row.entries)
    return signed


def checkpoint(station: Station, *, key: Ed25519PrivateKey | None = None,
               required: bool = True) -> Checkpoint | None:
    """Sign the custody log's head if it moved since the last checkpoint (after every command that
    appended, periodically in the daemon, and at its shutdown), as a catalog row and a signed
    file in ``<manifest dir>/checkpoints/`` (``custody.anchors``)."""
    if key is None:
        try:
            key = load_station_key(station.config)
        except BodycamError as exc:
            if required:
                raise
            log.warning("custody-log checkpoint not signed: %s", exc.message())
            return None
    directory = anchors.directory_of(manifest_dir(station.config))
    try:
        with station.catalog.session() as session:
            return sign_checkpoint(session, key, station.clock(), directory)
    except OSError as exc:  # the checkpoint file: its row is rolled back with it
        error = StorageError(path=str(directory), reason=f"cannot write a checkpoint file "
                             f"({exc.strerror}); free space there or make it writable, then run "
                             "any command that logs")
        if required:
            raise error from exc
        log.error("custody-log checkpoint not signed: %s", error.message())
        return None
    except Exception as exc:
        if required or not catalog_full(exc):
            raise
        log.warning("custody-log checkpoint not signed: the catalog's disk is full")
        return None


def checkpoint_if_due(station: Station) -> Checkpoint | None:
    """The daemon's periodic checkpoint: signs when the interval has passed since the last one."""
    interval = timedelta(seconds=station.config.custody.checkpoint_interval_s)
    with station.catalog.reading() as session:
        last = session.scalar(select(CheckpointRow.at).order_by(CheckpointRow.id.desc()).limit(1))
    if last is not None and station.clock() - last < interval:
        return None
    return checkpoint(station, required=False)


def daemon_preflight(station: Station) -> None:
    """At daemon start: refuse without a usable key (missing, readable by others, unparsable),
    finish an interrupted key rotation, sign manifests that recovery left unsigned."""
    key = load_station_key(station.config)
    keys.publish_public(key_dir(station.config))
    sign_pending_manifests(station, key=key)
    checkpoint(station, key=key)


def head_moved(station: Station) -> bool:
    """Whether the custody log has entries after the last signed checkpoint (a read, no lock)."""
    from bodycam_ingest.catalog.models import Event

    with station.catalog.reading() as session:
        last = session.scalar(select(Event.seq).order_by(Event.seq.desc()).limit(1))
        signed = session.scalar(select(CheckpointRow.seq).order_by(CheckpointRow.id.desc())
                                .limit(1))
    return last is not None and (signed is None or signed < last)


def after_command(station: Station) -> None:
    """After a CLI command that appended to the log: sign manifests left pending, then a
    checkpoint; never fails the command (the audit reports an uncheckpointed tail)."""
    sign_pending_manifests(station, required=False)
    checkpoint(station, required=False)
