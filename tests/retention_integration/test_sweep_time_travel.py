"""The must-show time-travel test of issue 5: a populated station on an injected clock moves
forward three years, running the retention sweep every few days. Exactly the expected recordings
are deleted, never before two calendar years plus the grace period, each with a tombstone, a
signed deletion manifest (checked with openssl) and a custody-log entry; held, long-term and
evidence recordings are kept; a corrupted stored copy is never deleted and raises an alert; and
the audit stays clean except for the copy deliberately broken."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sweep_support import (
    DAY,
    Clock,
    add_hold,
    corrupt,
    dock,
    label,
    make_env,
    open_station,
    openssl_verifies,
    release_hold,
    set_case_tier,
    set_recording_tier,
    stored_path,
    utc,
)

from bodycam_ingest.catalog.models import Event, Recording
from bodycam_ingest.catalog.retention_models import DeletionManifestRow, RetentionRun, Tombstone
from bodycam_ingest.custody import service as custody
from bodycam_ingest.custody.audit import AuditInputs, audit
from bodycam_ingest.retention import archive, deletion_manifest
from bodycam_ingest.retention.policy import RetentionPolicy, expires_at
from bodycam_ingest.retention.service import run_sweep
from bodycam_ingest.retention.sweep import SweepReport
from bodycam_ingest.retention.tiers import Tier

T0 = utc(2024, 1, 10, 8, 0)  # 2024 is a leap year: 730 days end a day before 2 calendar years
STEP = 3  # days between sweeps
GRACE = timedelta(days=7)
SHM = Path("/dev/shm")  # the long-term copies' "second medium": another filesystem (tmpfs)


def test_three_years_of_sweeps_delete_exactly_the_expired_recordings(tmp_path: Path) -> None:
    env = make_env(tmp_path / "station")
    clock = Clock(T0)
    station = open_station(env, clock)
    cams = tmp_path / "cams"
    medium = (Path(tempfile.mkdtemp(prefix="bodycam-medium-", dir=SHM))
              if SHM.is_dir() and SHM.stat().st_dev != tmp_path.stat().st_dev else None)
    reports: dict[int, SweepReport] = {}
    who: dict[str, int] = {}
    try:
        def at_day(day: int) -> None:
            if day == 0:
                who["a1"], who["a2"] = dock(station, cams, segments=2)
            elif day == 30:
                who["b1"], who["b2"] = dock(station, cams, segments=2, device="DSJ9X002")
                who["b2_hold"] = add_hold(station, recording_id=who["b2"])
            elif day == 39:
                label(station, [who["b1"]], "LT-1")
                set_case_tier(station, "LT-1", Tier.LONG_TERM.value, "dispute:complaint")
            elif day == 60:
                who["c1"], who["c2"] = dock(station, cams, segments=2, device="DSJ9X003")
                set_recording_tier(station, who["c1"], Tier.EVIDENCE.value, "case 2024-7 evidence")
            elif day == 90:
                [who["d1"]] = dock(station, cams, device="DSJ9X004")
            elif day == 120:
                [who["e1"]] = dock(station, cams, device="DSJ9X005")
                label(station, [who["e1"]], "CASE-E")  # a case without a tier changes nothing
            elif day == 399:
                [who["f1"]] = dock(station, cams, device="DSJ9X006")
                corrupt(stored_path(station, who["c2"]))  # before its deletion date
            elif day == 699:
                label(station, [who["d1"]], "LT-1")  # labelled into the long-term case later
            elif day == 801:
                release_hold(station, who["b2_hold"])
            if day in (39, 699) and medium is not None:  # R2: long-term copies on a second medium
                archive.run(station, archive.ArchiveRequest(
                    tier=Tier.LONG_TERM, directory=medium, label="disc", actor=station.actor))

        for day in range(0, 3 * 366 + 1, STEP):
            clock.now = T0 + day * DAY
            at_day(day)
            reports[day] = run_sweep(station, trigger="test")
            assert reports[day].error is None, reports[day].error

        with station.catalog.reading() as session:
            tombstones = {t.recording_id: t for t in session.scalars(select(Tombstone))}
            recordings = {r.id: r for r in session.scalars(select(Recording))}
            deleted_events = {e.recording_id: e for e in session.scalars(
                select(Event).where(Event.action == "recording_deleted"))}
            manifests = list(session.scalars(select(DeletionManifestRow)
                                             .order_by(DeletionManifestRow.id)))
            runs = session.scalar(select(RetentionRun.id).order_by(RetentionRun.id.desc()))
        ids = {name: rid for name, rid in who.items() if name != "b2_hold"}
        name_of = {rid: name for name, rid in ids.items()}

        # exactly the expected recordings are deleted
        assert sorted(name_of[r] for r in tombstones) == ["a1", "a2", "b2", "e1"]
        assert {r.id for r in recordings.values() if r.deleted_at is not None} == set(tombstones)
        assert runs == len(reports)

        # ... never before two calendar years plus the grace, and at the first sweeps after
        policy = RetentionPolicy()
        for rid, tombstone in tombstones.items():
            recording = recordings[rid]
            assert recording.clock_start is not None
            expiry = expires_at(policy, Tier.STANDARD, recording.clock_start)
            assert expiry is not None
            two_years = recording.clock_start.replace(year=recording.clock_start.year + 2)
            assert expiry >= two_years >= recording.clock_start + 730 * DAY
            earliest = expiry + GRACE
            if name_of[rid] == "b2":  # held until day 801: due from its release, then grace
                earliest = T0 + 801 * DAY + GRACE
            assert earliest <= tombstone.deleted_at <= earliest + 2 * STEP * DAY, name_of[rid]
            assert tombstone.due_since <= tombstone.deleted_at - GRACE
            assert tombstone.sha256 == recording.sha256 and tombstone.size == recording.size
            assert tombstone.actor == "retention-officer" and tombstone.tier == "standard"
            assert tombstone.rule.startswith("deleted: standard: 730 days, not before 2 calendar")
            assert tombstone.manifest_id is not None
            assert not stored_path(station, rid).exists()
            event = deleted_events[rid]
            assert event.reason == tombstone.rule
            assert json.loads(event.details or "{}")["sha256"] == recording.sha256

        # held, long-term (also labelled in later), evidence and inside-period recordings kept
        for name in ("b1", "c1", "d1", "f1"):
            assert recordings[ids[name]].deleted_at is None, name
            assert stored_path(station, ids[name]).exists(), name

        # the corrupted copy: re-hashed at its deletion date, never deleted, an alert every run
        c2 = recordings[ids["c2"]]
        assert c2.deleted_at is None and c2.fixity_ok is False
        c2_expiry = expires_at(policy, Tier.STANDARD, c2.clock_start or T0)
        assert c2_expiry is not None
        alerting = [d for d, r in reports.items()
                    if any(f"recording {c2.id}:" in a and "fixity" in a for a in r.alerts)]
        assert alerting, "the corrupted copy raised no alert"
        assert T0 + alerting[0] * DAY >= c2_expiry + GRACE
        assert alerting == [d for d in reports if d >= alerting[0]]

        # one signed manifest per deleting run, chained, verifiable with openssl
        public = custody.key_dir(station.config) / "station.pub"
        directory = deletion_manifest.directory_of(custody.manifest_dir(station.config))
        listed: dict[int, str] = {}
        previous = None
        for row in manifests:
            assert row.previous_digest == previous
            previous = row.digest
            data = directory / f"{row.file_name}.json"
            assert openssl_verifies(public, data, directory / f"{row.file_name}.sig")
            manifest = deletion_manifest.parse(data.read_bytes())
            assert manifest["previous_manifest_sha256"] == row.previous_digest
            for entry in manifest["entries"]:
                listed[entry["recording_id"]] = entry["sha256"]
        assert listed == {rid: t.sha256 for rid, t in tombstones.items()}

        custody.checkpoint(station)
        with station.catalog.reading() as session:
            report = audit(session, AuditInputs(
                store_root=station.store.root, manifest_dir=custody.manifest_dir(station.config),
                key_dir=custody.key_dir(station.config)))
    finally:
        station.close()
        if medium is not None:
            shutil.rmtree(medium, ignore_errors=True)
    assert report.checked["retention"] >= len(tombstones)
    unexpected = [f for f in report.findings if f"recording {c2.id} " not in f.object + " "]
    if medium is None:  # no second filesystem here: the long-term ones cannot have replicas
        unexpected = [f for f in unexpected if not (
            f.section == "replicas" and "no verified replica" in f.problem
            and f.object in (f"recording {ids['b1']}", f"recording {ids['d1']}"))]
    assert not unexpected, unexpected
    assert any(f.section == "fixity" and "hashes to" in f.problem for f in report.findings)
