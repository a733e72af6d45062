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
    """A kind of camera. A filesystem of one of ``fs_types`` (empty: any) is this camera when its
    USB id is one of ``usb_ids`` ("vvvv:pppp") OR its label matches one of ``fs_labels`` (globs,
    any case), exactly as the generated udev rule (``udev_rules``) marks it. A rule with neither
    matches nothing."""

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
    if rule.usb_ids and usb_id(props) in rule.usb_ids:
        return True
    label = fs_label(props).casefold()
    return any(fnmatchcase(label, glob) for glob in rule.fs_labels)


def match_device(props: Mapping[str, str], rules: Sequence[DeviceRule]) -> DeviceRule | None:
    """The first rule that this filesystem satisfies, or None (not a camera: leave it alone)."""
    if props.get("ID_FS_USAGE") != "filesystem":
        return None  # a whole disk with a partition table, swap, RAID member, crypto...
    return next((rule for rule in rules if _rule_matches(rule, props)), None)


def _udev_glob(glob: str) -> str:
    """A case-insensitive fs_labels glob as a udev match on ID_FS_LABEL (which writes a space as
    '_'): letters become [xX] classes, since udev compares case-sensitively."""
    out = []
    for ch in glob.replace(" ", "_"):
        if ch.isalpha() and ch.lower() != ch.upper() and ch.isascii():
            out.append(f"[{ch.upper()}{ch.lower()}]")
        elif ch in '"|\\':
            raise ValueError(f"label glob {glob!r}: {ch!r} cannot be written in a udev rule")
        else:
            out.append(ch)
    return "".join(out)


UDEV_HEADER = """\
# bodycam-ingest: mark docked body cameras, keep desktop automounters off them, and make their
# block device readable (never writable) by the station daemon's group.
#
# GENERATED from the [[cameras]] rules of the station's config by `bodycam udev-rules`
# (scripts/install-station.sh installs it); do not edit: change the config and regenerate.
# The rule is the daemon's (detection/rules.py): a filesystem of an accepted type whose USB id
# is listed OR whose label matches a glob (case-insensitive) is a camera.
#
# Ordered after 60-persistent-storage.rules (which sets ID_FS_*) and before 80-udisks2.rules.
ACTION=="remove", GOTO="bodycam_end"
SUBSYSTEM!="block", GOTO="bodycam_end"
ENV{ID_FS_USAGE}!="filesystem", GOTO="bodycam_end"
"""
UDEV_FOOTER = """\
ENV{BODYCAM_CAMERA}!="1", GOTO="bodycam_end"
# udisks2 (desktop automount) and other automounters: hands off.
ENV{UDISKS_IGNORE}="1", ENV{UDISKS_AUTO}="0", ENV{UDISKS_SYSTEM}="1"
# Read-only for the daemon; nobody but root can write to the camera's device node.
OWNER="root", GROUP="bodycam", MODE="0640"
LABEL="bodycam_end"
"""


def udev_rules(rules: Sequence[DeviceRule]) -> str:
    """The udev rules file that marks exactly the devices ``match_device`` accepts (pure)."""
    lines = [UDEV_HEADER]
    for rule in rules:
        if not rule.usb_ids and not rule.fs_labels:
            continue
        types = f'ENV{{ID_FS_TYPE}}=="{"|".join(rule.fs_types)}", ' if rule.fs_types else ""
        lines.append(f"# camera rule {rule.name!r}\n")
        for item in rule.usb_ids:
            vendor, model = item.split(":")
            # udev's usb_id writes upper- or lower-case hex depending on the device
            lines.append(f'{types}ENV{{ID_VENDOR_ID}}=="{_udev_glob(vendor)}", '
                         f'ENV{{ID_MODEL_ID}}=="{_udev_glob(model)}", ENV{{BODYCAM_CAMERA}}="1"\n')
        if rule.fs_labels:
            globs = "|".join(_udev_glob(g) for g in rule.fs_labels)
            lines.append(f'{types}ENV{{ID_FS_LABEL}}=="{globs}", ENV{{BODYCAM_CAMERA}}="1"\n')
    lines.append(UDEV_FOOTER)
    return "".join(lines)


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
