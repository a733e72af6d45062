"""The daemon's local API survives bad clients: garbage, silence, a flood (issue 8)."""

from __future__ import annotations

import json
import socket
import struct
import threading
from pathlib import Path

import pytest
from access_support import running_daemon
from helpers import StationEnv, write_config

from bodycam_ingest.api import client, protocol


@pytest.fixture
def api_station(tmp_path: Path) -> StationEnv:
    root = tmp_path / "station"
    root.mkdir()
    config = write_config(root, camera='[[cameras]]\nname = "c"\nfs_labels = ["NO-SUCH-LABEL"]\n'
                          'recordings = ["DCIM/**/*.MP4"]\n')
    config.write_text(config.read_text() + "request_timeout_s = 2\nmax_clients = 256\n")
    return StationEnv(root=root, config_path=config)


def _socket_path(station: StationEnv) -> Path:
    return station.config.access.socket


def _raw(path: Path, payload: bytes) -> dict[str, object]:
    """Send ``payload`` as is and read the one response frame."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(60)
        sock.connect(str(path))
        sock.sendall(payload)
        return protocol.recv_frame(sock, protocol.MAX_RESPONSE)


def _rss_kib(pid: int, key: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} for {pid}")


def test_garbage_oversized_and_malformed_requests_get_an_error_and_others_are_served(
        api_station: StationEnv) -> None:
    path = _socket_path(api_station)
    with running_daemon(api_station):
        http = _raw(path, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # read as a 1.2 GB length
        not_json = _raw(path, struct.pack(">I", 5) + b"\xff\xfe{}x")
        not_object = _raw(path, protocol.encode([1, 2, 3]))
        no_method = _raw(path, protocol.encode({"v": 1, "params": {}}))
        unknown = _raw(path, protocol.encode({"v": 1, "method": "drop.tables", "params": {}}))
        bad_param = _raw(path, protocol.encode({"v": 1, "method": "recordings.list",
                                                "params": {"limit": "many"}}))
        me = client.call(path, "whoami")
    for response, words in ((http, "over the limit"), (not_json, "not a JSON document"),
                            (not_object, "not a JSON object"), (no_method, "expected"),
                            (unknown, "unknown method 'drop.tables'"), (bad_param, "limit")):
        assert response["ok"] is False
        error = response["error"]
        assert isinstance(error, dict) and words in str(error["message"]), response
        assert error["exit_code"] == 2
    assert me["system"] is True and me["actor"] == "os:root"


def test_a_silent_client_is_dropped_after_the_timeout_and_never_blocks_others(
        api_station: StationEnv) -> None:
    path = _socket_path(api_station)
    with running_daemon(api_station):
        silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        half = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            silent.connect(str(path))
            half.connect(str(path))
            half.sendall(struct.pack(">I", 1000) + b'{"v": 1')  # promises 1000 bytes, sends 7
            served = [client.call(path, "status") for _ in range(5)]  # while both hang
            silent.settimeout(60)
            half.settimeout(60)
            dropped = protocol.recv_frame(silent, protocol.MAX_RESPONSE)
            dropped_half = protocol.recv_frame(half, protocol.MAX_RESPONSE)
        finally:
            silent.close()
            half.close()
        after = client.call(path, "whoami")
    assert all("running" in s for s in served)
    for response in (dropped, dropped_half):
        assert response["ok"] is False
        assert "no complete request within 2 s" in str(response["error"])
    assert after["login"] == "os:root"


def test_two_hundred_concurrent_clients_are_all_served_with_bounded_memory(
        api_station: StationEnv) -> None:
    path = _socket_path(api_station)
    clients = 200
    with running_daemon(api_station) as daemon:
        client.call(path, "status")  # handlers imported, pools warm
        before = _rss_kib(daemon.pid)
        barrier = threading.Barrier(clients)
        results: list[object] = [None] * clients
        padding = "x" * (protocol.MAX_REQUEST - 200)  # each request near the size limit

        def one(i: int) -> None:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(120)
                sock.connect(str(path))
                barrier.wait()  # all 200 connected at once before anyone speaks
                body = {"v": 1, "method": "recordings.list" if i % 2 else "whoami",
                        "params": {"device": padding} if i % 2 else {}}
                sock.sendall(protocol.encode(body))
                results[i] = protocol.recv_frame(sock, protocol.MAX_RESPONSE)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        peak = _rss_kib(daemon.pid, "VmHWM")
        after = _rss_kib(daemon.pid)
    failures = [r for r in results if not (isinstance(r, dict) and r.get("ok"))]
    assert not failures, json.dumps(failures[:3])
    growth_mib = (peak - before) / 1024
    print(f"\ndaemon RSS before {before / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB, "
          f"after {after / 1024:.1f} MiB; growth at peak {growth_mib:.1f} MiB for {clients} "
          "concurrent clients sending ~64 KiB each")
    assert growth_mib < 64, f"memory grew by {growth_mib:.1f} MiB"
