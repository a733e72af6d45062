"""Docked cameras as udev events (pyudev). Producer side only: events go to a callback; the daemon
decides what to run.

A loop-attached image announces its filesystem in a ``change`` event, a USB camera in ``add``; both
are handled. A device is reported once per insertion: repeated ``change`` events for the same
filesystem are ignored until it is removed or its filesystem disappears.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bodycam_ingest.detection.rules import DeviceRule, match_device

log = logging.getLogger("bodycam.udev")

UDEV_CONTROL = "/run/udev/control"


def udevd_answers(control: str = UDEV_CONTROL, proc: str = "/proc") -> bool:
    """Whether a systemd-udevd is listening (what ``udevadm control --ping`` asks).

    The control socket's file alone proves nothing: ``udevadm control --exit`` and a crash leave it
    behind, and a daemon that trusts it waits for docks that are never announced. The socket is
    root's (0600): a service user is refused (EACCES) whether or not udevd listens, so then the
    answer is whether a systemd-udevd process runs (from /proc).
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
        try:
            sock.connect(control)
        except PermissionError:
            return udevd_process_runs(proc)
        except OSError:
            return False
    return True


def udevd_process_runs(proc: str = "/proc") -> bool:
    """Whether any process is called systemd-udevd (comm, as ps shows it)."""
    try:
        entries = os.listdir(proc)
    except OSError:
        return False
    for pid in entries:
        if not pid.isdigit():
            continue
        try:
            with open(f"{proc}/{pid}/comm", encoding="utf-8", errors="replace") as comm:
                if comm.read().strip() in ("systemd-udevd", "udevd"):
                    return True
        except OSError:
            continue
    return False


@dataclass(frozen=True)
class BlockDock:
    devnode: str
    props: Mapping[str, str]
    rule_name: str


class UdevDetector:
    def __init__(self, rules: list[DeviceRule], on_dock: Callable[[BlockDock], None]) -> None:
        self.rules = rules
        self.on_dock = on_dock
        self._seen: dict[str, str] = {}  # devnode -> filesystem uuid already reported
        self._lock = threading.Lock()
        self._observer: Any = None

    def handle(self, action: str, props: Mapping[str, str]) -> BlockDock | None:
        """Decide about one event (pure apart from the seen-set); returns what was docked."""
        devnode = props.get("DEVNAME", "")
        if not devnode:
            return None
        fs_id = f"{props.get('ID_FS_TYPE', '')}:{props.get('ID_FS_UUID', '')}"
        with self._lock:
            if action == "remove" or not props.get("ID_FS_TYPE"):
                self._seen.pop(devnode, None)
                return None
            if action not in {"add", "change"} or props.get("ID_FS_USAGE") != "filesystem":
                return None
            if self._seen.get(devnode) == fs_id:
                return None
            rule = match_device(props, self.rules)
            if rule is None:
                log.warning("ignoring %s: matches no camera rule (label=%r fs=%r usb=%s:%s)",
                            devnode, props.get("ID_FS_LABEL"), props.get("ID_FS_TYPE"),
                            props.get("ID_VENDOR_ID"), props.get("ID_MODEL_ID"))
                self._seen[devnode] = fs_id
                return None
            self._seen[devnode] = fs_id
        dock = BlockDock(devnode=devnode, props=dict(props), rule_name=rule.name)
        log.info("camera docked: %s (rule %s, label %r)", devnode, rule.name,
                 props.get("ID_FS_LABEL"))
        return dock

    def existing(self) -> Iterator[BlockDock]:
        """Cameras already docked when the daemon starts."""
        import pyudev

        for device in pyudev.Context().list_devices(subsystem="block"):
            dock = self.handle("add", dict(device.properties))
            if dock is not None:
                yield dock

    def start(self) -> None:
        import pyudev

        monitor = pyudev.Monitor.from_netlink(pyudev.Context())
        monitor.filter_by("block")

        def callback(device: Any) -> None:
            try:
                dock = self.handle(device.action or "", dict(device.properties))
                if dock is not None:
                    self.on_dock(dock)
            except Exception:
                log.exception("udev event for %s could not be handled", device.device_node)

        self._observer = pyudev.MonitorObserver(monitor, callback=callback, name="udev-monitor")
        self._observer.start()

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.send_stop()
            self._observer.join(timeout=5)
            self._observer = None
