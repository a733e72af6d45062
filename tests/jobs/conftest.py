"""Fixtures for the job tests: a station with recordings ingested through the real CLI, opened
in-process with an injected clock when a test needs to move time."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from helpers import StationEnv, copy_test_catalog
from jobs_support import ingest, make_station

from bodycam_ingest.sim.camera import CameraSpec, build_folder_camera
from bodycam_ingest.station import Station


@pytest.fixture(scope="session")
def fresh_camera_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 1-second recordings that ended minutes ago (so no R1 deadline is missed yet)."""
    local = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)
    root = tmp_path_factory.mktemp("jobs-cam")
    build_folder_camera(root, replace(CameraSpec(segments=2, seconds=1.0),
                                      start=local - timedelta(minutes=10)))
    return root


@pytest.fixture(scope="session")
def populated_master(tmp_path_factory: pytest.TempPathFactory, fresh_camera_master: Path) -> Path:
    """One station holding the fresh camera's two recordings, ingested by the real CLI once."""
    base = tmp_path_factory.mktemp("jobs-station")
    station = make_station(base / "station")
    camera = base / "camera"
    shutil.copytree(fresh_camera_master, camera, copy_function=shutil.copy2)
    assert ingest(station, camera)["stored"] == 2
    return station.root


@pytest.fixture
def populated(tmp_path: Path, populated_master: Path) -> StationEnv:
    """A private copy of that station (catalog, store, keys), its config pointing at the copy."""
    root = tmp_path / "station"
    shutil.copytree(populated_master, root, copy_function=shutil.copy2)
    config = root / "config.toml"
    config.write_text(config.read_text().replace(str(populated_master), str(root)))
    copy_test_catalog(config)  # BODYCAM_TEST_CATALOG: the catalog is not in the folder
    return StationEnv(root=root, config_path=config)


@pytest.fixture
def open_station() -> Iterator[Callable[..., Station]]:
    """Open stations in-process (closed, with their checkpoint signed, at the end)."""
    opened: list[Station] = []

    def opener(env: StationEnv, clock: Callable[[], datetime] | None = None) -> Station:
        station = Station.open(env.config, **({"clock": clock} if clock else {}))
        opened.append(station)
        return station

    yield opener
    for station in opened:
        station.close()

