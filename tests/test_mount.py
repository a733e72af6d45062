"""A docked camera is mounted so that nothing can write to it, and released cleanly."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest_media import (
    ROOT_MARKS,
    FatImage,
    FolderCamera,
    loop_device,
    requires_root,
    sha256_of,
)

from bodycam_ingest.detection import mount as m
from bodycam_ingest.errors import ExitCode, Refused, SourceUnusable

PROC_FILESYSTEMS = "nodev\tsysfs\nnodev\tproc\n\text4\n\tsquashfs\nnodev\tfuse\n\tfuseblk\n"


# ---- pure decisions, no root needed ---------------------------------------------------------

def test_kernel_driver_is_preferred_and_fat_falls_back_to_fuse():
    kernel = m.kernel_filesystems(PROC_FILESYSTEMS)
    assert kernel == {"sysfs", "proc", "ext4", "squashfs", "fuse", "fuseblk"}
    assert m.choose_method("ext4", kernel) == "kernel"
    assert m.choose_method("vfat", kernel) == "fusefat"
    assert m.choose_method("exfat", kernel) == "exfat-fuse"
    assert m.choose_method("vfat", kernel | {"vfat"}) == "kernel"


@pytest.mark.parametrize("fstype", ["ntfs", "iso9660", "swap", ""])
def test_filesystems_no_camera_uses_are_refused(fstype: str):
    with pytest.raises(ValueError, match="not supported"):
        m.choose_method(fstype, frozenset({"ntfs", "iso9660"}))


def test_ext_without_kernel_driver_names_the_fix():
    with pytest.raises(ValueError, match="modprobe ext4"):
        m.choose_method("ext4", frozenset())


@pytest.mark.parametrize(("fstype", "must"), [
    ("ext4", {"ro", "nosuid", "nodev", "noexec", "noload"}),
    ("vfat", {"ro", "nosuid", "nodev", "noexec", "uid=0", "gid=0", "fmask=0337", "dmask=0227",
              "utf8", "tz=UTC"}),
    ("exfat", {"ro", "nosuid", "nodev", "noexec", "uid=0", "fmask=0337", "iocharset=utf8"}),
])
def test_read_only_options_never_allow_writes_suid_devices_or_exec(fstype: str, must: set[str]):
    assert must <= set(m.kernel_options(fstype, 0, 0).split(","))


def test_writable_options_drop_noload_so_the_journal_replays():
    opts = m.kernel_options("ext4", 0, 0, writable=True).split(",")
    assert "rw" in opts and "noload" not in opts and "ro" not in opts and "nosuid" in opts


def test_mountinfo_parsing_finds_escaped_mountpoints_and_the_top_mount():
    info = ("36 25 0:32 / /media/cam\\040one rw,nosuid - vfat /dev/sdb1 rw\n"
            "37 36 0:33 / /media/cam\\040one ro,nodev - fuse.fusefat fusefat ro\n")
    assert m.mount_options(info, Path("/media/cam one")) == {"ro", "nodev"}
    assert m.mount_options(info, Path("/media/cam")) is None


# ---- FAT directory entries ------------------------------------------------------------------

def test_fat_mtimes_reads_long_names_short_names_and_subfolders(tmp_path: Path,
                                                                fat_image: FatImage):
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "TZ": "UTC"}
    extra = tmp_path / "src"
    extra.mkdir()
    (extra / "readme.txt").write_text("x")
    (extra / "CAMLOG.TXT").write_text("y")
    os.utime(extra / "readme.txt", (0, datetime(2026, 3, 1, 7, 8, 10, tzinfo=UTC).timestamp()))
    os.utime(extra / "CAMLOG.TXT", (0, datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()))
    img = str(fat_image.image)
    subprocess.run(["mmd", "-i", img, "::MISC", "::MISC/Deep Folder"], check=True, env=env)
    subprocess.run(["mcopy", "-m", "-i", img, str(extra / "readme.txt"), "::MISC/Deep Folder/"],
                   check=True, env=env)
    subprocess.run(["mcopy", "-m", "-i", img, str(extra / "CAMLOG.TXT"), "::MISC/"], check=True,
                   env=env)
    subprocess.run(["mdel", "-i", img, f"::{fat_image.paths[1]}"], check=True, env=env)
    found = m.fat_mtimes(img)
    assert found == {
        fat_image.paths[0]: datetime(2026, 11, 20, 9, 30, 2),
        fat_image.paths[2]: datetime(2026, 11, 20, 9, 30, 6),  # the deleted one is not listed
        "MISC/Deep Folder/readme.txt": datetime(2026, 3, 1, 7, 8, 10),
        "MISC/CAMLOG.TXT": datetime(2025, 12, 31, 23, 59, 58),  # FAT keeps 2 s steps
    }


def test_fat_mtimes_refuses_what_is_not_fat(tmp_path: Path):
    junk = tmp_path / "junk.img"
    junk.write_bytes(b"\0" * 4096)
    with pytest.raises(SourceUnusable, match="FAT directory cannot be read") as caught:
        m.fat_mtimes(str(junk))
    assert caught.value.exit_code == ExitCode.DEVICE
    with pytest.raises(SourceUnusable, match="cannot be opened"):
        m.fat_mtimes(str(tmp_path / "missing.img"))


@pytest.mark.parametrize("fat_bits", ["12", "16"])
def test_fat_mtimes_reads_fat12_and_fat16_too(tmp_path: Path, fat_bits: str):
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "TZ": "UTC"}
    img = tmp_path / "small.img"
    with img.open("wb") as fh:
        fh.truncate((2 if fat_bits == "12" else 20) * 1024**2)
    subprocess.run(["mkfs.vfat", "-F", fat_bits, str(img)], check=True, capture_output=True)
    src = tmp_path / "LONG file name.mp4"
    src.write_bytes(b"z")
    os.utime(src, (0, datetime(2027, 2, 28, 12, 0, 4, tzinfo=UTC).timestamp()))
    subprocess.run(["mcopy", "-m", "-i", str(img), str(src), "::"], check=True, env=env)
    assert m.fat_mtimes(str(img)) == {"LONG file name.mp4": datetime(2027, 2, 28, 12, 0, 4)}


# ---- real mounts (root, loop devices) -------------------------------------------------------

def _block_ro(dev: str) -> bool:
    return subprocess.run(["blockdev", "--getro", dev], capture_output=True, text=True,
                          check=True).stdout.strip() == "1"


@pytest.fixture
def mounts() -> Iterator[list[m.Mounted]]:
    """Every mount a test makes is released, even when the test fails."""
    made: list[m.Mounted] = []
    yield made
    for mounted in reversed(made):
        m.unmount(mounted, delay=0)


def _ext4_image(tmp_path: Path, source: Path) -> Path:
    image = tmp_path / "camera-ext4.img"
    with image.open("wb") as fh:
        fh.truncate(16 * 1024**2)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "BODYCAM", "-d", str(source), str(image)],
                   check=True, capture_output=True)
    return image


class TestRealMounts:
    pytestmark = ROOT_MARKS

    def test_fat_camera_mounts_read_only_through_fusefat_and_reads_true_bytes(
            self, tmp_path: Path, fat_image: FatImage, camera_media: FolderCamera,
            mounts: list[m.Mounted]):
        before = sha256_of(fat_image.image)
        with loop_device(fat_image.image) as dev:
            kernel_has_vfat = "vfat" in m.kernel_filesystems(Path("/proc/filesystems").read_text())
            mounted = m.mount_readonly(dev, "vfat", tmp_path / "mnt")
            mounts.append(mounted)
            assert mounted.method == ("kernel" if kernel_has_vfat else "fusefat")
            assert stat.S_IMODE(mounted.mountpoint.stat().st_mode) == 0o700
            opts = m.mount_options(Path("/proc/self/mountinfo").read_text(), mounted.mountpoint)
            assert opts is not None and {"ro", "nosuid", "nodev", "noexec"} <= opts
            for rel, master in zip(fat_image.paths, camera_media.paths, strict=True):
                assert (mounted.mountpoint / rel).read_bytes() == master.read_bytes()
            with pytest.raises(OSError) as caught:
                (mounted.mountpoint / "DCIM" / "new.txt").write_text("x")
            assert caught.value.errno in (errno.EROFS, errno.EACCES, errno.EPERM)
            assert _block_ro(dev)
            fd = os.open(dev, os.O_RDWR)  # root may open it; the kernel refuses the write
            try:
                with pytest.raises(OSError) as refused:
                    os.pwrite(fd, os.pread(fd, 512, 0), 0)
                assert refused.value.errno == errno.EPERM
            finally:
                os.close(fd)
            m.unmount(mounted)
            mounts.clear()
            assert not mounted.mountpoint.exists()
        assert sha256_of(fat_image.image) == before

    def test_fusefat_shows_mtimes_one_month_late_and_fat_mtimes_does_not(
            self, tmp_path: Path, fat_image: FatImage, mounts: list[m.Mounted]):
        """Pins fusefat 0.1a's month bug: if this starts failing, fusefat was fixed upstream."""
        with loop_device(fat_image.image) as dev:
            mounted = m.mount_readonly(dev, "vfat", tmp_path / "mnt")
            mounts.append(mounted)
            if mounted.method != "fusefat":
                pytest.skip("this kernel mounts vfat itself")
            truth = m.fat_mtimes(dev)
            for rel in fat_image.paths:
                shown = datetime.fromtimestamp((mounted.mountpoint / rel).stat().st_mtime, UTC)
                assert shown.replace(tzinfo=None) == truth[rel].replace(month=12)

    def test_ext4_camera_mounts_through_the_kernel_with_noload_and_true_mtimes(
            self, tmp_path: Path, folder_camera: FolderCamera, mounts: list[m.Mounted]):
        image = _ext4_image(tmp_path, folder_camera.root)
        before = sha256_of(image)
        with loop_device(image) as dev:
            mounted = m.mount_readonly(dev, "ext4", tmp_path / "mnt")
            mounts.append(mounted)
            assert mounted.method == "kernel"
            opts = m.mount_options(Path("/proc/self/mountinfo").read_text(), mounted.mountpoint)
            assert opts is not None and {"ro", "nosuid", "nodev", "noexec"} <= opts
            for path in folder_camera.paths:
                seen = mounted.mountpoint / path.relative_to(folder_camera.root)
                assert seen.stat().st_mtime == path.stat().st_mtime  # the kernel gets it right
                assert seen.read_bytes() == path.read_bytes()
            m.unmount(mounted)
            mounts.clear()
        assert sha256_of(image) == before

    def test_remount_writable_works_for_kernel_mounts_only(
            self, tmp_path: Path, folder_camera: FolderCamera, fat_image: FatImage,
            mounts: list[m.Mounted]):
        image = _ext4_image(tmp_path, folder_camera.root)
        with loop_device(image) as dev:
            ro = m.mount_readonly(dev, "ext4", tmp_path / "mnt")
            mounts.append(ro)
            rw = m.remount_writable(ro)
            mounts[:] = [rw]
            assert not _block_ro(dev)
            (rw.mountpoint / "wiped.txt").write_text("ok")
            m.unmount(rw)
            mounts.clear()
        with loop_device(fat_image.image) as dev:
            fuse = m.mount_readonly(dev, "vfat", tmp_path / "mnt2")
            mounts.append(fuse)
            if fuse.method == "kernel":
                pytest.skip("this kernel mounts vfat itself")
            with pytest.raises(Refused, match="never writes to a camera through FUSE") as caught:
                m.remount_writable(fuse)
            assert caught.value.exit_code == ExitCode.REFUSED
            assert _block_ro(dev)

    def test_exfat_camera_mounts_read_only(self, tmp_path: Path, camera_media: FolderCamera,
                                           mounts: list[m.Mounted]):
        if not shutil.which("mkfs.exfat", path="/usr/sbin:/sbin:/usr/bin"):
            pytest.skip("mkfs.exfat (exfatprogs) is not installed; run scripts/setup.sh")
        image = tmp_path / "exfat.img"
        with image.open("wb") as fh:
            fh.truncate(16 * 1024**2)
        subprocess.run(["mkfs.exfat", "-L", "BODYCAM", str(image)], check=True,
                       capture_output=True)
        with loop_device(image) as dev:  # populate through a writable mount, as a camera would
            filler = tmp_path / "fill"
            filler.mkdir()
            subprocess.run(["mount.exfat-fuse", dev, str(filler)], check=True, capture_output=True)
            try:
                shutil.copytree(camera_media.root, filler, dirs_exist_ok=True)
            finally:
                subprocess.run(["umount", str(filler)], check=True)
            mounted = m.mount_readonly(dev, "exfat", tmp_path / "mnt")
            mounts.append(mounted)
            assert mounted.method in ("kernel", "exfat-fuse")
            opts = m.mount_options(Path("/proc/self/mountinfo").read_text(), mounted.mountpoint)
            assert opts is not None and "ro" in opts
            for path in camera_media.paths:
                seen = mounted.mountpoint / path.relative_to(camera_media.root)
                assert seen.read_bytes() == path.read_bytes()

    def test_busy_mount_is_retried_then_detached_lazily(
            self, tmp_path: Path, fat_image: FatImage, caplog: pytest.LogCaptureFixture,
            mounts: list[m.Mounted]):
        with loop_device(fat_image.image) as dev:
            mounted = m.mount_readonly(dev, "vfat", tmp_path / "mnt")
            mounts.append(mounted)
            naps: list[float] = []
            with (mounted.mountpoint / fat_image.paths[0]).open("rb") as held, \
                    caplog.at_level(logging.WARNING, logger=m.__name__):
                m.unmount(mounted, attempts=3, delay=0.5, sleep=naps.append)
                assert naps == [0.5, 0.5]
                assert "detached lazily" in caplog.text
                assert held.read(8)  # an open file still reads after a lazy detach
            assert m.mount_options(Path("/proc/self/mountinfo").read_text(),
                                   mounted.mountpoint) is None
            m.unmount(mounted)  # idempotent
            mounts.clear()

    def test_unusable_sources_fail_with_one_sentence(self, tmp_path: Path, fat_image: FatImage,
                                                     mounts: list[m.Mounted]):
        with pytest.raises(SourceUnusable, match="does not exist; the camera was unplugged"):
            m.mount_readonly("/dev/nonexistent-cam", "vfat", tmp_path / "a")
        with pytest.raises(SourceUnusable, match="not a block device; attach an image"):
            m.mount_readonly(str(fat_image.image), "vfat", tmp_path / "b")
        with loop_device(fat_image.image) as dev:
            with pytest.raises(SourceUnusable, match="'ntfs' is not supported"):
                m.mount_readonly(dev, "ntfs", tmp_path / "c")
            with pytest.raises(SourceUnusable, match=r"read-only mount failed"):
                m.mount_readonly(dev, "ext4", tmp_path / "d")  # a FAT camera is no ext4
            assert not (tmp_path / "d").exists()  # a failed mount leaves no mount point behind
            busy = tmp_path / "e"
            busy.mkdir()
            (busy / "leftover").write_text("x")
            with pytest.raises(SourceUnusable, match="in use or not empty"):
                m.mount_readonly(dev, "vfat", busy)
        other = tmp_path / "ext4.img"
        with other.open("wb") as fh:
            fh.truncate(8 * 1024**2)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(other)], check=True, capture_output=True)
        with loop_device(other) as dev:
            if "vfat" in m.kernel_filesystems(Path("/proc/filesystems").read_text()):
                pytest.skip("this kernel mounts vfat itself")
            with pytest.raises(SourceUnusable, match=r"fusefat crashed .*check its type"):
                m.mount_readonly(dev, "vfat", tmp_path / "f")
        assert not mounts


@requires_root
def test_loop_devices_forget_a_previous_read_only_flag(fat_image: FatImage):
    """The fixture's promise: a loop device left read-only by someone else comes back writable."""
    with loop_device(fat_image.image) as dev:
        m.set_block_read_only(dev)
        assert _block_ro(dev)
    with loop_device(fat_image.image) as dev:
        assert not _block_ro(dev)

