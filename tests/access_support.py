"""Real OS users and a running daemon, for tests of identity and permissions (issue 8).

Tests run as root (CI does); they create OS users with ``useradd`` and run ``bodycam`` as them with
``runuser``, so the daemon's socket sees their real uid through SO_PEERCRED. Accounts are written
into the catalog the way ``bodycam users`` does (rows + a custody entry are that command's job;
here only the rows matter: they are what identity resolution reads).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from helpers import BODYCAM, StationEnv, start_daemon, write_config

REPO = Path(__file__).resolve().parent.parent
RUNUSER = shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin:/bin") or "/usr/sbin/runuser"
# Test users are named bct<pid>-<name>: one test session's users, removed at its end, never
# another session's (sessions run side by side on a shared CI machine).
PREFIX = f"bct{os.getpid()}"


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: creates OS users (CI runs as root)")


def ensure_user(name: str) -> pwd.struct_passwd:
    """OS user ``bct<pid>-<name>`` (system user, no home, no login shell), created once."""
    login = f"{PREFIX}-{name}"
    try:
        return pwd.getpwnam(login)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        login], check=True, capture_output=True)
        _created.add(login)
        return pwd.getpwnam(login)


_created: set[str] = set()


def remove_test_users() -> None:
    """Remove the users this test session created (not another session's, running alongside)."""
    for login in sorted(_created):
        subprocess.run(["userdel", login], check=False, capture_output=True)
    _created.clear()


def make_traversable(path: Path) -> None:
    """Let other users reach the code and the venv: add search (x, not read) permission to each
    ancestor of ``path`` that lacks it. Only needed when the clone sits under a private folder."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def public_station(prefix: str = "bodycam-os-") -> StationEnv:
    """A station under a world-traversable temp folder (pytest's tmp_path is root-only 0700), its
    config readable by everyone (a test user's client reads the socket path from it)."""
    make_traversable(REPO)
    make_traversable(Path(sys.executable).resolve().parent)
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    root.chmod(0o755)
    # a label no device has: this station's daemon must not pick up other tests' loop devices
    config = write_config(root, camera='[[cameras]]\nname = "test-cam"\n'
                          'fs_labels = ["NO-SUCH-LABEL"]\nrecordings = ["DCIM/**/*.MP4"]\n')
    config.chmod(0o644)
    (root / "api").mkdir(mode=0o755)
    (root / "api").chmod(0o755)
    return StationEnv(root=root, config_path=config)


def run_as(user: str, station: StationEnv, *args: str, env: dict[str, str] | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``bodycam ARGS`` as OS user ``user`` (``runuser``: the real uid changes; env is ours)."""
    full_env = {"PATH": "/usr/bin:/bin", "BODYCAM_CONFIG": str(station.config_path),
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONPATH": str(REPO),  # this tree's code, not whichever the venv points at
                **(env or {})}
    command = [RUNUSER, "-u", user, "--", "env", *(f"{k}={v}" for k, v in full_env.items()),
               *BODYCAM, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False,
                          env={"PATH": "/usr/bin:/bin"}, cwd="/")


def add_account(station: StationEnv, login: str, roles: list[str], *, os_user: str | None = None,
                officer_number: str | None = None, display_name: str | None = None) -> int:
    """An enabled account with ``roles``, mapped to ``os_user``, made as root makes one
    (``bodycam users add``, in-process): its rows and its custody-log entry, so audits stay clean."""
    from bodycam_ingest.access.identity import current_system_principal
    from bodycam_ingest.api.registry import dispatch
    from bodycam_ingest.station import Station

    opened = Station.open(station.config)
    try:
        made = dispatch(opened, current_system_principal(), "users.add", {
            "login": login, "display_name": display_name or login, "roles": roles,
            "officer_number": officer_number, "os_users": [os_user] if os_user else None})
    finally:
        opened.close()
    return int(made["id"])


@contextmanager
def running_daemon(station: StationEnv) -> Iterator[subprocess.Popen[str]]:
    """``bodycam daemon`` for ``station``, ready (its socket answers), stopped with SIGTERM."""
    proc, log = start_daemon(station)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()


def cleanup_station(station: StationEnv) -> None:
    shutil.rmtree(station.root, ignore_errors=True)


SUPERVISOR = "chief.approver"


def approve_request(station: StationEnv, request_id: int, *, login: str = SUPERVISOR,
                    reason: str | None = None) -> dict[str, object]:
    """Approve request ``request_id`` as supervisor account ``login`` (made if missing), in-process
    through ``dispatch`` with the digest ``requests.show`` shows: the second person of four eyes
    for tests that run the first person's commands as root."""
    from sqlalchemy import select

    from bodycam_ingest.access.identity import principal_of
    from bodycam_ingest.api.registry import dispatch
    from bodycam_ingest.catalog.access_models import AccountRow
    from bodycam_ingest.station import Station

    opened = Station.open(station.config)
    try:
        with opened.catalog.reading() as session:
            row = session.scalar(select(AccountRow).where(AccountRow.login == login))
        if row is None:
            add_account(station, login, ["supervisor"])
            with opened.catalog.reading() as session:
                row = session.scalar(select(AccountRow).where(AccountRow.login == login))
        assert row is not None
        chief = principal_of(row)
        shown = dispatch(opened, chief, "requests.show", {"request_id": request_id})
        answer: dict[str, object] = dispatch(opened, chief, "requests.approve", {
            "request_id": request_id, "digest": shown["digest"], "reason": reason})
        return answer
    finally:
        opened.close()
