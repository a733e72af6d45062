"""A real Ceph (monitor, memstore OSD, radosgw with S3 Object Lock) for the object store's tests,
started by scripts/ceph-up.sh on ports picked free for this run, stopped by its pids at the end.

Also: a station whose recordings are ingested for real (``bodycam ingest`` of a camera folder), and
``HeldReader``, a source that stops after N bytes until released: the way a test holds an upload
mid-way on purpose (to cut the network, or to kill the uploading process) instead of racing it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pytest

REPO = Path(__file__).resolve().parent.parent
CEPH_BINARIES = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "monmaptool", "ceph")
ACCESS, SECRET = "AKTEST", "SKTEST"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def missing_binaries() -> list[str]:
    return [name for name in CEPH_BINARIES if shutil.which(name) is None]


@dataclass
class Ceph:
    directory: Path
    rgw_port: int
    pids: dict[str, int]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.rgw_port}"

    @property
    def conf(self) -> Path:
        return self.directory / "ceph.conf"

    def rgw_pid(self) -> int:
        return int((self.directory / "run" / "client.rgw.pid").read_text().strip())

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.rgw_port), timeout=1):
                return True
        except OSError:
            return False

    def stop_rgw(self) -> None:
        """Cut the network: radosgw killed (SIGKILL: a crash, not a goodbye) and gone."""
        pid = self.rgw_pid()
        os.kill(pid, signal.SIGKILL)
        for _ in range(600):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        (self.directory / "run" / "client.rgw.pid").unlink(missing_ok=True)
        assert not self.answers()

    def start_rgw(self) -> None:
        subprocess.run(["radosgw", "-c", str(self.conf), "-n", "client.rgw"], check=True,
                       capture_output=True, timeout=120)
        for _ in range(1200):
            if self.answers():
                return
            time.sleep(0.1)
        raise AssertionError("radosgw did not come back")


def start_ceph(memstore_bytes: int = 1 << 30) -> Ceph:
    directory = Path(tempfile.mkdtemp(prefix="bc-ceph-", dir="/tmp"))  # short: socket paths
    rgw, mon, mon_v1 = free_port(), free_port(), free_port()
    env = {**os.environ, "D": str(directory), "RGW_PORT": str(rgw), "MON_PORT": str(mon),
           "MON_V1_PORT": str(mon_v1), "MEMSTORE_BYTES": str(memstore_bytes)}
    result = subprocess.run(["bash", str(REPO / "scripts" / "ceph-up.sh")], env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        stop_ceph(directory)
        raise AssertionError(f"ceph-up.sh failed:\n{result.stdout}\n{result.stderr}")
    line = [x for x in result.stdout.splitlines() if x.startswith("pids:")][-1]
    pids = {k: int(v) for k, v in (item.split("=") for item in line.split()[1:])}
    return Ceph(directory=directory, rgw_port=rgw, pids=pids)


def stop_ceph(directory: Path) -> None:
    subprocess.run(["bash", str(REPO / "scripts" / "ceph-down.sh")],
                   env={**os.environ, "D": str(directory)}, capture_output=True, timeout=300,
                   check=False)


def s3_client(endpoint: str) -> Any:
    from bodycam_ingest.storage.s3 import make_client
    from bodycam_ingest.storage.settings import ObjectStoreConfig

    return make_client(ObjectStoreConfig(endpoint=endpoint, bucket="unused"), (ACCESS, SECRET))


class HeldReader:
    """A file that reads normally up to ``hold_at`` bytes, then blocks until ``release()``
    (``reached`` is set when it gets there). Deterministic: the upload is mid-way by design."""

    def __init__(self, inner: BinaryIO, hold_at: int) -> None:
        self.inner = inner
        self.hold_at = hold_at
        self.position = 0
        self.reached = threading.Event()
        self.released = threading.Event()

    def read(self, size: int = -1) -> bytes:
        if self.position >= self.hold_at and not self.released.is_set():
            self.reached.set()
            self.released.wait()
        if size < 0:
            size = 1 << 30
        if not self.released.is_set():
            size = min(size, self.hold_at - self.position) or size
        data = self.inner.read(size)
        self.position += len(data)
        return data

    def release(self) -> None:
        self.released.set()

    def __enter__(self) -> HeldReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.close()


@pytest.fixture(scope="session")
def ceph() -> Iterator[Ceph]:
    """One throwaway Ceph (monitor, in-memory OSD, radosgw) for every test module that imports
    this fixture; skipped, with how to install it, when the binaries are missing."""
    missing = missing_binaries()
    if missing:
        pytest.skip(f"Ceph is not installed ({', '.join(missing)} missing); scripts/setup.sh "
                    "installs radosgw ceph-mon ceph-osd")
    server = start_ceph()
    try:
        yield server
    finally:
        stop_ceph(server.directory)


def object_store_section(root: Path, ceph: Ceph, bucket: str) -> str:
    """A station's ``[storage.object_store]`` section for ``bucket`` (5 MiB parts), with its
    credentials file written into ``root`` (mode 0600, as the config requires)."""
    credentials = root / "s3-credentials"
    credentials.write_text(f"[default]\naws_access_key_id = {ACCESS}\n"
                           f"aws_secret_access_key = {SECRET}\n")
    credentials.chmod(0o600)
    mib = 1 << 20
    return f"""
[storage.object_store]
endpoint = "{ceph.endpoint}"
bucket = "{bucket}"
credentials_file = "{credentials}"
multipart_threshold = {5 * mib}
part_size = {5 * mib}
"""
