"""Real media for every test: simulated cameras made by ffmpeg, mkfs.vfat and mtools.

Generated once per session (``tmp_path_factory``) and copied per test, so a test may scribble on
its copy while the suite stays fast. Loop devices are root-only: the helpers skip with a reason
elsewhere, and always detach (and clear the read-only flag, which outlives ``losetup -d``).

tests/conftest.py star-imports this module (``__all__`` lists what it gets); test modules import
the helpers and types by name and use the fixtures by parameter, never by import (an imported
session fixture is a new fixture per module, and the media would be made again for each).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from bodycam_ingest.detection.udev import udevd_answers
from bodycam_ingest.sim.camera import CameraSpec, build_fat32_image, build_folder_camera

DEFAULT_SPEC = CameraSpec()  # 3 segments x 2 s, 160x120 @ 10 fps, officer A1024, camera DSJ9X001
DEFAULT_LABEL = "BODYCAM"
_T = TypeVar("_T")

IS_ROOT = os.geteuid() == 0
ROOT_MARKS = [pytest.mark.root,
              pytest.mark.skipif(not IS_ROOT, reason="needs root (loop devices, mounts, ioctls)")]


def requires_root(obj: _T) -> _T:
    """Decorator for a test or class: marked ``root`` and skipped with a reason when not root.
    For a whole module: ``pytestmark = ROOT_MARKS``."""
    for mark in ROOT_MARKS:
        obj = mark(obj)
    return obj


@dataclass(frozen=True)
class FolderCamera:
    root: Path  # holds DCIM/100MEDIA/<officer>_<device>_<stamp>_<seq>.MP4
    paths: list[Path]
    spec: CameraSpec


@dataclass(frozen=True)
class FatImage:
    image: Path  # a FAT32 disk image; attach with loop_device() to mount it
    paths: list[str]  # camera-relative, "DCIM/100MEDIA/..."
    spec: CameraSpec
    label: str


@pytest.fixture(scope="session")
def camera_media(tmp_path_factory: pytest.TempPathFactory) -> FolderCamera:
    """The session's master copy of the default camera; do not modify, use ``folder_camera``."""
    root = tmp_path_factory.mktemp("camera-master")
    return FolderCamera(root, build_folder_camera(root, DEFAULT_SPEC), DEFAULT_SPEC)


@pytest.fixture(scope="session")
def fat_image_master(tmp_path_factory: pytest.TempPathFactory) -> FatImage:
    """The session's master FAT32 image; do not modify, use ``fat_image``."""
    image = tmp_path_factory.mktemp("fat-master") / "camera.img"
    paths = build_fat32_image(image, DEFAULT_SPEC, label=DEFAULT_LABEL)
    return FatImage(image, paths, DEFAULT_SPEC, DEFAULT_LABEL)


@pytest.fixture
def folder_camera(tmp_path: Path, camera_media: FolderCamera) -> FolderCamera:
    """A private copy (mtimes kept) of the default 3-segment camera as a directory tree."""
    root = tmp_path / "camera"
    shutil.copytree(camera_media.root, root, copy_function=shutil.copy2)
    paths = [root / p.relative_to(camera_media.root) for p in camera_media.paths]
    return FolderCamera(root, paths, camera_media.spec)


@pytest.fixture
def fat_image(tmp_path: Path, fat_image_master: FatImage) -> FatImage:
    """A private copy of the default camera as a FAT32 image (sparse, ~36 MiB apparent)."""
    image = tmp_path / "camera.img"
    subprocess.run(["cp", "--sparse=always", str(fat_image_master.image), str(image)], check=True)
    return FatImage(image, fat_image_master.paths, fat_image_master.spec, fat_image_master.label)


def _quiet(argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)


@contextlib.contextmanager
def loop_device(image: Path, *, udev: bool = True) -> Iterator[str]:
    """Attach ``image`` to a free /dev/loopN and yield its name; always detached afterwards.

    With ``udev`` the kernel's change event is replayed and awaited, because a loop device is
    announced before its backing file is set and udev otherwise has no ID_FS_* properties for it.
    """
    if not IS_ROOT:
        pytest.skip("loop devices need root")
    if not Path("/dev/loop-control").exists():
        pytest.skip("this kernel has no loop device support (/dev/loop-control is missing)")
    attach = _quiet(["losetup", "-f", "--show", str(image)])
    if attach.returncode != 0:
        pytest.skip(f"losetup cannot attach a loop device: {attach.stderr.strip()}")
    dev = attach.stdout.strip()
    try:
        _quiet(["blockdev", "--setrw", dev])  # the read-only flag of a previous user survives
        if udev and udevd_answers():
            with contextlib.suppress(subprocess.TimeoutExpired):
                _quiet(["udevadm", "trigger", "--action=change", "--settle", dev], timeout=20)
        yield dev
    finally:
        _quiet(["blockdev", "--setrw", dev])
        _quiet(["losetup", "-d", dev])


def udev_properties(devnode: str) -> dict[str, str]:
    """What udev knows about ``devnode`` (``udevadm info --query=property``), as the daemon sees it."""
    out = _quiet(["udevadm", "info", "--query=property", f"--name={devnode}"]).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def sha256_of(path: Path) -> str:
    """Whole-file SHA-256, for "not one byte changed" assertions."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ffprobe(path: Path) -> dict[str, object]:
    """ffprobe's JSON view of streams and format."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json",
                          str(path)], capture_output=True, text=True, check=True).stdout
    result: dict[str, object] = json.loads(out)
    return result


__all__: list[str] = [
    "DEFAULT_LABEL", "DEFAULT_SPEC", "ROOT_MARKS", "FatImage", "FolderCamera", "SlowCamera",
    "camera_media", "fat_image", "fat_image_master", "ffprobe", "folder_camera", "loop_device",
    "requires_root", "sha256_of", "slow_camera", "udev_properties",
]


SLOW_SPEC = CameraSpec(segments=3, bulk_bytes=6 * 2**20, device="DSJSLOW")


@dataclass(frozen=True)
class SlowCamera:
    image: Path  # FAT32 with 512-byte clusters: fusefat reads it at ~20 MB/s, a file takes ~0.3 s
    originals: Path  # the same recordings as a folder, for digests


@pytest.fixture(scope="session")
def slow_camera(tmp_path_factory: pytest.TempPathFactory) -> SlowCamera:
    """A camera slow enough to act on mid-file (unplug it, fill the disk) without timing races."""
    base = tmp_path_factory.mktemp("slow-camera")
    image = base / "camera.img"
    build_fat32_image(image, SLOW_SPEC, size_mib=64)  # mkfs picks 512-byte clusters below 260 MiB
    build_folder_camera(base / "originals", SLOW_SPEC)
    return SlowCamera(image=image, originals=base / "originals")
