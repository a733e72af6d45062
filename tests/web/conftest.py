"""A console station shared by the tests of one module: recordings, accounts, a running daemon."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from access_support import running_daemon
from conftest_media import FolderCamera
from web_support import ConsoleStation, console_station


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory,
            camera_media: FolderCamera) -> Iterator[ConsoleStation]:
    station = console_station(tmp_path_factory.mktemp("console") / "station", camera_media.root)
    with running_daemon(station.env):
        yield station
