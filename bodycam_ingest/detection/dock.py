"""From "something was docked" to a finished ingest: pick the rule, mount read-only, ingest, unmount.

Shared by ``bodycam ingest PATH`` and the daemon, so a hand-run ingest and a docked camera follow the
same path.
"""

from __future__ import annotations

import logging
import stat
import subprocess
import threading
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from bodycam_ingest.config import CameraRule, Config
from bodycam_ingest.detection.mount import (
    fat_mtimes,
    mount_readonly,
    remount_writable,
    set_block_read_only,
    unmount,
)
from bodycam_ingest.detection.rules import DeviceRule, device_key, match_device, usb_id
from bodycam_ingest.errors import ConfigError, SourceUnusable
from bodycam_ingest.ingest.journal import DeviceIdentity
from bodycam_ingest.ingest.pipeline import DockReport, DockRequest
from bodycam_ingest.station import Station

log = logging.getLogger("bodycam.dock")


def device_rules(config: Config) -> list[DeviceRule]:
    return [DeviceRule(name=rule.name, usb_ids=rule.usb_ids, fs_labels=rule.fs_labels,
                       fs_types=rule.fs_types) for rule in config.cameras]


def identity_from_props(props: Mapping[str, str]) -> DeviceIdentity:
    key = device_key(props)
    vendor, model = props.get("ID_VENDOR_ID"), props.get("ID_MODEL_ID")
    return DeviceIdentity(
        key=key, kind=key.split(":", 1)[0],
        usb_id=f"{vendor}:{model}".lower() if vendor and model else None,
        serial=props.get("ID_SERIAL_SHORT") or props.get("ID_SERIAL"),
        fs_label=props.get("ID_FS_LABEL"), fs_uuid=props.get("ID_FS_UUID"))


def ingest_path(station: Station, path: Path, *, rule_name: str | None, device_key: str | None,
                trigger: str, cancel: threading.Event | None = None) -> DockReport:
    """Ingest a folder (a camera mounted by something else) or a block device."""
    try:
        info = path.stat()
    except OSError as exc:
        raise SourceUnusable(source=path, reason=f"{exc.strerror}; give the camera's mount "
                             "folder or its block device") from None
    if stat.S_ISDIR(info.st_mode):
        rule = station.config.camera(rule_name)
        return ingest_folder(station, path, rule, device_key=device_key, trigger=trigger,
                             cancel=cancel)
    if stat.S_ISBLK(info.st_mode):
        props = udev_properties(str(path))
        rule = _rule_for_block(station.config, props, rule_name, str(path))
        return ingest_block(station, str(path), props, rule, trigger=trigger, cancel=cancel)
    raise SourceUnusable(source=path, reason="is neither a folder nor a block device; for a disk "
                         "image, attach it first with: losetup -f --show IMAGE")


DEVICE_KEY_MAX = 255  # devices.key


def ingest_folder(station: Station, path: Path, rule: CameraRule, *, device_key: str | None,
                  trigger: str, cancel: threading.Event | None = None) -> DockReport:
    root = path.resolve()
    key = device_key or f"folder:{root}"
    if len(key) > DEVICE_KEY_MAX:  # devices.key is String(255): PostgreSQL would refuse it
        raise SourceUnusable(source=path, reason=f"its path is {len(str(root))} characters long; "
                             f"the catalog files a folder camera by its path, at most "
                             f"{DEVICE_KEY_MAX - len('folder:')} characters: move it, or bind-mount it, to a "
                             "shorter path")
    request = DockRequest(root=root, rule=rule, trigger=trigger, source=str(root),
                          identity=DeviceIdentity(key=key, kind="folder"),
                          make_writable=lambda: root)
    return station.ingester(cancel).ingest(request)


def ingest_block(station: Station, devnode: str, props: Mapping[str, str], rule: CameraRule, *,
                 trigger: str, cancel: threading.Event | None = None) -> DockReport:
    fstype = props.get("ID_FS_TYPE", "")
    # Mount points live in <runtime>/mnt, 0700 whatever <runtime> is (/run/bodycam is 0755 so
    # that local users reach the API socket there): nobody else can look into a camera.
    mnt_root = station.config.storage.runtime / "mnt"
    mnt_root.mkdir(mode=0o700, parents=True, exist_ok=True)
    mnt_root.chmod(0o700)
    mountpoint = mnt_root / uuid.uuid4().hex[:12]
    mounted = mount_readonly(devnode, fstype, mountpoint)
    holder = {"mount": mounted}
    writable: list[bool] = []

    def make_writable() -> Path:
        writable.append(True)
        holder["mount"] = remount_writable(holder["mount"])
        return holder["mount"].mountpoint

    try:
        request = DockRequest(root=mounted.mountpoint, rule=rule, trigger=trigger, source=devnode,
                              identity=identity_from_props(props), mount_method=mounted.method,
                              make_writable=make_writable if mounted.method == "kernel" else None,
                              camera_times=_fat_times(devnode) if fstype == "vfat" else None)
        return station.ingester(cancel).ingest(request)
    finally:
        unmount(holder["mount"])  # also removes the mountpoint
        if writable:  # a wiped camera leaves the station read-only, as it came
            _read_only_again(devnode)


def _read_only_again(devnode: str) -> None:
    try:
        set_block_read_only(devnode)
    except SourceUnusable as exc:  # unplugged meanwhile: its next visit starts read-only anyway
        log.warning("%s could not be set read-only again after the wipe: %s", devnode,
                    exc.message())


def _fat_times(devnode: str) -> dict[str, datetime] | None:
    """True FAT mtimes (camera clock) by lower-case path; None (mount's times used) if unreadable."""
    try:
        return {path.lower(): when for path, when in fat_mtimes(devnode).items()}
    except SourceUnusable as exc:
        log.warning("camera mtimes of %s fall back to the mount's: %s", devnode, exc.message())
        return None


def udev_properties(devnode: str) -> dict[str, str]:
    """What udev knows about ``devnode``; its filesystem probed here when udev has not (no udevd)."""
    import pyudev

    try:
        device = pyudev.Devices.from_device_file(pyudev.Context(), devnode)
    except (pyudev.DeviceNotFoundError, OSError, ValueError) as exc:
        raise SourceUnusable(source=devnode, reason=f"udev knows nothing about it ({exc}); is "
                             "systemd-udevd running?") from None
    props = dict(device.properties)
    if not props.get("ID_FS_TYPE"):
        props.update(probe_filesystem(devnode))
    return props


def probe_filesystem(devnode: str) -> dict[str, str]:
    """ID_FS_* of ``devnode`` from a read-only superblock probe (``blkid -p``), as udev would set."""
    try:
        out = subprocess.run(["blkid", "-p", "-o", "udev", devnode], capture_output=True,
                             text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("cannot probe the filesystem of %s: %s", devnode, exc)
        return {}
    return dict(line.split("=", 1) for line in out.stdout.splitlines()
                if line.startswith("ID_FS_") and "=" in line)


def _rule_for_block(config: Config, props: Mapping[str, str], rule_name: str | None,
                    devnode: str) -> CameraRule:
    if rule_name is not None:
        return config.camera(rule_name)
    matched = match_device(props, device_rules(config))
    if matched is None:
        seen = f"label {props.get('ID_FS_LABEL')!r}, filesystem {props.get('ID_FS_TYPE')!r}"
        if usb_id(props):
            seen += f", usb id {usb_id(props)}"
        raise SourceUnusable(source=devnode, reason=(
            f"it matches no [[cameras]] rule ({seen}); add a rule, or pass --camera NAME to "
            "force one"))
    try:
        return config.camera(matched.name)
    except ConfigError:  # pragma: no cover - rules come from the same config
        raise
