"""A camera that still holds content retention deleted: docking it again neither stores the
content again under the deleted recording nor fails on its digest; the sighting is recorded as
not copied, logged as "deleted_content_seen_again", and the file stays on the camera even with
wipe_after_ingest on (only verified, stored copies are ever wiped)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from helpers import StationEnv, write_config
from sqlalchemy import func, select
from sweep_support import DAY, Clock, open_station, utc

from bodycam_ingest.catalog.models import Event, Recording, Sighting
from bodycam_ingest.detection.dock import ingest_folder
from bodycam_ingest.retention.service import run_sweep
from bodycam_ingest.sim.camera import CameraSpec, build_folder_camera

T0 = utc(2024, 3, 1, 9, 0)


def test_redocking_deleted_content_stores_nothing_and_wipes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "station"
    root.mkdir()
    env = StationEnv(root, write_config(root, "wipe_after_ingest = true"))
    keep = tmp_path / "original"  # what the camera held, mtimes kept
    build_folder_camera(keep, CameraSpec(segments=2, seconds=1.0,
                                         start=(T0 - DAY).replace(tzinfo=None)))
    camera, other = tmp_path / "camera", tmp_path / "other-camera"
    shutil.copytree(keep, camera, copy_function=shutil.copy2)
    clock = Clock(T0)
    station = open_station(env, clock)
    try:
        rule = station.config.camera(None)
        first = ingest_folder(station, camera, rule, device_key="cam-1", trigger="cli")
        assert first.stored == 2 and first.wiped == 2  # verified and stored: wiped
        clock.now = T0 + 731 * DAY
        run_sweep(station, trigger="test")
        clock.now += 8 * DAY
        deleted = run_sweep(station, trigger="test").deleted
        assert len(deleted) == 2
        with station.catalog.reading() as session:
            digests = set(session.scalars(select(Recording.sha256)))

        # the same camera with the same files (an earlier wipe failed, say), and another
        # camera holding copies of the same content
        shutil.copytree(keep, camera, copy_function=shutil.copy2, dirs_exist_ok=True)
        shutil.copytree(keep, other, copy_function=shutil.copy2)
        clock.advance(DAY)
        again = ingest_folder(station, camera, rule, device_key="cam-1", trigger="cli")
        copy = ingest_folder(station, other, rule, device_key="cam-2", trigger="cli")
        for report in (again, copy):
            assert report.outcome == "complete", report
            assert report.stored == 0 and report.duplicates == 0 and report.wiped == 0
            assert report.deleted_seen == 2
        assert sorted(p.name for p in camera.rglob("*.MP4")) == sorted(
            p.name for p in keep.rglob("*.MP4"))
        assert len(list(other.rglob("*.MP4"))) == 2
        assert not [p for p in env.stored_files() if p.name in digests]
        with station.catalog.reading() as session:
            assert session.scalar(select(func.count()).select_from(Recording)) == 2
            assert all(r.deleted_at is not None for r in session.scalars(select(Recording)))
            seen = list(session.scalars(select(Sighting).where(
                Sighting.dock_id.in_((again.dock_id, copy.dock_id)))))
            events = list(session.scalars(select(Event).where(
                Event.action == "deleted_content_seen_again").order_by(Event.seq)))
            refusals = list(session.scalars(select(Event).where(Event.action == "wipe_refused")))
        assert len(seen) == 4 and not any(s.copied for s in seen)
        assert {s.recording_id for s in seen} == set(deleted)
        assert len(events) == 4 and {e.recording_id for e in events} == set(deleted)
        assert all("tombstone_id" in json.loads(e.details or "{}") for e in events)
        assert len(refusals) == 4
        assert all("deleted by retention" in (r.reason or "") for r in refusals)
    finally:
        station.close()
