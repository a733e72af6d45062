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
                    "PrivateTmp=yes", "CapabilityBoundingSet=CAP_SYS_ADMIN", "StateDirectory=",
                    "RuntimeDirectoryMode=0755"):
        assert setting in text


def test_no_configuration_key_or_storage_error_makes_the_unit_flap() -> None:
    """Every exit code restarting cannot fix stops the unit (issue 11): the ones key and config
    errors carry, and the storage one."""
    from bodycam_ingest.errors import (
        ConfigError,
        ExitCode,
        KeyFileInvalid,
        KeyFileTooOpen,
        StationKeyMissing,
        StorageError,
    )

    prevented = {int(code) for line in re.findall(r"^RestartPreventExitStatus=(.+)$",
                                                  UNIT.read_text(), re.M) for code in line.split()}
    for error in (ConfigError, KeyFileInvalid, KeyFileTooOpen, StationKeyMissing, StorageError):
        assert int(error.exit_code) in prevented, error
    assert int(ExitCode.INCOMPLETE) not in prevented and int(ExitCode.BUG) not in prevented


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



# --- the job units: the alternative to the daemon's scheduler (issue 5) -------------------------
JOBS = ("retention-sweep", "fixity-scrub", "deadline-check", "catalog-backup")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not here")
@pytest.mark.parametrize("job", JOBS)
def test_job_timer_and_service_verify_are_hardened_and_match_the_default_schedule(
        tmp_path: Path, job: str) -> None:
    from datetime import UTC, datetime

    from bodycam_ingest.jobs.settings import DEFAULT_SCHEDULES, cron_trigger

    service_src = ROOT / "systemd" / f"bodycam-{job}.service"
    timer_src = ROOT / "systemd" / f"bodycam-{job}.timer"
    bodycam = Path(sys.executable).with_name("bodycam")
    service = tmp_path / service_src.name
    service.write_text(service_src.read_text().replace("/opt/bodycam/.venv/bin/bodycam",
                                                       str(bodycam)))
    timer = tmp_path / timer_src.name
    timer.write_text(timer_src.read_text())
    verify = subprocess.run(["systemd-analyze", "verify", str(service), str(timer)],
                            capture_output=True, text=True, check=False)
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
    security = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(service)],
                              capture_output=True, text=True, check=False).stdout
    exposure = float(re.search(rf"Overall exposure level for {service.name}: ([\d.]+)",
                               security).group(1))  # type: ignore[union-attr]
    assert exposure <= 2.0, security
    text = service_src.read_text()
    for setting in ("Type=oneshot", f"bodycam jobs run {job} --trigger timer",
                    "NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet=\n",
                    "RuntimeDirectoryPreserve=yes", "SuccessExitStatus=1"):
        assert setting in text, setting
    timer_text = timer_src.read_text()
    assert "Persistent=true" in timer_text and f"Unit=bodycam-{job}.service" in timer_text
    # the timer fires exactly when the daemon's scheduler would (machine zone = station zone)
    calendar = re.search(r"^OnCalendar=(.+)$", timer_text, re.M).group(1)  # type: ignore[union-attr]
    base = datetime(2026, 1, 1, tzinfo=UTC)
    shown = subprocess.run(["systemd-analyze", "calendar", "--iterations=5",
                            "--base-time=2026-01-01 00:00:00 UTC", calendar], capture_output=True,
                           text=True, check=True, env={"TZ": "Asia/Shanghai", "PATH": "/usr/bin"})
    timer_fires = re.findall(r"\(in UTC\): \w+ ([\d-]+ [\d:]+) UTC", shown.stdout)
    trigger = cron_trigger(DEFAULT_SCHEDULES[job], "Asia/Shanghai")
    fires, moment = [], base
    for _ in range(5):
        moment = trigger.get_next_fire_time(None, moment)
        fires.append(moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"))
        moment = moment.replace(second=1)
    assert timer_fires == fires
