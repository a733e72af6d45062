"""The audit's "retention" section finds every tampering with the record of a deletion, and a
run interrupted between its catalog commit and its file removal or manifest signing is
completed by the next run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import select
from sweep_support import DAY, Clock, dock, make_env, open_station, stored_path, utc

from bodycam_ingest.catalog.retention_models import RetentionRun, Tombstone
from bodycam_ingest.custody import service as custody
from bodycam_ingest.custody.audit import AuditInputs, AuditReport, audit
from bodycam_ingest.custody.fixity import hash_files
from bodycam_ingest.retention import deletion, deletion_manifest
from bodycam_ingest.retention.service import policy_state, run_sweep
from bodycam_ingest.station import Station

T0 = utc(2024, 3, 1, 9, 0)
DUE = T0 + 731 * DAY  # past 2 years (no 29 February in between): due
GONE = DUE + 8 * DAY  # past the grace


def _audit(station: Station) -> AuditReport:
    custody.checkpoint(station)
    with station.catalog.reading() as session:
        return audit(session, AuditInputs(store_root=station.store.root,
                                          manifest_dir=custody.manifest_dir(station.config),
                                          key_dir=custody.key_dir(station.config)))


def _retention(report: AuditReport) -> list[str]:
    return [f"{f.object}: {f.problem}" for f in report.findings if f.section == "retention"]


@pytest.fixture
def deleted(tmp_path: Path) -> tuple[Station, list[int]]:
    """A station whose two recordings were deleted by a sweep (one signed deletion manifest)."""
    clock = Clock(T0)
    station = open_station(make_env(tmp_path / "station"), clock)
    ids = dock(station, tmp_path / "cams", segments=2)
    clock.now = DUE
    assert run_sweep(station, trigger="test").newly_due == 2
    clock.now = GONE
    assert run_sweep(station, trigger="test").deleted == ids
    yield station, ids
    station.close()


def test_tampering_with_a_deletion_record_is_found_and_named(deleted: tuple[Station, list[int]]
                                                             ) -> None:
    station, ids = deleted
    report = _audit(station)
    assert report.clean, report.findings
    assert report.checked["retention"] == 3  # one manifest, two tombstones
    directory = deletion_manifest.directory_of(custody.manifest_dir(station.config))
    [manifest] = sorted(directory.glob("*.json"))
    original = manifest.read_bytes()

    # an edited deletion manifest (a rule rewritten)
    manifest.chmod(0o644)
    manifest.write_bytes(original.replace(b"deleted: standard", b"deleted: evidence"))
    found = _retention(_audit(station))
    assert any(manifest.name in f and "edited or replaced" in f for f in found), found
    assert any(manifest.name in f and "signature does not verify" in f for f in found), found
    manifest.write_bytes(original)
    assert _audit(station).clean

    # a removed manifest file
    manifest.rename(manifest.with_suffix(".gone"))
    found = _retention(_audit(station))
    assert any(manifest.name in f and "deleted or moved" in f for f in found), found
    manifest.with_suffix(".gone").rename(manifest)
    assert _audit(station).clean

    # a tombstone altered in the database
    db = station.config.storage.state_dir / "catalog.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE retention_tombstones SET tier = 'evidence', size = size + 1 "
                     "WHERE recording_id = ?", (ids[1],))
    found = _retention(_audit(station))
    assert found == [f"tombstone of recording {ids[1]}: differs from its entry in {manifest.name} "
                     "in size, tier: the tombstone was altered after it was signed"], found

    # a tombstone removed, and the recording un-deleted behind the station's back
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("DELETE FROM retention_tombstones WHERE recording_id = ?", (ids[1],))
        conn.execute("UPDATE recordings SET deleted_at = NULL WHERE id = ?", (ids[0],))
    found = _retention(_audit(station))
    assert any(f.startswith(f"deletion manifest {manifest.name}") and
               f"lists recording {ids[1]}, which has no tombstone" in f for f in found), found
    assert any(f.startswith(f"recording {ids[1]}:") and "no tombstone" in f for f in found), found
    assert any(f.startswith(f"recording {ids[0]}:") and "not deleted" in f for f in found), found


def test_a_run_interrupted_after_its_commit_is_completed_by_the_next(tmp_path: Path) -> None:
    clock = Clock(T0)
    station = open_station(make_env(tmp_path / "station"), clock)
    try:
        ids = dock(station, tmp_path / "cams", segments=2)
        clock.now = DUE
        run_sweep(station, trigger="test")
        clock.now = GONE
        # the steps of a run, up to its catalog commit; then "the process dies": no unlink, no
        # manifest, no outcome
        with station.catalog.session() as session:
            state = policy_state(session, station.config.retention.policy())
            run = RetentionRun(started_at=clock.now, actor=station.actor, trigger="test",
                               policy_digest=state.digest)
            session.add(run)
        paths = [stored_path(station, i) for i in ids]
        hashes = dict(zip(ids, hash_files(paths), strict=True))
        with station.catalog.session() as session:
            ctx = deletion.RunContext(run.id, station.actor, clock.now, state.effective,
                                      state.digest)
            done, _ = deletion.delete_checked(session, ids, hashes, ctx)
        assert [d.recording_id for d in done] == ids
        assert all(p.exists() for p in paths)

        found = _retention(_audit(station))
        assert any(f"recording {ids[0]}:" in f and "still present" in f for f in found), found
        assert any(f"tombstone of recording {ids[1]}:" in f and "not yet in a signed" in f
                   for f in found), found

        clock.advance(DAY)
        report = run_sweep(station, trigger="test")
        assert report.error is None and report.deleted == []
        assert report.leftovers_removed == 2 and len(report.manifests) == 1
        assert not any(p.exists() for p in paths)
        with station.catalog.reading() as session:
            crashed = session.get_one(RetentionRun, run.id)
            stones = list(session.scalars(select(Tombstone)))
        assert crashed.outcome == "failed" and f"completed by run {report.run_id}" in (
            crashed.error or "")
        assert {t.run_id for t in stones} == {run.id} and all(t.manifest_id for t in stones)
        assert _audit(station).clean
    finally:
        station.close()


def test_show_and_the_scheduler_entry_point_tell_what_happened(
        deleted: tuple[Station, list[int]]) -> None:
    from bodycam_ingest.api.handlers.show_parts import retention_pairs as show_pairs
    from bodycam_ingest.catalog.models import Recording
    from bodycam_ingest.retention.service import sweep_job

    station, ids = deleted
    with station.catalog.reading() as session:
        gone = dict(show_pairs(session, session.get_one(Recording, ids[0]), GONE))
    assert gone["deleted"].startswith(f"{GONE:%Y-%m-%d %H:%M}Z by retention")
    assert gone["deletion rule"].startswith("deleted: standard: 730 days")
    assert gone["deletion manifest"].startswith("deletions/") and "run " in gone["tombstone"]

    result = sweep_job(station, "schedule")
    assert result.outcome == "ok" and result.summary.startswith("retention run ")
    assert result.alerts == ()
    live = dock(station, station.config.storage.state_dir.parent / "late-cams", device="DSJ9X009")
    with station.catalog.reading() as session:
        [stone] = session.scalars(select(Tombstone).where(Tombstone.recording_id == ids[0]))
        fresh = dict(show_pairs(session, session.get_one(Recording, live[0]), GONE))
    assert stone.deleted_at == GONE
    assert fresh["due since"] == "-" and fresh["retention"].startswith("keep (inside_period)")


def test_a_hold_in_the_grace_period_rescues_and_a_release_restarts_the_grace(
        tmp_path: Path) -> None:
    from sweep_support import add_hold, release_hold

    from bodycam_ingest.catalog.models import Event, Recording

    clock = Clock(T0)
    station = open_station(make_env(tmp_path / "station"), clock)
    try:
        [rid] = dock(station, tmp_path / "cams")
        clock.now = DUE
        assert run_sweep(station, trigger="test").newly_due == 1
        clock.advance(3 * DAY)
        hold = add_hold(station, recording_id=rid)
        assert run_sweep(station, trigger="test").rescued == 1
        clock.advance(30 * DAY)
        assert not run_sweep(station, trigger="test").deleted  # held: kept, whatever the date
        release_hold(station, hold)
        clock.advance(DAY)
        again = run_sweep(station, trigger="test")
        assert again.newly_due == 1 and not again.deleted  # a full grace from now
        clock.advance(6 * DAY)
        assert not run_sweep(station, trigger="test").deleted
        clock.advance(DAY)
        assert run_sweep(station, trigger="test").deleted == [rid]
        with station.catalog.reading() as session:
            actions = [e.action for e in session.scalars(
                select(Event).where(Event.recording_id == rid).order_by(Event.seq))
                if e.action.startswith(("retention", "recording_deleted"))]
            row = session.get_one(Recording, rid)
    finally:
        station.close()
    assert actions == ["retention_due", "retention_rescued", "retention_due", "recording_deleted"]
    assert row.deleted_at == clock.now
