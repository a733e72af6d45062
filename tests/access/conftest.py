"""Fixtures for identity and permission tests: real OS users, a station they can reach."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from access_support import cleanup_station, public_station, remove_test_users, require_root
from helpers import StationEnv


@pytest.fixture(scope="session", autouse=True)
def _test_users_removed() -> Iterator[None]:
    yield
    remove_test_users()


@pytest.fixture
def shared_station() -> Iterator[StationEnv]:
    """A station under /tmp that test users can reach (config 0644, socket folder 0755)."""
    require_root()
    station = public_station()
    try:
        yield station
    finally:
        cleanup_station(station)
