"""The copy engine on real files, real media, real kernel errors: an unplugged FUSE FAT camera,
an unmapped range of /proc/self/mem, a full tmpfs. Every test also checks that no thread outlives it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import mmap
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bodycam_ingest.ingest.copier import (
    CopyCancelled,
    CopyResult,
    SourceReadError,
    StoreWriteError,
    copy_and_hash,
    hash_fd,
)

CHUNK = 64 * 1024  # small buffers so that multi-buffer cases stay small files
SRC_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
DST_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root to mount a filesystem")


@pytest.fixture(autouse=True)
def no_thread_outlives_the_test() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leaked, f"threads left running: {leaked}"


@pytest.fixture(scope="session")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (tiny) H.264 recording, as a camera writes one."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    path = tmp_path_factory.mktemp("media") / "A1024_DSJ9X001_20261122093000_0001.MP4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i",
         "testsrc=size=160x120:rate=5:duration=2", "-c:v", "libx264", "-preset", "ultrafast",
         "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )
    return path


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def copy_file(src: Path, dst: Path, **options: object) -> CopyResult:
    sfd = os.open(src, SRC_FLAGS)
    try:
        dfd = os.open(dst, DST_FLAGS, 0o600)
        try:
            return copy_and_hash(sfd, dfd, **options)  # type: ignore[arg-type]
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------------------
# What gets stored and hashed


def test_copy_of_a_real_recording_stores_identical_bytes_and_their_hash(
    recording: Path, tmp_path: Path
) -> None:
    data = recording.read_bytes()
    result = copy_file(recording, tmp_path / "staged.part")
    assert result == CopyResult(sha256=sha256(data), size=len(data))
    assert (tmp_path / "staged.part").read_bytes() == data


@pytest.mark.parametrize(
    "size",
    [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK, 7 * CHUNK + 12345],
    ids=["empty", "one-byte", "buffer-1", "one-buffer", "buffer+1", "several-buffers",
         "many-buffers-and-a-tail"],
)
def test_digest_equals_hashlib_over_the_file_for_every_size(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    src = write(tmp_path / "src", data)
    # A tiny window exercises the early-writeback path on every few chunks.
    result = copy_file(src, tmp_path / "dst", chunk_size=CHUNK, ring_slots=3,
                       writeback_window=2 * CHUNK)
    assert result == CopyResult(sha256=sha256(data), size=size)
    assert (tmp_path / "dst").read_bytes() == data


def test_copy_starts_at_the_current_offsets_of_both_descriptors(tmp_path: Path) -> None:
    data = os.urandom(3 * CHUNK)
    src = write(tmp_path / "src", data)
    sfd = os.open(src, SRC_FLAGS)
    dfd = os.open(tmp_path / "dst", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.lseek(sfd, 1000, os.SEEK_SET)
        os.write(dfd, b"HEADER")
        result = copy_and_hash(sfd, dfd, chunk_size=CHUNK)
    finally:
        os.close(sfd)
        os.close(dfd)
    assert result == CopyResult(sha256=sha256(data[1000:]), size=len(data) - 1000)
    assert (tmp_path / "dst").read_bytes() == b"HEADER" + data[1000:]


def test_progress_reports_growing_byte_counts_ending_at_the_size(tmp_path: Path) -> None:
    data = os.urandom(6 * CHUNK + 7)
    src = write(tmp_path / "src", data)
    seen: list[int] = []
    copy_file(src, tmp_path / "dst", chunk_size=CHUNK, progress=seen.append)
    assert seen, "progress was never called"
    assert seen == sorted(seen)
    assert seen[-1] == len(data)
    assert all(0 <= n <= len(data) for n in seen)


def test_a_recording_that_grows_during_the_copy_is_refused(tmp_path: Path) -> None:
    src = write(tmp_path / "src", os.urandom(4 * CHUNK))

    def camera_still_writing(_done: int) -> None:
        with src.open("ab") as f:
            f.write(b"more")

    with pytest.raises(SourceReadError, match="changed size"):
        copy_file(src, tmp_path / "dst", chunk_size=CHUNK, progress=camera_still_writing)


# ------------------------------------------------------------------------------------------------
# Failures: each side named, nothing left running


class _UnmappedAfter:
    """Memory whose first `size` bytes are readable and whose next page is unmapped.

    Read through /proc/self/mem, the kernel returns the readable bytes and then EIO: a real
    read error from a real file descriptor, without root or special hardware.
    """

    def __init__(self, size: int) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.mmap.restype = ctypes.c_void_p
        self.libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                                   ctypes.c_int, ctypes.c_long)
        self.libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
        self.size = size
        addr = self.libc.mmap(None, size + mmap.PAGESIZE, mmap.PROT_READ | mmap.PROT_WRITE,
                              mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        assert addr not in (None, ctypes.c_void_p(-1).value)
        self.addr: int = addr
        ctypes.memmove(addr, os.urandom(size), size)
        assert self.libc.munmap(addr + size, mmap.PAGESIZE) == 0

    def close(self) -> None:
        self.libc.munmap(self.addr, self.size)


def test_a_source_that_fails_mid_read_raises_source_read_error(tmp_path: Path) -> None:
    memory = _UnmappedAfter(3 * CHUNK)
    sfd = os.open("/proc/self/mem", os.O_RDONLY | os.O_CLOEXEC)
    dfd = os.open(tmp_path / "dst", DST_FLAGS, 0o600)
    try:
        os.lseek(sfd, memory.addr, os.SEEK_SET)
        with pytest.raises(SourceReadError) as caught:
            copy_and_hash(sfd, dfd, chunk_size=CHUNK, src_name="camera/F.MP4")
    finally:
        os.close(sfd)
        os.close(dfd)
        memory.close()
    assert caught.value.errno == errno.EIO
    assert isinstance(caught.value.__cause__, OSError)
    assert "camera/F.MP4" in str(caught.value)


@pytest.fixture
def fat_camera(tmp_path: Path, recording: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    """A real FAT image holding one recording, mounted through FUSE (fusefat) like a USB camera."""
    if not IS_ROOT:
        pytest.skip("needs root to mount a FUSE filesystem")
    for tool in ("fusefat", "mkfs.vfat", "mcopy", "fusermount"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    # Large enough that the kernel's readahead cannot have fetched it all before the unplug.
    clip = write(tmp_path / "clip.MP4", recording.read_bytes() + os.urandom(4 * 1024 * 1024))
    image = tmp_path / "camera.img"
    with image.open("wb") as f:
        f.truncate(32 * 1024 * 1024)
    subprocess.run(["mkfs.vfat", str(image)], check=True, capture_output=True)
    subprocess.run(["mcopy", "-i", str(image), str(clip), "::CLIP.MP4"], check=True)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    daemon = subprocess.Popen(["fusefat", "-f", "-o", "ro", str(image), str(mnt)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(500):  # polls for readiness; no timing assumption beyond "eventually"
            if os.path.ismount(mnt):
                break
            if daemon.poll() is not None:
                pytest.skip("fusefat could not mount (no /dev/fuse?)")
            time.sleep(0.01)
        else:
            pytest.skip("fusefat did not mount")
        yield mnt / "CLIP.MP4", daemon
    finally:
        if daemon.poll() is None:
            daemon.kill()
        daemon.wait()
        subprocess.run(["fusermount", "-u", "-z", str(mnt)], check=False, capture_output=True)


@pytest.mark.root
def test_unplugging_the_camera_mid_copy_raises_source_read_error(
    fat_camera: tuple[Path, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    path, daemon = fat_camera

    def unplug(_done: int) -> None:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()

    sfd = os.open(path, SRC_FLAGS)
    dfd = os.open(tmp_path / "dst", DST_FLAGS, 0o600)
    try:
        with pytest.raises(SourceReadError) as caught:
            copy_and_hash(sfd, dfd, chunk_size=CHUNK, progress=unplug)
    finally:
        with contextlib.suppress(OSError):  # closing a file of a dead FUSE mount fails too
            os.close(sfd)
        os.close(dfd)
    assert caught.value.errno in (errno.ENOTCONN, errno.EIO, errno.ENODEV)
    assert isinstance(caught.value.__cause__, OSError)


@pytest.mark.root
@pytest.mark.parametrize("drop_cache", [False, True], ids=["page-cache", "from-medium"])
def test_hash_fd_reads_a_camera_file_on_a_fuse_fat_mount(
    fat_camera: tuple[Path, subprocess.Popen[bytes]], tmp_path: Path, drop_cache: bool
) -> None:
    """Before a wipe the camera file itself is re-read; FUSE has its own O_DIRECT rules."""
    path, _daemon = fat_camera
    expected = (tmp_path / "clip.MP4").read_bytes()
    fd = os.open(path, SRC_FLAGS)
    try:
        assert hash_fd(fd, drop_cache=drop_cache) == CopyResult(sha256(expected), len(expected))
    finally:
        os.close(fd)


@pytest.mark.root
def test_a_full_store_raises_store_write_error(tmp_path: Path) -> None:
    if not IS_ROOT:
        pytest.skip("needs root to mount a 1 MiB tmpfs")
    store = tmp_path / "store"
    store.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(store)], check=True)
    try:
        src = write(tmp_path / "src", os.urandom(2 * 1024 * 1024))
        with pytest.raises(StoreWriteError) as caught:
            copy_file(src, store / "staged.part", chunk_size=CHUNK, dst_name="staging/x.part")
    finally:
        subprocess.run(["umount", str(store)], check=True)
    assert caught.value.errno == errno.ENOSPC
    assert isinstance(caught.value.__cause__, OSError)
    assert "staging/x.part" in str(caught.value)


def test_cancel_before_start_raises_copy_cancelled(tmp_path: Path) -> None:
    src = write(tmp_path / "src", os.urandom(2 * CHUNK))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CopyCancelled):
        copy_file(src, tmp_path / "dst", chunk_size=CHUNK, cancel=cancel)


def test_cancel_mid_copy_raises_copy_cancelled(tmp_path: Path) -> None:
    src = write(tmp_path / "src", os.urandom(8 * CHUNK))
    cancel = threading.Event()
    with pytest.raises(CopyCancelled):
        # The daemon's SIGTERM handler sets the event from another thread; here the first
        # progress report does, which is the same thing at a known point.
        copy_file(src, tmp_path / "dst", chunk_size=CHUNK, cancel=cancel,
                  progress=lambda _n: cancel.set())


def test_an_exception_from_the_progress_callback_stops_every_thread(tmp_path: Path) -> None:
    src = write(tmp_path / "src", os.urandom(8 * CHUNK))

    def broken(_n: int) -> None:
        raise RuntimeError("display gone")

    with pytest.raises(RuntimeError, match="display gone"):
        copy_file(src, tmp_path / "dst", chunk_size=CHUNK, progress=broken)


def test_errors_carry_exit_codes_for_the_cli() -> None:
    from bodycam_ingest.errors import BodycamError, ExitCode

    for cls, code in ((SourceReadError, ExitCode.INCOMPLETE), (StoreWriteError, ExitCode.STORAGE),
                      (CopyCancelled, ExitCode.INCOMPLETE)):
        assert issubclass(cls, BodycamError)
        assert cls.exit_code == code


# ------------------------------------------------------------------------------------------------
# hash_fd: the verify re-read


@pytest.mark.parametrize("drop_cache", [False, True], ids=["page-cache", "from-medium"])
@pytest.mark.parametrize("size", [0, 1, 4096, CHUNK, 9 * CHUNK + 4097])
def test_hash_fd_equals_hashlib_and_leaves_the_offset_alone(
    tmp_path: Path, drop_cache: bool, size: int
) -> None:
    data = os.urandom(size)
    path = write(tmp_path / "f", data)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.lseek(fd, min(size, 7), os.SEEK_SET)
        result = hash_fd(fd, drop_cache=drop_cache, chunk_size=CHUNK, readers=2, ring_slots=3)
        assert os.lseek(fd, 0, os.SEEK_CUR) == min(size, 7)
    finally:
        os.close(fd)
    assert result == CopyResult(sha256=sha256(data), size=size)


@pytest.mark.parametrize("drop_cache", [False, True], ids=["page-cache", "from-medium"])
def test_hash_fd_verifies_what_copy_and_hash_stored(
    recording: Path, tmp_path: Path, drop_cache: bool
) -> None:
    staged = tmp_path / "staged.part"
    copied = copy_file(recording, staged)
    fd = os.open(staged, os.O_RDONLY | os.O_CLOEXEC)
    try:
        assert hash_fd(fd, drop_cache=drop_cache) == copied
    finally:
        os.close(fd)


def test_hash_fd_sees_a_flipped_bit_in_the_stored_copy(recording: Path, tmp_path: Path) -> None:
    staged = tmp_path / "staged.part"
    copied = copy_file(recording, staged)
    with staged.open("r+b") as f:
        f.seek(copied.size // 2)
        byte = f.read(1)[0]
        f.seek(copied.size // 2)
        f.write(bytes([byte ^ 0x01]))
    fd = os.open(staged, os.O_RDONLY | os.O_CLOEXEC)
    try:
        assert hash_fd(fd, drop_cache=True) != copied
    finally:
        os.close(fd)


@needs_root
@pytest.mark.root
def test_hash_fd_from_medium_works_on_a_filesystem_with_its_own_o_direct_rules(
    tmp_path: Path,
) -> None:
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True)
    try:
        data = os.urandom(3 * CHUNK + 5)
        path = write(mnt / "f", data)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            assert hash_fd(fd, drop_cache=True, chunk_size=CHUNK).sha256 == sha256(data)
        finally:
            os.close(fd)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_hash_fd_read_error_propagates_as_os_error() -> None:
    memory = _UnmappedAfter(2 * CHUNK)
    fd = os.open("/proc/self/mem", os.O_RDONLY | os.O_CLOEXEC)
    try:
        # /proc/self/mem is read from offset 0: page 0 is never mapped, so the first read fails.
        with pytest.raises(OSError) as caught:
            hash_fd(fd, chunk_size=CHUNK)
    finally:
        os.close(fd)
        memory.close()
    assert caught.value.errno == errno.EIO


def test_bad_buffer_sizes_are_refused(tmp_path: Path) -> None:
    src = write(tmp_path / "src", b"x")
    with pytest.raises(ValueError, match="multiple"):
        copy_file(src, tmp_path / "dst", chunk_size=1000)
