"""Shared fixtures: a station in a temp dir, camera media, and a thread-leak guard."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from conftest_media import *  # noqa: F403  (camera and loop-device fixtures)
from helpers import StationEnv, write_config
from object_store_support import ceph  # noqa: F401  (one Ceph per session, started on first use)
from pg_support import pg_server, pg_station, pg_url  # noqa: F401  (one PostgreSQL per session)

from bodycam_ingest.detection.udev import udevd_answers


@pytest.fixture
def station(tmp_path: Path) -> StationEnv:
    root = tmp_path / "station"
    root.mkdir()
    return StationEnv(root=root, config_path=write_config(root))


@pytest.fixture(autouse=True)
def no_thread_leaks() -> Iterator[None]:
    """Fail any test that leaves a thread running (watchdog's habit)."""
    before = set(threading.enumerate())
    yield
    # asyncio_N: the default executor of an event loop owned by a longer-lived fixture
    # (Playwright's, for the browser tests), which starts its threads on first use
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()
              and not t.daemon and not t.name.startswith("asyncio_")]
    for thread in leaked:
        thread.join(timeout=5)
    leaked = [t.name for t in leaked if t.is_alive()]
    assert not leaked, f"threads leaked: {leaked}"


UDEVD = Path("/lib/systemd/systemd-udevd")


@pytest.fixture(scope="session")
def udevd() -> Iterator[None]:
    """A running systemd-udevd (started here, and stopped afterwards, if none was running).

    Liveness is asked of the control socket: a stopped udevd leaves the socket's file behind.
    """
    if udevd_answers():
        yield
        return
    if not UDEVD.exists():
        pytest.skip("systemd-udevd is not installed (scripts/setup.sh installs udev)")
    subprocess.run([str(UDEVD), "--daemon"], check=True, capture_output=True)
    for _ in range(100):
        if udevd_answers():
            break
        time.sleep(0.05)
    else:
        pytest.fail("systemd-udevd --daemon started but does not answer on /run/udev/control")
    yield
    subprocess.run(["udevadm", "control", "--exit"], check=False, capture_output=True)
