"""Mount a docked camera so that nothing on this station can change a byte of it.

The camera is evidence before it is ingested: a journal replay, an atime update or a stray write
would alter the original. So the block device is first made read-only in the kernel (BLKROSET),
then mounted ``ro,nosuid,nodev,noexec`` by the kernel driver, or, where the kernel lacks the
filesystem (this station has no vfat), by a FUSE driver opened read-only. Every failure is a
``SourceUnusable`` with one sentence naming the problem and the fix.

Times on FAT: directory entries hold the camera's wall-clock time with no zone. Both mount paths
are told to read them as UTC (``tz=UTC`` for the kernel, ``TZ=UTC`` for FUSE), so ``st_mtime`` on a
camera mount is "wall clock as if UTC". fusefat 0.1a adds one month to every date (it passes the
1-based FAT month to ``mktime``, which counts from 0; 31 January becomes 3 March), so the product
must take camera mtimes from ``fat_mtimes``, which reads the directory entries themselves.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import logging
import os
import re
import shutil
import signal
import stat
import struct
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bodycam_ingest.errors import Refused, SourceUnusable

log = logging.getLogger(__name__)

BLKROSET = 0x125D  # _IO(0x12, 93): set the block device read-only in the kernel
BLKROGET = 0x125E  # _IO(0x12, 94)
KERNEL, FUSEFAT, EXFAT_FUSE = "kernel", "fusefat", "exfat-fuse"
SUPPORTED = ("vfat", "exfat", "ext4", "ext3", "ext2")
FUSE_TOOLS = {"vfat": (FUSEFAT, ("fusefat",)),
              "exfat": (EXFAT_FUSE, ("mount.exfat-fuse", "exfat-fuse"))}
_SBIN = os.pathsep.join(("/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin"))


@dataclass(frozen=True)
class Mounted:
    """A camera filesystem mounted at ``mountpoint``; ``method`` is kernel, fusefat or exfat-fuse."""

    devnode: str
    mountpoint: Path
    method: str
    fstype: str


# ---- pure decisions -------------------------------------------------------------------------

def kernel_filesystems(proc_filesystems: str) -> frozenset[str]:
    """Names from /proc/filesystems (``nodev<TAB>name`` or ``<TAB>name`` lines)."""
    return frozenset(line.split()[-1] for line in proc_filesystems.splitlines() if line.strip())


def choose_method(fstype: str, kernel_fs: frozenset[str]) -> str:
    """Prefer the kernel driver; fall back to FUSE only for the FAT family it lacks."""
    if fstype not in SUPPORTED:
        raise ValueError(f"filesystem {fstype!r} is not supported; cameras use vfat, exfat or ext4")
    if fstype in kernel_fs:
        return KERNEL
    if fstype in FUSE_TOOLS:
        return FUSE_TOOLS[fstype][0]
    raise ValueError(f"this kernel has no {fstype} driver; load it (modprobe {fstype})")


def kernel_options(fstype: str, uid: int, gid: int, *, writable: bool = False) -> str:
    """Mount options: never suid/dev/exec; ext4 ``noload`` so even a dirty journal stays unplayed."""
    opts = ["rw" if writable else "ro", "nosuid", "nodev", "noexec"]
    if fstype.startswith("ext") and not writable:
        opts.append("noload")
    if fstype in ("vfat", "exfat"):
        fmask, dmask = ("0177", "0077") if writable else ("0337", "0227")
        opts += [f"uid={uid}", f"gid={gid}", f"fmask={fmask}", f"dmask={dmask}"]
        opts += ["utf8", "shortname=mixed", "tz=UTC"] if fstype == "vfat" else ["iocharset=utf8"]
    return ",".join(opts)


def mount_options(mountinfo: str, mountpoint: Path) -> set[str] | None:
    """Per-mount options of ``mountpoint`` in /proc/self/mountinfo text, None when not mounted."""
    found: set[str] | None = None
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 5:
            target = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[4])  # \040
            if target == str(mountpoint):
                found = set(fields[5].split(","))  # the last (top) mount wins
    return found


# ---- thin edges -----------------------------------------------------------------------------

def _fail(devnode: str, reason: str) -> SourceUnusable:
    return SourceUnusable(source=devnode, reason=reason)


def _run(devnode: str, argv: list[str], what: str,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one tool; a failure becomes a sentence that names the step and quotes the tool."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False,
                              timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise _fail(devnode, f"{what} could not run {argv[0]} ({exc})") from exc
    if proc.returncode < 0:
        crash = f"{what} failed: {Path(argv[0]).name} crashed ({signal.Signals(-proc.returncode).name})"
        if argv[0].endswith(FUSEFAT):
            crash += ", as fusefat does when the device holds no FAT filesystem; check its type"
        raise _fail(devnode, crash)
    if proc.returncode != 0:
        said = " ".join(proc.stderr.split())[-300:] or f"exit status {proc.returncode}"
        raise _fail(devnode, f"{what} failed: {said}")
    return proc


def _tool(devnode: str, names: tuple[str, ...]) -> str:
    for name in names:
        found = shutil.which(name) or shutil.which(name, path=_SBIN)
        if found:
            return found
    raise _fail(devnode, f"{names[0]} is not installed; run scripts/setup.sh")


def set_block_read_only(devnode: str, read_only: bool = True) -> None:
    """Flip the kernel's read-only flag of the block device, and check that it took.

    Why no restore: a camera's block device is destroyed when it is unplugged and re-created
    writable on the next dock, so the flag cannot outlive the visit. Loop devices are the
    exception (the flag stays with /dev/loopN after ``losetup -d``); whoever detaches one clears it.
    """
    try:
        fd = os.open(devnode, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise _fail(devnode, f"the device cannot be opened ({exc.strerror}); was it unplugged?"
                    ) from exc
    try:
        fcntl.ioctl(fd, BLKROSET, struct.pack("i", int(read_only)))
        got = bytearray(4)
        fcntl.ioctl(fd, BLKROGET, got)
    except OSError as exc:
        raise _fail(devnode, f"setting it read-only in the kernel failed ({exc.strerror}); "
                             "the station must run as root") from exc
    finally:
        os.close(fd)
    if bool(struct.unpack("i", got)[0]) != read_only:
        raise _fail(devnode, "the kernel did not keep the read-only flag; refusing to mount")


def _prepare_mountpoint(devnode: str, mountpoint: Path) -> None:
    try:
        mountpoint.mkdir(mode=0o700, parents=True, exist_ok=True)
        mountpoint.chmod(0o700)
        busy = os.path.ismount(mountpoint) or any(mountpoint.iterdir())
    except OSError as exc:
        raise _fail(devnode, f"mount point {mountpoint} cannot be prepared ({exc})") from exc
    if busy:
        raise _fail(devnode, f"mount point {mountpoint} is in use or not empty; unmount or "
                             "empty it first")


def _options_now(mountpoint: Path) -> set[str] | None:
    return mount_options(Path("/proc/self/mountinfo").read_text(), mountpoint)


def mount_readonly(devnode: str, fstype: str, mountpoint: Path) -> Mounted:
    """Make ``devnode`` read-only in the kernel, then mount it read-only at ``mountpoint`` (0700)."""
    try:
        is_block = stat.S_ISBLK(os.stat(devnode).st_mode)
    except OSError as exc:
        raise _fail(devnode, "the device node does not exist; the camera was unplugged or the "
                             "name is wrong") from exc
    if not is_block:
        raise _fail(devnode, "it is not a block device; attach an image with losetup first")
    try:
        method = choose_method(fstype, kernel_filesystems(Path("/proc/filesystems").read_text()))
    except ValueError as exc:
        raise _fail(devnode, str(exc)) from exc
    set_block_read_only(devnode)
    _prepare_mountpoint(devnode, mountpoint)
    where = str(mountpoint)
    try:
        if method == KERNEL:
            opts = kernel_options(fstype, os.geteuid(), os.getegid())
            kernel_mount(devnode, fstype, opts, mountpoint, "read-only mount")
        else:
            tool = _tool(devnode, FUSE_TOOLS[fstype][1])
            env = {**os.environ, "TZ": "UTC"}  # read FAT wall-clock times as UTC, like tz=UTC
            # fusefat prints debug noise on stderr and daemonizes; the mount is live on return.
            _run(devnode, [tool, "-o", "ro,nosuid,nodev,noexec", devnode, where],
                 f"read-only {method} mount", env)
    except SourceUnusable:
        mountpoint.rmdir()  # empty (checked above): a failed dock leaves nothing behind
        raise
    mounted = Mounted(devnode=devnode, mountpoint=mountpoint, method=method, fstype=fstype)
    opts_now = _options_now(mountpoint)
    if opts_now is None or "ro" not in opts_now:
        if opts_now is not None:
            unmount(mounted)
        raise _fail(devnode, f"the {method} mount at {where} is not read-only; refusing to use it")
    log.info("mounted %s (%s) read-only at %s via %s", devnode, fstype, where, method)
    return mounted


CAP_SYS_ADMIN = 21


def has_cap_sys_admin(status: str | None = None) -> bool:
    """Whether this process may mount and unmount (CAP_SYS_ADMIN in CapEff of /proc/self/status);
    the service runs unprivileged with exactly this capability."""
    if status is None:
        try:
            status = Path("/proc/self/status").read_text()
        except OSError:
            return os.geteuid() == 0
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_SYS_ADMIN & 1)
    return os.geteuid() == 0


MNT_DETACH = 2
MS_FLAGS = {"ro": 1, "nosuid": 2, "nodev": 4, "noexec": 8}  # MS_RDONLY, MS_NOSUID, ...


def split_options(options: str) -> tuple[int, str]:
    """mount(8)-style options as mount(2) takes them: (flags, filesystem data) (pure)."""
    flags, data = 0, []
    for item in options.split(","):
        if item in MS_FLAGS:
            flags |= MS_FLAGS[item]
        elif item != "rw":
            data.append(item)
    return flags, ",".join(data)


def kernel_mount(devnode: str, fstype: str, options: str, target: Path, what: str) -> None:
    """mount(2) itself, as umount2: no helper. util-linux mount(8) run by the service user takes
    libmount's restricted path, which calls setuid() (outside the unit's syscall filter)."""
    flags, data = split_options(options)
    if _libc().mount(os.fsencode(devnode), os.fsencode(target), fstype.encode(), flags,
                     data.encode()) != 0:
        err = ctypes.get_errno()
        hint = "; check its filesystem type" if err == errno.EINVAL else ""
        raise _fail(devnode, f"{what} failed ({os.strerror(err)}{hint})")


@functools.cache
def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def umount2(path: Path, flags: int = 0) -> None:
    """The umount2(2) system call itself (the unit's filter allows it; CAP_SYS_ADMIN permits it).
    No helper: umount(8) as a non-root user takes libmount's restricted path and fusermount(1)
    calls setfsuid(), which the unit's filter kills."""
    if _libc().umount2(os.fsencode(path), flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(path))


def _umount(m: Mounted, attempts: int, delay: float, sleep: Callable[[float], None]) -> None:
    """With CAP_SYS_ADMIN (root, or the unit's service user) the kernel is asked directly, FUSE
    mounts included; ``fusermount -u`` only for a user without it."""
    if not has_cap_sys_admin():
        _fusermount(m, attempts, delay, sleep)
        return
    for attempt in range(1, attempts + 1):
        if _options_now(m.mountpoint) is None:
            return
        try:
            umount2(m.mountpoint)
            return
        except OSError as exc:
            if exc.errno == errno.EINVAL and _options_now(m.mountpoint) is None:
                return  # gone meanwhile
            if exc.errno != errno.EBUSY:
                raise _fail(m.devnode, f"unmounting {m.mountpoint} failed ({exc.strerror})"
                            ) from exc
        if attempt < attempts:
            sleep(delay)
    try:
        umount2(m.mountpoint, MNT_DETACH)
    except OSError as exc:
        raise _fail(m.devnode, f"lazy unmount of {m.mountpoint} failed ({exc.strerror})") from exc
    log.warning("%s stayed busy after %d attempts; detached lazily, open files keep the camera "
                "in use until they are closed", m.mountpoint, attempts)


def _fusermount(m: Mounted, attempts: int, delay: float, sleep: Callable[[float], None]) -> None:
    for attempt in range(1, attempts + 1):
        if _options_now(m.mountpoint) is None:
            return
        proc = subprocess.run(["fusermount", "-u", str(m.mountpoint)], capture_output=True,
                              text=True, check=False, timeout=60)
        if proc.returncode == 0:
            return
        if "busy" not in proc.stderr.lower():
            raise _fail(m.devnode, f"unmounting {m.mountpoint} failed: {proc.stderr.strip()}")
        if attempt < attempts:
            sleep(delay)
    _run(m.devnode, ["fusermount", "-u", "-z", str(m.mountpoint)], "lazy unmount")
    log.warning("%s stayed busy after %d attempts; detached lazily, open files keep the camera "
                "in use until they are closed", m.mountpoint, attempts)


def unmount(m: Mounted, *, attempts: int = 10, delay: float = 0.2,
            sleep: Callable[[float], None] = time.sleep) -> None:
    """Unmount (idempotent), retrying while busy, lazily as the last resort; remove the mountpoint."""
    _umount(m, attempts, delay, sleep)
    try:
        m.mountpoint.rmdir()
    except OSError as exc:  # gone already, or someone put files there: not ours to delete
        log.debug("left mount point %s in place: %s", m.mountpoint, exc)


def remount_writable(m: Mounted) -> Mounted:
    """For wiping a camera after ingest: kernel mounts only. A fresh rw mount (not ``remount``) lets
    ext4 replay its journal, which ``noload`` forbade. FUSE drivers are too immature to write to
    evidence media, so they are refused."""
    if m.method != KERNEL:
        raise Refused(reason=f"{m.mountpoint} is a {m.method} mount and the station never writes "
                             f"to a camera through FUSE; wipe it where the kernel has {m.fstype}")
    _umount(m, attempts=10, delay=0.2, sleep=time.sleep)
    set_block_read_only(m.devnode, read_only=False)
    try:
        _prepare_mountpoint(m.devnode, m.mountpoint)
        opts = kernel_options(m.fstype, os.geteuid(), os.getegid(), writable=True)
        kernel_mount(m.devnode, m.fstype, opts, m.mountpoint, "writable mount")
    except SourceUnusable:
        set_block_read_only(m.devnode)  # fail closed: back to read-only
        raise
    log.warning("mounted %s WRITABLE at %s for wiping", m.devnode, m.mountpoint)
    return Mounted(devnode=m.devnode, mountpoint=m.mountpoint, method=KERNEL, fstype=m.fstype)


# ---- FAT directory entries, read directly ---------------------------------------------------

def _fat_datetime(tm: int, dt: int) -> datetime | None:
    try:
        return datetime(1980 + (dt >> 9), (dt >> 5) & 0xF, dt & 0x1F,
                        tm >> 11, (tm >> 5) & 0x3F, (tm & 0x1F) * 2)
    except ValueError:  # a camera whose clock was never set writes zeros
        return None


def _short_name(entry: bytes) -> str:
    raw = bytes([0xE5]) + entry[1:8] if entry[0] == 0x05 else entry[:8]
    base, ext = raw.decode("cp437").rstrip(), entry[8:11].decode("cp437").rstrip()
    base = base.lower() if entry[12] & 0x08 else base  # NT case flags, as Windows shows them
    ext = ext.lower() if entry[12] & 0x10 else ext
    return f"{base}.{ext}" if ext else base


def _lfn_checksum(short: bytes) -> int:
    total = 0
    for byte in short:
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    return total


@dataclass(frozen=True)
class _FatGeometry:
    read: Callable[[int, int], bytes]
    bits: int
    fat_offset: int
    data_sector: int
    cluster_bytes: int
    bps: int
    clusters: int

    @classmethod
    def probe(cls, read: Callable[[int, int], bytes]) -> tuple[_FatGeometry, bytes]:
        """Geometry from the boot sector, and the root directory's bytes."""
        bs = read(0, 512)

        def u(off: int, size: int = 2) -> int:
            return int.from_bytes(bs[off:off + size], "little")

        bps, spc, reserved, nfats = u(11), bs[13], u(14), bs[16]
        if bs[510:512] != b"\x55\xaa" or bps not in (512, 1024, 2048, 4096) or not spc or not nfats:
            raise ValueError("no FAT boot sector")
        root_entries, fat_sectors, total = u(17), u(22) or u(36, 4), u(19) or u(32, 4)
        root_sector = reserved + nfats * fat_sectors
        data_sector = root_sector + (root_entries * 32 + bps - 1) // bps
        clusters = (total - data_sector) // spc
        bits = 12 if clusters < 4085 else 16 if clusters < 65525 else 32
        geo = cls(read, bits, reserved * bps, data_sector, spc * bps, bps, clusters)
        root = geo.chain(u(44, 4)) if bits == 32 else read(root_sector * bps, root_entries * 32)
        return geo, root

    def next_cluster(self, c: int) -> int:
        if self.bits == 32:
            return int.from_bytes(self.read(self.fat_offset + 4 * c, 4), "little") & 0x0FFFFFFF
        if self.bits == 16:
            return int.from_bytes(self.read(self.fat_offset + 2 * c, 2), "little")
        pair = int.from_bytes(self.read(self.fat_offset + c + c // 2, 2), "little")
        return pair >> 4 if c & 1 else pair & 0xFFF

    def chain(self, first: int, limit: int = 2 * 1024**2) -> bytes:
        """A directory's bytes; ``limit`` (FAT's 65536 entries) also stops a looping chain."""
        parts: list[bytes] = []
        c = first
        while 2 <= c < self.clusters + 2 and len(parts) * self.cluster_bytes < limit:
            parts.append(self.read((self.data_sector * self.bps) + (c - 2) * self.cluster_bytes,
                                   self.cluster_bytes))
            c = self.next_cluster(c)
        return b"".join(parts)


def _walk(geo: _FatGeometry, data: bytes, prefix: str, depth: int,
          found: dict[str, datetime]) -> None:
    lfn: dict[int, str] = {}
    checksum = -1
    for off in range(0, len(data) - 31, 32):
        e = data[off:off + 32]
        if e[0] == 0:
            return
        if e[0] == 0xE5:
            lfn.clear()
            continue
        if e[11] & 0x3F == 0x0F:  # a long-name slot, stored last part first
            if e[0] & 0x40:
                lfn.clear()
            lfn[e[0] & 0x1F] = (e[1:11] + e[14:26] + e[28:32]).decode("utf-16-le", "replace")
            checksum = e[13]
            continue
        name = _short_name(e)
        if lfn and checksum == _lfn_checksum(e[:11]) and sorted(lfn) == list(range(1, len(lfn) + 1)):
            name = "".join(lfn[i] for i in sorted(lfn)).split("\x00")[0]
        lfn.clear()
        if e[11] & 0x08 or name in (".", ".."):
            continue
        high = int.from_bytes(e[20:22], "little") if geo.bits == 32 else 0
        first = high << 16 | int.from_bytes(e[26:28], "little")
        if e[11] & 0x10:
            if first and depth < 16:
                _walk(geo, geo.chain(first), f"{prefix}{name}/", depth + 1, found)
            continue
        when = _fat_datetime(int.from_bytes(e[22:24], "little"), int.from_bytes(e[24:26], "little"))
        if when is not None:
            found[prefix + name] = when


def parse_fat_mtimes(read: Callable[[int, int], bytes]) -> dict[str, datetime]:
    """Camera-relative path -> last-write time (camera wall clock, naive, 2 s resolution) of every
    file on a FAT12/16/32 volume. ``read(offset, size)`` is the only I/O. Long names are used when
    their checksum matches; entries with an impossible date are left out."""
    geo, root = _FatGeometry.probe(read)
    found: dict[str, datetime] = {}
    _walk(geo, root, "", 0, found)
    return found


def fat_mtimes(devnode: str) -> dict[str, datetime]:
    """The true camera mtimes of a FAT device or image, read-only, without mounting (fusefat's
    are a month late). Keys are camera-relative; compare them case-insensitively, as FAT does."""
    try:
        fd = os.open(devnode, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise _fail(devnode, f"it cannot be opened to read FAT times ({exc.strerror})") from exc
    try:
        return parse_fat_mtimes(lambda offset, size: os.pread(fd, size, offset))
    except (ValueError, OSError) as exc:
        raise _fail(devnode, f"its FAT directory cannot be read ({exc}); is it vfat?") from exc
    finally:
        os.close(fd)
