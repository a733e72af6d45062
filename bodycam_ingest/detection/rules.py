"""Which block devices are cameras, and who they are: pure functions over udev properties.

The daemon hands over the property dictionary udev already computed (``udevadm info
--query=property``); nothing here imports pyudev or touches the system, so every case is a plain
dict in a test. Matching fails closed: only a filesystem that a configured rule names by USB id or
by volume label is a camera, so an officer's own USB stick is never ingested.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

_USB_ID = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{4}$")


@dataclass(frozen=True)
class DeviceRule:
    """A kind of camera. ``usb_ids`` ("vvvv:pppp") and ``fs_labels`` (globs, any case) must both
    match when both are given; an empty one allows any. A rule with neither matches nothing."""

    name: str
    usb_ids: tuple[str, ...] = ()
    fs_labels: tuple[str, ...] = ()
    fs_types: tuple[str, ...] = ("vfat", "exfat", "ext4")  # empty: any type

    def __post_init__(self) -> None:
        ids = tuple(i.strip().lower() for i in self.usb_ids)
        bad = [i for i in ids if not _USB_ID.match(i)]
        if bad:
            raise ValueError(f"device rule {self.name!r}: USB id {bad[0]!r} is not 'vvvv:pppp' "
                             "(4 hex digits each, as lsusb prints them)")
        object.__setattr__(self, "usb_ids", ids)
        object.__setattr__(self, "fs_types", tuple(t.lower() for t in self.fs_types))
        object.__setattr__(self, "fs_labels", tuple(g.casefold() for g in self.fs_labels))


def _unescape(value: str) -> str:
    """udev's ``*_ENC`` values escape unsafe bytes as ``\\xNN``."""
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m[1], 16)), value)


def fs_label(props: Mapping[str, str]) -> str:
    """The volume label as written on the medium (ID_FS_LABEL replaces spaces with '_')."""
    if "ID_FS_LABEL_ENC" in props:
        return _unescape(props["ID_FS_LABEL_ENC"])
    return props.get("ID_FS_LABEL", "")


def usb_id(props: Mapping[str, str]) -> str | None:
    """'vvvv:pppp' of the USB device behind this block device, or None when it is not USB."""
    vendor = props.get("ID_USB_VENDOR_ID") or props.get("ID_VENDOR_ID")
    model = props.get("ID_USB_MODEL_ID") or props.get("ID_MODEL_ID")
    if not vendor or not model:
        return None
    return f"{vendor.lower()}:{model.lower()}"


def _rule_matches(rule: DeviceRule, props: Mapping[str, str]) -> bool:
    if not rule.usb_ids and not rule.fs_labels:
        return False  # fail closed: "any device" is never a camera
    if rule.fs_types and props.get("ID_FS_TYPE", "").lower() not in rule.fs_types:
        return False
    if rule.usb_ids and usb_id(props) not in rule.usb_ids:
        return False
    label = fs_label(props).casefold()
    return not rule.fs_labels or any(fnmatchcase(label, glob) for glob in rule.fs_labels)


def match_device(props: Mapping[str, str], rules: Sequence[DeviceRule]) -> DeviceRule | None:
    """The first rule that this filesystem satisfies, or None (not a camera: leave it alone)."""
    if props.get("ID_FS_USAGE") != "filesystem":
        return None  # a whole disk with a partition table, swap, RAID member, crypto...
    return next((rule for rule in rules if _rule_matches(rule, props)), None)


def device_key(props: Mapping[str, str]) -> str:
    """Stable identity for the catalog, best first: the USB serial (one camera, whatever card or
    port), the filesystem UUID (survives re-plugging, changes on reformat), the device node (last
    resort: only stable for one visit)."""
    serial = props.get("ID_USB_SERIAL_SHORT") or props.get("ID_SERIAL_SHORT")
    vidpid = usb_id(props)
    is_usb = props.get("ID_BUS") == "usb" or "ID_USB_VENDOR_ID" in props
    if is_usb and vidpid and serial:
        return f"usb:{vidpid}:{serial}"
    uuid = props.get("ID_FS_UUID")
    if uuid:
        return f"fs:{props.get('ID_FS_TYPE', 'unknown').lower()}:{uuid}"
    devnode = props.get("DEVNAME")
    if not devnode:
        raise ValueError("udev properties carry no DEVNAME; they do not describe a device node")
    return f"dev:{devnode}"
