"""The dock wall in a real Chromium while the real daemon copies a docked camera: held mid-copy
on purpose, then released (issue 10).

Two docks: a FUSE camera (tests/fusecam.py) appearing in a watch folder, as a vendor cradle
mounts one, whose second recording's reads block at a chosen offset until the test releases
them; and a FAT32 image on a loop device announced by a real udev event, the image served by a
FUSE camera whose hold is armed only after udev has probed it (udev's blkid reads the held range
too, through the same single-threaded FUSE server)."""

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


def test_a_camera_on_a_loop_device_announced_by_udev_shows_on_the_wall_until_safe(
        udevd: None, tmp_path: Path, chromium_page: Any) -> None:
    """The same through a loop device and a real udev event: the image is served by a FUSE
    camera whose hold is armed only once udev has probed it (udev's blkid reads the held range),
    then the daemon starts and docks it as a camera already docked."""
    if not fuse_available():
        pytest.skip("FUSE is not available (mfusepy, /dev/fuse)")
    from conftest_media import loop_device, udev_properties

    from bodycam_ingest.sim.camera import CameraSpec, build_fat32_image

    mib = 2**20
    root = tmp_path / "station"
    root.mkdir()
    port = free_port()
    config = write_config(root, camera=f'[[cameras]]\nname = "wall-cam"\nfs_labels = '
                          f'["{LABEL}"]\nrecordings = ["DCIM/**/*.MP4"]\n')
    config.write_text(config.read_text() + f'\n[web]\nlisten = "127.0.0.1:{port}"\n')
    station = StationEnv(root=root, config_path=config)
    images = tmp_path / "images"
    images.mkdir()
    build_fat32_image(images / "camera.img", CameraSpec(segments=3, bulk_bytes=2 * mib),
                      label=LABEL, size_mib=64)
    page = chromium_page
    with FuseCamera(images, tmp_path / "fuse", hold="camera.img", at=4 * mib, until=5 * mib,
                    armed=False) as held, \
            loop_device(tmp_path / "fuse" / "camera.img") as dev:
        assert udev_properties(dev).get("ID_FS_LABEL") == LABEL  # udev has probed it
        held.arm()
        with running_daemon(station):
            page.goto(f"http://127.0.0.1:{port}/wall")
            held.wait_reached()  # the daemon is copying the camera's second file
            _wait_state(page, "do_not_undock")
            assert translate("do_not_undock", "zh-CN") in page.inner_text("#wall .tile")
            held.release()
            _wait_state(page, "safe_to_undock")
            done = page.inner_text("#wall .tile")
            assert translate("safe_to_undock", "zh-CN") in done
            assert f"{translate('files', 'zh-CN')} 3/3" in done
