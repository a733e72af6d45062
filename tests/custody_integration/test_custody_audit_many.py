"""The audit over many small stored files: each file's hash is checked against its own recording.

The hash workers get the stored files in batches (``audit.BATCH_FILES`` per task) while the
catalog is still being read, and the other checks run while they hash; these tests make sure a
result is never matched with another recording's row, that every problem is still found, and that
the report keeps its order (keyring, fixity in recording order, then the rest).

The catalog is written with plain INSERTs into the migrated schema (a dock of 600 one-line files,
real files at their content addresses) and the product signs the dock's manifest, as after a dock.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import write_config

from bodycam_ingest.catalog.db import open_catalog
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.config import load_config
from bodycam_ingest.custody import audit as audit_module
from bodycam_ingest.custody import service
from bodycam_ingest.custody.audit import AuditInputs, audit
from bodycam_ingest.ingest.store import relpath_for
from bodycam_ingest.station import Station

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
COUNT = 600  # more than two batches of audit.BATCH_FILES


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    assert audit_module.BATCH_FILES * 2 < COUNT
    config = write_config(tmp_path)
    state = tmp_path / "state"
    open_catalog(f"sqlite:///{state / 'catalog.sqlite3'}").close()
    db = sqlite3.connect(state / "catalog.sqlite3", isolation_level=None)
    db.execute("BEGIN")
    db.execute("INSERT INTO devices (id, key, kind, first_seen, last_seen) VALUES "
               "(1, 'usb:t', 'usb', ?, ?)", (_ts(NOW), _ts(NOW)))
    db.execute("INSERT INTO docks (station_id, id, device_id, camera_rule, trigger, source, actor, "
               "host, pid, "
               "lock_token, started_at, updated_at, finished_at, outcome, files_total, files_done,"
               " files_skipped, files_rejected, files_failed, files_wiped, bytes_total, bytes_done)"
               " VALUES ('test-station', 1, 1, 'test-cam', 'cli', '/t', 't', 't', 1, 't', ?, ?, ?, "
               "'complete', "
               "0, 0, 0, 0, 0, 0, 0, 0)", (_ts(NOW), _ts(NOW), _ts(NOW)))
    for ident in range(1, COUNT + 1):
        content = b"recording %d\n" % ident
        digest = hashlib.sha256(content).hexdigest()
        relpath = relpath_for(digest)
        path = state / "evidence" / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        camera_path = f"DCIM/100MEDIA/A1024_DSJ9X001_20261120{ident:06d}_0001.MP4"
        db.execute("INSERT INTO recordings (station_id, id, sha256, size, store_path, device_id, "
                   "first_dock_id, camera_path, ingested_at, name_officer, name_device, "
                   "start_utc, duration_s, zone, status, tier, clock_start, fixity_ok, "
                   "fixity_checked_at) VALUES ('test-station', ?, ?, ?, ?, 1, 1, ?, ?, 'A1024', "
                   "'DSJ9X001', ?, "
                   "1.0, 'UTC', 'ok', 'standard', ?, 1, ?)",
                   (ident, digest, len(content), str(relpath), camera_path, _ts(NOW), _ts(NOW),
                    _ts(NOW + timedelta(seconds=1)), _ts(NOW)))  # clock start: its end
        db.execute("INSERT INTO sightings (station_id, recording_id, dock_id, device_id, camera_path, size, "
                   "seen_at, copied) VALUES ('test-station', ?, 1, 1, ?, ?, ?, 1)",
                   (ident, camera_path, len(content), _ts(NOW)))
    db.execute("COMMIT")
    db.close()
    opened = Station.open(load_config(config), clock=Clock(NOW), actor="auditor")
    try:
        with opened.catalog.session() as session:  # what the ingest logs (the replay reads it)
            record_event(session, at=NOW, actor="t", action="dock_started", dock_id=1,
                         subject="/t", details={"device": "usb:t", "trigger": "cli",
                                                "rule": "test-cam", "mount": None})
            for ident in range(1, COUNT + 1):
                content = b"recording %d\n" % ident
                record_event(session, at=NOW, actor="t", action="recording_ingested", dock_id=1,
                             recording_id=ident,
                             subject=f"DCIM/100MEDIA/A1024_DSJ9X001_20261120{ident:06d}_0001.MP4",
                             details={"sha256": hashlib.sha256(content).hexdigest(),
                                      "size": len(content)})
            record_event(session, at=NOW, actor="t", action="dock_finished", dock_id=1,
                         details={"outcome": "complete"})
        service.sign_pending_manifests(opened)
        yield opened
    finally:
        opened.catalog.close()


def run_audit(station: Station, ids: list[int] | None = None, *,
              exact_progress: bool = True) -> audit_module.AuditReport:
    counted: list[int] = []
    inputs = AuditInputs(store_root=station.store.root,
                         manifest_dir=service.manifest_dir(station.config),
                         key_dir=service.key_dir(station.config), workers=2,
                         on_bytes=counted.append, now=NOW)
    with station.catalog.reading() as session:
        report = audit(session, inputs, recording_ids=ids, whole_station=ids is None)
    # (a progress bar also counts what was hashed early and then changed, and unnamed files)
    assert sum(counted) == report.bytes_hashed or not exact_progress
    return report


def stored(station: Station, ident: int) -> Path:
    content = b"recording %d\n" % ident
    return station.store.root / relpath_for(hashlib.sha256(content).hexdigest())


def test_a_clean_store_of_many_files_audits_clean(station: Station) -> None:
    report = run_audit(station)
    assert [f for f in report.findings if f.section != "scrub"] == []
    assert report.checked["fixity"] == COUNT
    assert report.bytes_hashed == sum(len(b"recording %d\n" % i) for i in range(1, COUNT + 1))


def test_each_problem_is_named_on_its_own_recording_in_recording_order(station: Station) -> None:
    # one file changed in the first batch, one swapped with another's content in the second,
    # one missing in the third: each must be reported on its own recording, nothing else
    changed, swapped, missing = stored(station, 7), stored(station, 300), stored(station, 555)
    changed.chmod(0o644)
    changed.write_bytes(b"recording 7 edited\n")
    swapped.chmod(0o644)
    swapped.write_bytes(b"recording 301\n")
    missing.unlink()
    (station.store.root.parent / "keys" / "keyring").rename(
        station.store.root.parent / "keys" / "keyring.away")
    report = run_audit(station)
    fixity = [f for f in report.findings if f.section == "fixity"]
    assert [f.object.split(" (")[0] for f in fixity] == [
        "recording 7", "recording 300", "recording 555"]
    assert hashlib.sha256(b"recording 301\n").hexdigest() in fixity[1].problem
    assert "missing" in fixity[2].problem
    # the keyring's problem comes first, then fixity, then the rest, whatever finished first
    assert report.findings[0].object == "station keyring"
    sections = [f.section for f in report.findings]
    first_fixity = sections.index("fixity")
    assert all(s == "manifests" for s in sections[:first_fixity])
    assert sections[first_fixity:first_fixity + 3] == ["fixity"] * 3
    assert report.checked["fixity"] == COUNT


def test_verify_of_some_recordings_hashes_only_those(station: Station) -> None:
    stored(station, 2).chmod(0o644)
    stored(station, 2).write_bytes(b"tampered\n")
    report = run_audit(station, [1, 2, 599])
    assert report.checked["fixity"] == 3
    assert [f.object.split(" (")[0] for f in report.findings] == ["recording 2"]


# --- the store hashed before the catalog is read (custody.early, issue 14) ----------------------
def _audit_as_before(station: Station) -> audit_module.AuditReport:
    """The same audit with each file hashed as its catalog row is read (every id given)."""
    inputs = AuditInputs(store_root=station.store.root,
                         manifest_dir=service.manifest_dir(station.config),
                         key_dir=service.key_dir(station.config), workers=2, now=NOW)
    with station.catalog.reading() as session:
        return audit(session, inputs, recording_ids=list(range(1, COUNT + 1)))


def _same(report: audit_module.AuditReport, reference: audit_module.AuditReport) -> None:
    assert report.findings == reference.findings
    assert report.notes == reference.notes
    assert report.checked == reference.checked
    assert report.bytes_hashed == reference.bytes_hashed


def test_files_changed_removed_or_added_after_the_early_hash_are_reported_as_they_are_now(
        station: Station) -> None:
    """The store is hashed before the catalog is read (as the CLI starts it); then, before the
    audit reads the catalog, one file is edited, one replaced by another's content, one removed
    and one file no recording names is added: the report is the one a fresh hash gives."""
    from bodycam_ingest.custody import early

    started = early.start(station.store.root, 2)
    for ident in range(1, COUNT + 1):  # every file hashed early, before anything changes
        assert started.wait(str(stored(station, ident))) is not None
    changed, swapped, missing = stored(station, 7), stored(station, 300), stored(station, 555)
    changed.chmod(0o644)
    changed.write_bytes(b"recording 7 edited\n")
    swapped.unlink()
    swapped.write_bytes(b"recording 301\n")
    missing.unlink()
    extra = station.store.root / relpath_for("ab" * 32)
    extra.parent.mkdir(parents=True, exist_ok=True)
    extra.write_bytes(b"no recording names me\n")
    report = run_audit(station, exact_progress=False)
    assert started._closed  # the audit took it (and closed it): nothing hashed a second time
    fixity = [f for f in report.findings if f.section == "fixity"]
    assert [f.object.split(" (")[0] for f in fixity] == [
        "recording 7", "recording 300", "recording 555"]
    assert "missing" in fixity[2].problem
    _same(report, _audit_as_before(station))


def test_a_file_the_early_listing_missed_is_hashed_for_its_recording(station: Station) -> None:
    """A catalog file the listing did not give (stored after it, or elsewhere: an evicted one is
    not there at all) is hashed at the audit's request; an early hash of a file that could not be
    read then is not trusted either (the file was restored since)."""
    from bodycam_ingest.custody import early

    skipped = str(stored(station, 9))
    restored = stored(station, 10)
    content = restored.read_bytes()
    restored.unlink()

    def listing(root: str) -> list[early.Listed]:
        return [[(p, size) for p, size in files if p != skipped]
                for files in early.list_store(root)] + [[(str(restored), len(content))]]

    started = early.start(station.store.root, 2, lister=listing)
    gone = started.wait(str(restored))
    assert gone is not None and gone.error == "the stored file is missing"
    restored.write_bytes(content)
    report = run_audit(station, exact_progress=False)
    assert started._closed
    assert [f for f in report.findings if f.section == "fixity"] == []
    assert report.checked["fixity"] == COUNT
    _same(report, _audit_as_before(station))
