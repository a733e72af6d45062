"""Recovery finishes exactly what was verified, rolls back what was not, and leaves live docks alone.

Each crash state is built with the real journal, store and catalog, as a killed process leaves it:
journal rows committed, staging files on disk, and a dock lock nobody holds any more.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import StationEnv
from sqlalchemy import select

from bodycam_ingest.catalog.models import Dock, Recording, Transfer
from bodycam_ingest.ingest.journal import DeviceIdentity, FileMeta, Journal
from bodycam_ingest.ingest.locks import dock_lock_path, try_lock
from bodycam_ingest.ingest.probe import ProbeSummary
from bodycam_ingest.station import Station

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def _never_probe(path: Path) -> ProbeSummary:  # stored bytes here are not video
    return ProbeSummary(status="unreadable", error="test bytes")


@pytest.fixture
def live(station: StationEnv) -> Iterator[Station]:
    opened = Station.open(station.config, actor="tester", clock=lambda: NOW, prober=_never_probe)
    yield opened
    opened.close()


def _crashed_dock(st: Station, token: str = "dead0001") -> tuple[int, Journal]:
    journal = Journal(st.catalog, st.clock, st.actor)
    dock_id, _device = journal.start_dock(DeviceIdentity(key="folder:/cam", kind="folder"),
                                          rule="test-cam", trigger="cli", source="/cam",
                                          mount_method=None, lock_token=token)
    return dock_id, journal


def _stage(st: Station, name: str, data: bytes) -> str:
    fd = st.store.open_staging(name)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return hashlib.sha256(data).hexdigest()


def _meta(name: str, size: int) -> FileMeta:
    return FileMeta(camera_path=f"DCIM/100MEDIA/{name}", size=size, mtime=NOW)


def test_verified_copies_are_finished_and_copying_ones_rolled_back(live: Station) -> None:
    dock_id, journal = _crashed_dock(live)
    done_data, half_data = b"verified recording" * 100, b"half written"
    # file 1: verified, staged, not yet published
    t1 = journal.begin_transfer(dock_id, _meta("A_B_20261120093000_0001.MP4", len(done_data)),
                                f"{dock_id}-one.part")
    digest = _stage(live, f"{dock_id}-one.part", done_data)
    journal.mark_verified(t1, digest, len(done_data))
    # file 2: still copying when the process died
    t2 = journal.begin_transfer(dock_id, _meta("A_B_20261120093002_0002.MP4", 100),
                                f"{dock_id}-two.part")
    _stage(live, f"{dock_id}-two.part", half_data)
    # a staging file nobody journalled (died between create and commit)
    _stage(live, "stray.part", b"stray")

    report = live.recover()

    assert (report.docks_closed, report.finished, report.rolled_back) == ([dock_id], 1, 1)
    assert report.leftovers_removed == 1
    assert live.store.staging_names() == []
    assert (live.store.path_for(digest)).read_bytes() == done_data
    with live.catalog.reading() as session:
        states = dict(session.execute(select(Transfer.id, Transfer.state)).all())
        recordings = list(session.scalars(select(Recording)))
        dock = session.get_one(Dock, dock_id)
    assert states == {t1: "done", t2: "rolled_back"}
    assert [(r.sha256, r.name_seq, r.status) for r in recordings] == [(digest, 1, "unreadable")]
    assert dock.outcome == "interrupted" and "1 file(s) finished, 1 rolled back" in dock.reason
    assert live.recover().anything is False, "recovery must be idempotent"


def test_a_verified_copy_already_published_is_only_catalogued(live: Station) -> None:
    dock_id, journal = _crashed_dock(live)
    data = b"published before the crash"
    t1 = journal.begin_transfer(dock_id, _meta("A_B_20261120093000_0001.MP4", len(data)),
                                f"{dock_id}-one.part")
    digest = _stage(live, f"{dock_id}-one.part", data)
    journal.mark_verified(t1, digest, len(data))
    live.store.publish(f"{dock_id}-one.part", digest)  # died right after publishing

    report = live.recover()

    assert report.finished == 1
    with live.catalog.reading() as session:
        assert session.scalars(select(Recording.sha256)).all() == [digest]


def test_a_staged_copy_that_no_longer_matches_its_digest_is_rolled_back(live: Station) -> None:
    dock_id, journal = _crashed_dock(live)
    data = b"original bytes"
    t1 = journal.begin_transfer(dock_id, _meta("A_B_20261120093000_0001.MP4", len(data)),
                                f"{dock_id}-one.part")
    digest = _stage(live, f"{dock_id}-one.part", data)
    journal.mark_verified(t1, digest, len(data))
    staged = live.store.staging / f"{dock_id}-one.part"
    staged.write_bytes(b"ORIGINAL bytes")  # the disk returned something else after the crash

    report = live.recover()

    assert (report.finished, report.rolled_back) == (0, 1)
    assert not live.store.contains(digest)
    with live.catalog.reading() as session:
        assert session.scalars(select(Recording)).all() == []


def test_a_dock_whose_process_is_alive_is_left_alone(live: Station) -> None:
    held = try_lock(dock_lock_path(live.config.storage.runtime, "alive001"))
    assert held is not None
    try:
        dock_id, journal = _crashed_dock(live, token="alive001")
        journal.begin_transfer(dock_id, _meta("A_B_20261120093000_0001.MP4", 5),
                               f"{dock_id}-busy.part")
        _stage(live, f"{dock_id}-busy.part", b"busy!")
        report = live.recover()
        assert report.docks_closed == [] and report.rolled_back == 0
        assert live.store.staging_names() == [f"{dock_id}-busy.part"], "a live copy was removed"
    finally:
        held.release()
    assert live.recover().docks_closed == [dock_id]


def test_files_in_flight_when_a_dock_failed_are_finished_too(live: Station) -> None:
    dock_id, journal = _crashed_dock(live)
    data = b"verified before an internal error"
    t1 = journal.begin_transfer(dock_id, _meta("A_B_20261120093000_0001.MP4", len(data)),
                                f"{dock_id}-one.part")
    digest = _stage(live, f"{dock_id}-one.part", data)
    journal.mark_verified(t1, digest, len(data))
    journal.finish_dock(dock_id, "failed", "internal error: OSError(28, 'No space left')", {})

    report = live.recover()

    assert (report.docks_closed, report.finished, report.leftovers_removed) == ([], 1, 0)
    assert live.store.path_for(digest).read_bytes() == data
    with live.catalog.reading() as session:
        assert session.get_one(Transfer, t1).state == "done"
        assert session.get_one(Dock, dock_id).outcome == "failed"
