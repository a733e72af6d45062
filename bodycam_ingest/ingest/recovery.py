"""After a crash: finish or roll back exactly what was in flight, and nothing else.

A dock whose lock is free has lost its process (kill -9, power loss, OOM). Its journal says, per
file, how far it got: ``copying`` is rolled back (the staging file is removed), ``verified`` is
finished (the staged copy is re-hashed and published, or found already published, then
catalogued). Staging files that no live dock owns are removed. Recordings whose probe never ran are
probed. Running this twice does nothing the second time.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from bodycam_ingest.catalog.db import Catalog
from bodycam_ingest.catalog.models import Dock, Recording, Transfer
from bodycam_ingest.config import Config
from bodycam_ingest.errors import IngestCatalogFull
from bodycam_ingest.ingest import copier
from bodycam_ingest.ingest.journal import (
    Clock,
    Journal,
    catalog_full,
    catalog_where,
    open_transfers,
)
from bodycam_ingest.ingest.locks import dock_lock_path, owner_alive
from bodycam_ingest.ingest.postprocess import Prober, apply_probe
from bodycam_ingest.ingest.store import EvidenceStore, relpath_for
from bodycam_ingest.naming import NamePattern

log = logging.getLogger("bodycam.recovery")


@dataclass
class RecoveryReport:
    docks_closed: list[int] = field(default_factory=list)
    finished: int = 0
    rolled_back: int = 0
    leftovers_removed: int = 0
    probed: int = 0

    @property
    def anything(self) -> bool:
        return bool(self.docks_closed or self.finished or self.rolled_back
                    or self.leftovers_removed or self.probed)


def recover(config: Config, catalog: Catalog, store: EvidenceStore, *, clock: Clock, actor: str,
            prober: Prober) -> RecoveryReport:
    try:
        return _recover(config, catalog, store, clock=clock, actor=actor, prober=prober)
    except Exception as exc:
        if not catalog_full(exc):
            raise
        raise IngestCatalogFull(where=catalog_where(catalog)) from None


def _recover(config: Config, catalog: Catalog, store: EvidenceStore, *, clock: Clock, actor: str,
             prober: Prober) -> RecoveryReport:
    report = RecoveryReport()
    journal = Journal(catalog, clock, actor)
    runtime = config.storage.runtime
    with catalog.reading() as session:
        open_docks = list(session.scalars(select(Dock).where(Dock.outcome.is_(None))))
    dead = [dock for dock in open_docks if not owner_alive(dock_lock_path(runtime, dock.lock_token))]
    live_ids = [dock.id for dock in open_docks if dock not in dead]
    for dock in dead:
        finished, rolled = _recover_dock(config, catalog, store, journal, dock)
        report.finished += finished
        report.rolled_back += rolled
        journal.finish_dock(dock.id, "interrupted",
                            "the ingesting process stopped (crash, kill or power loss); "
                            f"{finished} file(s) finished, {rolled} rolled back; dock again to finish",
                            {"recovered": finished, "rolled_back": rolled})
        dock_lock_path(runtime, dock.lock_token).unlink(missing_ok=True)
        report.docks_closed.append(dock.id)
    # A dock whose process caught an internal error was closed as 'failed' on the way out, but
    # files it had in flight are still journalled open: finish or roll them back the same way.
    with catalog.reading() as session:
        ended = list(session.scalars(select(Dock).where(
            Dock.outcome.is_not(None),
            Dock.id.in_(select(Transfer.dock_id).where(
                Transfer.state.in_(("copying", "verified")))))))
    for dock in ended:
        finished, rolled = _recover_dock(config, catalog, store, journal, dock)
        report.finished += finished
        report.rolled_back += rolled
    with catalog.reading() as session:
        owned = {t.staging_name for t in open_transfers(session, live_ids)}
    for name in store.staging_names():
        if name not in owned and store.discard_staging(name):
            report.leftovers_removed += 1
            journal.note("staging_leftover_removed", subject=name,
                         reason="no live ingest owned it")
    with catalog.reading() as session:
        pending = list(session.scalars(select(Recording.id).where(Recording.status == "pending")))
    for recording_id in pending:
        apply_probe(catalog, store, prober, recording_id)
        report.probed += 1
    if report.anything:
        log.info("recovery: %s", report)
    return report


def _recover_dock(config: Config, catalog: Catalog, store: EvidenceStore, journal: Journal,
                  dock: Dock) -> tuple[int, int]:
    finished = rolled = 0
    with catalog.reading() as session:
        transfers = open_transfers(session, [dock.id])
    patterns, zone = _naming_for(config, dock.camera_rule)
    for transfer in transfers:
        if transfer.state == "verified" and transfer.sha256 and _publishable(store, transfer):
            journal.complete_transfer(transfer.id, device_id=dock.device_id,
                                      relpath=relpath_for(transfer.sha256), patterns=patterns,
                                      zone=zone)
            finished += 1
        else:
            store.discard_staging(transfer.staging_name)
            journal.roll_back(transfer.id, "rolled_back", "the ingesting process stopped before "
                              "the copy was verified")
            rolled += 1
    return finished, rolled


def _publishable(store: EvidenceStore, transfer: Transfer) -> bool:
    """Publish a verified staged copy after re-checking it; True when the content is stored."""
    assert transfer.sha256 is not None
    if store.staged_exists(transfer.staging_name):
        try:
            fd = store.open_staged_for_reading(transfer.staging_name)
            try:
                again = copier.hash_fd(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("staged copy %s cannot be read (%s); rolling back", transfer.staging_name,
                        exc.strerror or exc)
            return False
        if again.sha256 != transfer.sha256 or again.size != transfer.size:
            log.warning("staged copy %s no longer matches its digest; rolling back",
                        transfer.staging_name)
            return False
        store.publish(transfer.staging_name, transfer.sha256)
        return True
    path: Path = store.path_for(transfer.sha256)
    return path.is_file() and path.stat().st_size == transfer.size


def _naming_for(config: Config, rule_name: str) -> tuple[tuple[NamePattern, ...], str]:
    for rule in config.cameras:
        if rule.name == rule_name:
            return config.name_patterns(rule), config.camera_zone(rule)
    return (), config.station.zone
