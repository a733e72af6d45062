"""The dock wall in a real Chromium while the real daemon copies a docked camera: held mid-copy
on purpose, then released (issue 10).

The camera is a FUSE camera (tests/fusecam.py) appearing in a watch folder, as a vendor cradle
mounts one: its second recording's reads block at a chosen offset until the test releases them.
(A loop device backed by a held image does not work: udev's blkid probe reads the held range
through the same single-threaded FUSE server, so the dock is never announced while the hold
lasts.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from access_support import running_daemon
from conftest_media import FolderCamera
from fusecam import FuseCamera, fuse_available
from helpers import StationEnv, write_config
from web_support import chromium_path, free_port

from bodycam_ingest.web.i18n import translate

pytestmark = [pytest.mark.root, pytest.mark.slow]  # FUSE mounts need root
LABEL = "WALLCAM"  # no other test's daemon matches it (they match BODYCAM*)


@pytest.fixture
def chromium_page() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield browser.new_page(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        browser.close()


def _tile_state(page: Any) -> str | None:
    tiles = page.eval_on_selector_all("#wall .tile", "ts => ts.map(t => t.className)")
    return tiles[0].split()[-1] if tiles else None


def _wait_state(page: Any, state: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while _tile_state(page) != state:
        assert time.monotonic() < deadline, f"the tile never showed {state}: {_tile_state(page)}"
        page.wait_for_timeout(100)


def test_a_docked_camera_tile_goes_from_do_not_undock_to_safe_to_undock(
        tmp_path: Path, chromium_page: Any, folder_camera: FolderCamera) -> None:
    if not fuse_available():
        pytest.skip("FUSE is not available (mfusepy, /dev/fuse)")
    root = tmp_path / "station"
    root.mkdir()
    port = free_port()
    cradle = tmp_path / "cradle"
    cradle.mkdir()
    config = write_config(root, extra=f'watch_folders = [{{ path = "{cradle}", camera = '
                          '"wall-cam" }]', camera='[[cameras]]\nname = "wall-cam"\nfs_labels = '
                          f'["{LABEL}"]\nrecordings = ["DCIM/**/*.MP4"]\n')
    config.write_text(config.read_text() + f'\n[web]\nlisten = "127.0.0.1:{port}"\n')
    station = StationEnv(root=root, config_path=config)
    second = folder_camera.paths[1].relative_to(folder_camera.root).as_posix()
    page = chromium_page
    with running_daemon(station):
        page.goto(f"http://127.0.0.1:{port}/wall")
        assert page.inner_text("#wall") == "暂无插入的执法记录仪"
        with FuseCamera(folder_camera.root, cradle / "CAM01", hold=second, at=1024) as held:
            held.wait_reached()  # the daemon is copying the second recording: mid-dock
            _wait_state(page, "do_not_undock")
            tile = page.inner_text("#wall .tile")
            assert translate("do_not_undock", "zh-CN") in tile and "DSJ9X001" in tile
            page.screenshot(path=str(root / "wall-copying.png"))
            held.release()
            _wait_state(page, "safe_to_undock")
            done = page.inner_text("#wall .tile")
            assert translate("safe_to_undock", "zh-CN") in done and "A1024" in done
            assert f"{translate('files', 'zh-CN')} 3/3" in done
            page.screenshot(path=str(root / "wall-done.png"))
