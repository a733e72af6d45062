"""Fixtures for the custody integration tests: cameras recorded minutes ago (ffmpeg-made)."""

from __future__ import annotations

from pathlib import Path

import pytest
from custody_support import build_master, fresh_spec, make_camera


@pytest.fixture(scope="session")
def fresh_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_master(tmp_path_factory.mktemp("fresh-cam"), fresh_spec())


@pytest.fixture(scope="session")
def second_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_master(tmp_path_factory.mktemp("fresh-cam-2"), fresh_spec("DSJ9X002"))


@pytest.fixture
def fresh_camera(tmp_path: Path, fresh_master: Path) -> Path:
    return make_camera(fresh_master, tmp_path / "camera")


@pytest.fixture
def second_camera(tmp_path: Path, second_master: Path) -> Path:
    return make_camera(second_master, tmp_path / "camera-2")
