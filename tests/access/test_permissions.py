"""One privilege boundary (issue 8): after ``bodycam`` has created its state, a person's OS user
(mapped to an account) cannot read stored evidence, the catalog or the private key; the modes are
exact whatever the umask, and an older, more open state is closed at the next station open."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from access_support import RUNUSER, ensure_user, require_root
from conftest_media import FolderCamera
from helpers import BODYCAM, StationEnv

from bodycam_ingest.ingest.store import EvidenceStore


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _bodycam_with_umask(station: StationEnv, umask: int, *args: str) -> None:
    previous = os.umask(umask)  # the child inherits it
    try:
        result = subprocess.run([*BODYCAM, *args], capture_output=True, text=True, timeout=300,
                                check=False,
                                env={**os.environ, "BODYCAM_CONFIG": str(station.config_path)})
    finally:
        os.umask(previous)
    assert result.returncode == 0, result.stderr


def _as_user(user: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RUNUSER, "-u", user, "--", *argv], capture_output=True, text=True,
                          timeout=60, check=False, env={"PATH": "/usr/bin:/bin"}, cwd="/")


def _state(station: StationEnv) -> Path:
    return station.root / "state"


def _assert_private(station: StationEnv) -> None:
    state = _state(station)
    for name in ("", "evidence", "staging", "manifests", "keys", "run"):
        assert _mode(state / name) == 0o700, name
    assert _mode(state / "keys" / "station.key") == 0o600
    assert _mode(state / "keys" / "keyring") == 0o700
    for suffix in ("", "-wal", "-shm"):
        path = state / f"catalog.sqlite3{suffix}"
        if suffix == "" or path.exists():
            assert _mode(path) == 0o600, path
    for path in (state / "run").iterdir():
        if path.is_file():
            assert _mode(path) == 0o600, path
    stored = station.stored_files()
    assert stored and {_mode(path) for path in stored} == {0o440}
    folders = {_mode(Path(folder)) for folder, _, _ in os.walk(state / "evidence" / "sha256")}
    assert folders == {0o750}
    for folder, dirs, _ in os.walk(state):  # no folder anywhere lets other users in
        for name in dirs:
            assert not _mode(Path(folder) / name) & 0o007, Path(folder) / name


def test_a_mapped_user_cannot_read_evidence_the_catalog_or_the_key(
        shared_station: StationEnv, folder_camera: FolderCamera) -> None:
    user = ensure_user("perm-reader").pw_name
    shared_station.run("users", "add", "li.reader", "--name", "Li Reader", "--roles",
                       "custodian,auditor", "--os-user", user, check=True)
    _bodycam_with_umask(shared_station, 0o000, "ingest", str(folder_camera.root))
    _assert_private(shared_station)

    # the user can read what is meant for everyone: the test can tell a refusal from a failure
    assert _as_user(user, "cat", str(shared_station.config_path)).returncode == 0
    state = _state(shared_station)
    targets = [*shared_station.stored_files(), state / "catalog.sqlite3",
               state / "keys" / "station.key", state / "keys" / "station.pub"]
    for target in targets:
        result = _as_user(user, "cat", str(target))
        assert result.returncode != 0 and "Permission denied" in result.stderr, target
    sqlite = _as_user(user, "python3", "-c", "import sqlite3, sys; sqlite3.connect("
                      f"'file:{state / 'catalog.sqlite3'}?mode=ro', uri=True)"
                      ".execute('SELECT count(*) FROM events').fetchall()")
    assert sqlite.returncode != 0 and "unable to open database file" in sqlite.stderr
    listing = _as_user(user, "ls", str(state))
    assert listing.returncode != 0 and "Permission denied" in listing.stderr


def test_an_older_more_open_state_is_closed_at_the_next_open(
        station: StationEnv, folder_camera: FolderCamera) -> None:
    require_root()
    station.run("ingest", str(folder_camera.root), check=True)
    state = _state(station)
    opened = [state, state / "evidence", state / "staging", state / "manifests", state / "keys"]
    for path in opened:
        path.chmod(0o755)
    for folder, dirs, files in os.walk(state / "evidence" / "sha256"):
        for name in dirs:
            (Path(folder) / name).chmod(0o755)
        for name in files:
            (Path(folder) / name).chmod(0o444)  # the store's mode before issue 8
    (state / "catalog.sqlite3").chmod(0o644)
    _bodycam_with_umask(station, 0o022, "recover")
    _assert_private(station)


def test_the_store_sets_exact_modes_whatever_the_umask(tmp_path: Path) -> None:
    for umask in (0o000, 0o077):
        previous = os.umask(umask)
        try:
            root = tmp_path / f"umask-{umask:03o}"
            store = EvidenceStore(root / "store", root / "staging")
            fd = store.open_staging("x.part")
            os.write(fd, b"evidence")
            os.close(fd)
            digest = "ab" * 32
            published = store.publish("x.part", digest)
        finally:
            os.umask(previous)
        assert _mode(root / "store") == 0o700 and _mode(root / "staging") == 0o700
        assert _mode(published.path) == 0o440
        assert _mode(published.path.parent) == 0o750
        assert _mode(published.path.parent.parent) == 0o750
