"""A dock closed by crash recovery still gets its signed manifest: every stored recording is
covered by one, whether its dock ended normally or not."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

from helpers import StationEnv

from bodycam_ingest.custody import service
from bodycam_ingest.custody.audit import AuditInputs, audit
from bodycam_ingest.custody.manifest import parse_manifest
from bodycam_ingest.ingest.journal import DeviceIdentity, FileMeta, Journal
from bodycam_ingest.ingest.probe import ProbeSummary
from bodycam_ingest.station import Station

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def _never_probe(path: Path) -> ProbeSummary:  # stored bytes here are not video
    return ProbeSummary(status="unreadable", error="test bytes")


def test_a_dock_closed_by_recovery_gets_its_signed_manifest(station: StationEnv) -> None:
    live = Station.open(station.config, actor="tester", clock=lambda: NOW, prober=_never_probe)
    try:
        journal = Journal(live.catalog, live.clock, live.actor)
        dock_id, _ = journal.start_dock(DeviceIdentity(key="folder:/cam", kind="folder"),
                                        rule="test-cam", trigger="cli", source="/cam",
                                        mount_method=None, lock_token="dead0001")
        data = b"verified before the crash" * 100
        name = f"{dock_id}-one.part"
        transfer = journal.begin_transfer(dock_id, FileMeta("DCIM/100MEDIA/A_B_20261120093000_0001"
                                                            ".MP4", len(data), NOW), name)
        fd = live.store.open_staging(name)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        digest = hashlib.sha256(data).hexdigest()
        journal.mark_verified(transfer, digest, len(data))

        assert live.recover().docks_closed == [dock_id]  # recovery signs the docks it closes
        assert service.sign_pending_manifests(live) == [], "signing pending manifests is idempotent"

        manifest = service.manifest_dir(live.config) / f"test-station-{dock_id}.json"
        assert [e.sha256 for e in parse_manifest(manifest.read_bytes()).entries] == [digest]
        with live.catalog.reading() as session:
            report = audit(session, AuditInputs(store_root=live.store.root,
                                                manifest_dir=service.manifest_dir(live.config),
                                                key_dir=service.key_dir(live.config)))
        assert [f for f in report.findings if f.section in ("fixity", "manifests")] == []
    finally:
        live.close()
