"""A station installed exactly as README's "Deploying on a station" says, then checked by
``bodycam doctor`` (clean, and naming each injected fault), then docking a FAT and an ext4 camera
through udev with the daemon under the unit's own sandbox (its user, capabilities,
no-new-privileges and syscall filter; see tests/sandbox.py), including the unmount and, on ext4,
the wipe.

It installs for real (/opt/bodycam, /etc/bodycam, /var/lib/bodycam, /usr/local/bin/bodycam, the
unit files and the udev rule) and removes all of it afterwards; it does not run on a machine where
a station is already installed. Its cameras are labelled BODYCAMSBX*, and the installed config is
narrowed to that label before anything is docked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sandbox
from conftest_media import ROOT_MARKS, loop_device, sha256_of

from bodycam_ingest.sim.camera import CameraSpec, build_fat32_image, build_folder_camera

pytestmark = [*ROOT_MARKS, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
CONFIG = Path("/etc/bodycam/config.toml")
STATE = Path("/var/lib/bodycam")
INSTALLED = [Path("/opt/bodycam"), Path("/etc/bodycam"), STATE, Path("/usr/local/bin/bodycam"),
             Path("/etc/udev/rules.d/70-bodycam.rules"),
             *(Path("/etc/systemd/system") / p.name for p in (REPO / "systemd").iterdir())]
CLEAN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "LANG": "C.UTF-8", "HOME": "/root"}
UDEVD = "/lib/systemd/systemd-udevd"


def readme_deploy_block() -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Deploying on a station"):]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def run_block(block: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=REPO, env=CLEAN_ENV,
                          capture_output=True, text=True, timeout=900, check=False)


def doctor() -> tuple[int, dict[str, dict[str, str]]]:
    done = subprocess.run(["bodycam", "doctor", "--json"], env=CLEAN_ENV, capture_output=True,
                          text=True, timeout=120, check=False)
    report = json.loads(done.stdout)
    return done.returncode, {c["check"]: c for c in report["checks"]}


@pytest.fixture(scope="module")
def installed(udevd: None) -> Iterator[subprocess.CompletedProcess[str]]:
    if not shutil.which("systemd-analyze") or not sandbox.seccomp_available() \
            or not shutil.which("sudo"):
        pytest.skip("needs systemd-analyze, python3-seccomp and sudo (scripts/setup.sh)")
    if CONFIG.exists() or Path("/opt/bodycam").exists():
        pytest.skip("a station is installed on this machine; the install test runs where none is")
    try:
        yield run_block(readme_deploy_block())
    finally:
        subprocess.run(["umount", "-R", "-l", str(STATE / "run" / "mnt")], capture_output=True,
                       check=False)
        for path in INSTALLED:
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
        subprocess.run(["udevadm", "control", "--reload"], capture_output=True, check=False)


def test_the_readme_block_installs_a_station_that_doctor_finds_clean(
        installed: subprocess.CompletedProcess[str]) -> None:
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "no check failed" in installed.stdout, installed.stdout
    config, state = CONFIG.stat(), STATE.stat()
    assert (config.st_uid, stat.S_IMODE(config.st_mode)) == (0, 0o640)
    assert Path("/etc/bodycam").group() == "bodycam" == CONFIG.group()
    assert (STATE.owner(), stat.S_IMODE(state.st_mode)) == ("bodycam", 0o700)
    key = STATE / "keys" / "station.key"
    assert (key.owner(), stat.S_IMODE(key.stat().st_mode)) == ("bodycam", 0o600)
    assert not any((Path("/opt/bodycam/.venv/bin") / tool).exists()
                   for tool in ("pytest", "ruff", "mypy")), "test tools on a station"
    code, checks = doctor()
    assert code == 0, checks
    assert {c["status"] for c in checks.values()} <= {"ok", "n/a", "unknown"}, checks
    key_before = key.read_bytes()
    again = run_block(readme_deploy_block())  # idempotent: the same station, the same key
    assert again.returncode == 0, again.stdout + again.stderr
    assert key.read_bytes() == key_before


def _fails(check: str) -> dict[str, str]:
    code, checks = doctor()
    assert code == 9, checks
    assert checks[check]["status"] == "fail", checks[check]
    return checks[check]


def test_doctor_names_each_injected_fault_and_its_fix(
        installed: subprocess.CompletedProcess[str]) -> None:
    assert installed.returncode == 0, installed.stderr
    os.chown(CONFIG, 0, 0)  # wrong config owner: the service cannot read its config
    try:
        line = _fails("config file")
        assert "root:root" in line["detail"] and "chown root:bodycam" in str(line["fix"])
    finally:
        shutil.chown(CONFIG, "root", "bodycam")
    key = STATE / "keys" / "station.key"
    key.chmod(0o644)
    try:
        assert "chmod 0600" in str(_fails("station key")["fix"])
    finally:
        key.chmod(0o600)
    under_systemd = Path("/run/systemd/system").is_dir()
    subprocess.run(["systemctl", "stop", "systemd-udevd-control.socket",
                    "systemd-udevd-kernel.socket", "systemd-udevd"] if under_systemd else
                   ["udevadm", "control", "--exit"], check=True, capture_output=True)
    try:
        assert "not running" in _fails("udev")["detail"]
    finally:  # started again as it ran before (the session's udevd fixture stops it at the end)
        subprocess.run(["systemctl", "start", "systemd-udevd"] if under_systemd else
                       [UDEVD, "--daemon"], check=True, capture_output=True)
        subprocess.run(["udevadm", "control", "--ping", "--timeout=30"], check=True)
    original = CONFIG.read_text()
    CONFIG.write_text(original.replace('free_space_reserve = "2 GiB"',
                                       'free_space_reserve = "900 TiB"'))
    try:
        assert "reserve" in _fails("free space")["detail"]
    finally:
        CONFIG.write_text(original)
    assert doctor()[0] == 0


# ---- docks under the unit's sandbox ----------------------------------------------------------

def _narrow_config_to_the_test_cameras() -> None:
    """What the README says to do next: edit the config, run the install again."""
    text = CONFIG.read_text()
    text = text.replace('fs_labels = ["BODYCAM*", "DSJ*"]', 'fs_labels = ["BODYCAMSBX*"]')
    text = text.replace('usb_ids = ["2207:0010"]', "usb_ids = []")
    text = text.replace("wipe_after_ingest = false", "wipe_after_ingest = true")
    text = text.replace('free_space_reserve = "2 GiB"', "free_space_reserve = 0")
    CONFIG.write_text(text)
    done = subprocess.run(["bash", "scripts/install-station.sh"], cwd=REPO, env=CLEAN_ENV,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BODYCAMSBX" not in Path("/etc/udev/rules.d/70-bodycam.rules").read_text()  # globbed
    assert "[Bb][Oo][Dd][Yy][Cc][Aa][Mm][Ss][Bb][Xx]*" in \
        Path("/etc/udev/rules.d/70-bodycam.rules").read_text()


def _ext4_camera(work: Path) -> Path:
    """An ext4 camera as root's mkfs -d makes it: lost+found root 0700; DCIM/100MEDIA owned by
    the service user (wipeable); DCIM/101MEDIA root's (readable, not wipeable); DCIM/PRIVATE root
    0700 (a folder the globs reach but the service user cannot read)."""
    src = work / "ext4-tree"
    spec = CameraSpec(device="DSJSBX04", segments=2)
    build_folder_camera(src, spec)
    media = src / "DCIM" / "100MEDIA"
    other = src / "DCIM" / "101MEDIA"
    other.mkdir()
    last = sorted(media.iterdir())[-1]
    last.rename(other / last.name)
    private = src / "DCIM" / "PRIVATE"
    private.mkdir()
    shutil.copy(other / last.name, private / "A1024_DSJSBX04_20261120100000_0009.MP4")
    private.chmod(0o700)
    for path in (media, *media.iterdir()):
        shutil.chown(path, "bodycam", "bodycam")
    image = work / "ext4.img"
    subprocess.run(["truncate", "-s", "32M", str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-L", "BODYCAMSBX4", "-d", str(src), str(image)],
                   check=True)
    return image


class SandboxedDaemon:
    def __init__(self, work: Path) -> None:
        self.log = work / "daemon.log"
        self.handle = self.log.open("w")
        argv = sandbox.wrap(["/usr/local/bin/bodycam", "daemon"], REPO / "systemd" /
                            "bodycam.service", work)
        self.proc = subprocess.Popen(argv, env=CLEAN_ENV, stdout=self.handle,
                                     stderr=subprocess.STDOUT, cwd="/")
        self.wait(lambda: "daemon ready" in self.text(), "daemon ready")

    def text(self) -> str:
        return self.log.read_text()

    def finished(self) -> int:
        """Docks whose ingest_block returned (unmounted, read-only again): the daemon's line."""
        return len(re.findall(r"dock \d+ from \S+ finished: ", self.text()))

    def wait(self, done: object, what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not done():  # type: ignore[operator]
            assert self.proc.poll() is None, f"daemon died:\n{self.text()}"
            assert time.monotonic() < deadline, f"no {what}:\n{self.text()}"
            time.sleep(0.1)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=120)
        self.handle.close()
        return code


def _rows(sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with sqlite3.connect(STATE / "catalog.sqlite3", timeout=30) as db:
        return db.execute(sql).fetchall()


def _mounts() -> list[str]:
    return [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
            if line.split()[1].startswith(str(STATE))]


def test_sandboxed_daemon_docks_fat_and_ext4_cameras_unmounts_and_wipes(
        installed: subprocess.CompletedProcess[str], tmp_path: Path) -> None:
    assert installed.returncode == 0, installed.stderr
    _narrow_config_to_the_test_cameras()
    work = Path("/var/tmp") / f"bodycam-sandbox-{os.getpid()}"  # the service user can read it
    work.mkdir(mode=0o755)
    try:
        fat = work / "fat.img"
        build_fat32_image(fat, CameraSpec(device="DSJSBX01"), label="BODYCAMSBX")
        fat_digest = sha256_of(fat)
        ext4 = _ext4_camera(work)
        daemon = SandboxedDaemon(work)
        try:
            with loop_device(fat) as dev:
                assert (Path(dev).group(), stat.S_IMODE(Path(dev).stat().st_mode)) == \
                    ("bodycam", 0o640), "the installed udev rule gives bodycam read access"
                # logged once ingest_block returned: after the unmount (and the read-only reset)
                daemon.wait(lambda: daemon.finished() == 1, "FAT dock")
                assert _mounts() == [], "the FUSE mount was left behind"
            with loop_device(ext4) as dev:
                daemon.wait(lambda: daemon.finished() == 2, "ext4 dock")
                assert _mounts() == []
                read_only = subprocess.run(["blockdev", "--getro", dev], capture_output=True,
                                           text=True, check=True).stdout.strip()
                assert read_only == "1", "the camera must be read-only again after the wipe"
        finally:
            assert daemon.stop() == 0, daemon.text()
        log = daemon.text()
        docks = _rows("SELECT source, outcome, mount_method, reason FROM docks ORDER BY id")
        assert [(d[1], d[2]) for d in docks] == [("complete", "fusefat"), ("complete", "kernel")], \
            (docks, log)
        assert "systemd-udevd is not running" not in log and "Traceback" not in log, log
        assert "lost+found" not in log, log
        assert sha256_of(fat) == fat_digest, "the FAT camera was modified"
        statuses = _rows("SELECT status, count(*) FROM recordings GROUP BY status")
        assert statuses == [("ok", 5)], (statuses, log)  # ffprobe ran under the filter
        events = _rows("SELECT action, subject, reason FROM events WHERE action IN "
                       "('camera_file_wiped', 'wipe_refused', 'entry_rejected') ORDER BY id")
        wiped = sorted(s for a, s, _r in events if a == "camera_file_wiped")
        assert [Path(s).parent.name for s in wiped] == ["100MEDIA"], events
        refused = [(s, r) for a, s, r in events if a == "wipe_refused"]
        assert len(refused) == 1 and "101MEDIA" in refused[0][0] and \
            "Permission denied" in refused[0][1], events
        rejected = [(s, r) for a, s, r in events if a == "entry_rejected"]
        assert len(rejected) == 1 and rejected[0][0] == "DCIM/PRIVATE" and \
            "directory cannot be read" in rejected[0][1], events
        code, checks = doctor()
        assert code == 0 and checks["stored evidence"]["status"] == "ok", checks
    finally:
        shutil.rmtree(work, ignore_errors=True)
