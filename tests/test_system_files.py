"""The shipped systemd unit and udev rules work with the real systemd and udev."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest_media import IS_ROOT, FatImage, loop_device, udev_properties

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "bodycam.service"
RULES = ROOT / "udev-rules" / "70-bodycam.rules"


def _unit_copy(tmp_path: Path) -> Path:
    bodycam = Path(sys.executable).with_name("bodycam")
    text = UNIT.read_text().replace("/opt/bodycam/.venv/bin/bodycam", str(bodycam))
    copy = tmp_path / "bodycam.service"
    copy.write_text(text)
    return copy


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not here")
def test_systemd_unit_verifies_and_is_hardened(tmp_path: Path) -> None:
    unit = _unit_copy(tmp_path)
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, check=False)
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)],
                              capture_output=True, text=True, check=False).stdout
    exposure = float(re.search(r"Overall exposure level for bodycam.service: ([\d.]+)",
                               security).group(1))  # type: ignore[union-attr]
    assert exposure <= 3.0, security
    text = UNIT.read_text()
    for setting in ("Type=notify", "WatchdogSec=", "NoNewPrivileges=yes", "ProtectSystem=strict",
                    "PrivateTmp=yes", "CapabilityBoundingSet=CAP_SYS_ADMIN", "StateDirectory="):
        assert setting in text


@pytest.mark.root
@pytest.mark.skipif(not IS_ROOT, reason="installing udev rules needs root")
def test_udev_rule_marks_cameras_read_only_and_keeps_automounters_off(
        udevd: None, fat_image: FatImage) -> None:
    installed = Path("/run/udev/rules.d") / RULES.name
    installed.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(RULES, installed)
    try:
        subprocess.run(["udevadm", "control", "--reload"], check=True)
        with loop_device(fat_image.image) as dev:
            props = udev_properties(dev)
            mode = stat.S_IMODE(Path(dev).stat().st_mode)
    finally:
        installed.unlink()
        subprocess.run(["udevadm", "control", "--reload"], check=True)
    assert props.get("BODYCAM_CAMERA") == "1", props
    assert props.get("UDISKS_IGNORE") == "1" and props.get("UDISKS_AUTO") == "0"
    assert mode == 0o640, oct(mode)

