"""``bodycam retention plan --json`` for a custodian: streamed by the daemon through its socket
(``retention.plan_stream``, issue 14), the same bytes as root's in-process plan; an error
mid-stream fails the command; a client that leaves mid-stream leaves the server healthy.

The API server is the real one (``api.server.ApiServer``) on a real SQLite catalog, run in this
process with a fixed clock, so its ``now`` is the one the in-process reference uses and faults
can be injected into the producer; the CLI runs as a real non-root OS user (``runuser``).
"""

from __future__ import annotations

import importlib.util
import io
import json
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, cast

import pytest
from access_support import add_account, ensure_user, run_as
from helpers import StationEnv

from bodycam_ingest.api import client, protocol, server
from bodycam_ingest.api.server import ApiServer
from bodycam_ingest.catalog.db import open_catalog
from bodycam_ingest.errors import ExitCode
from bodycam_ingest.retention import plan_json, service
from bodycam_ingest.station import Station

# the seeded catalog of the plan's own tests (every branch of the rules appears in it)
_spec = importlib.util.spec_from_file_location(
    "plan_stream_catalog", Path(__file__).parent.parent / "retention"
    / "test_retention_plan_stream.py")
assert _spec is not None and _spec.loader is not None
_catalog = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(_catalog)


@dataclass
class Served:
    env: StationEnv
    station: Station
    clerk: str  # a real OS user mapped to a custodian account

    @property
    def socket(self) -> Path:
        return self.station.config.access.socket

    def reference(self, horizon: int | None = None) -> str:
        """What root's ``bodycam retention plan --json`` writes in-process (lean.py)."""
        out = io.StringIO()
        with service.streamed_plan(self.station, horizon_days=horizon) as stream:
            plan_json.write_plan_json(stream, out)
        return out.getvalue()


@pytest.fixture
def served(shared_station: StationEnv) -> Iterator[Served]:
    open_catalog(f"sqlite:///{shared_station.db}").close()
    _catalog.build_catalog(shared_station.db, 400, 1)
    clerk = ensure_user("plan-clerk").pw_name
    add_account(shared_station, "li.clerk", ["custodian"], os_user=clerk)
    station = Station.open(shared_station.config, clock=_catalog.Clock(_catalog.NOW))
    api = ApiServer(station)
    api.start()
    try:
        yield Served(shared_station, station, clerk)
    finally:
        api.stop()
        station.close()


class Gate:
    """The file ``write_plan_json`` writes to, with a fault at its ``at``-th write: ``action``
    runs first (it may raise or wait); every write after it goes on to the real file."""

    def __init__(self, out: Any, at: int, action: Callable[[], object]) -> None:
        self.out, self.at, self.action, self.writes = out, at, action, 0

    def write(self, text: str) -> int:
        self.writes += 1
        if self.writes == self.at:
            self.action()
        return int(self.out.write(text))


def _inject(monkeypatch: pytest.MonkeyPatch, at: int, action: Callable[[], object]
            ) -> dict[str, Any]:
    """The daemon's next plan faulted at its ``at``-th write (later plans run as they are);
    what happened to that producer: how it ended and whether its read transaction closed."""
    real = plan_json.write_plan_json
    real_plan = service.streamed_plan
    seen: dict[str, Any] = {"ended": threading.Event(), "error": None, "calls": 0}

    @contextmanager
    def watched(*args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            with real_plan(*args, **kwargs) as stream:
                yield stream
        finally:  # its read transaction has ended, whichever way
            seen["ended"].set()

    def faulty(stream: Any, out: Any, **kwargs: Any) -> None:
        seen["calls"] += 1
        if seen["calls"] > 1:
            real(stream, out, **kwargs)
            return
        try:
            real(stream, cast(TextIO, Gate(out, at, action)), **kwargs)
        except BaseException as exc:
            seen["error"] = exc
            raise

    monkeypatch.setattr(plan_json, "write_plan_json", faulty)
    monkeypatch.setattr(service, "streamed_plan", watched)
    monkeypatch.setattr(server, "STREAM_CHUNK", 1)  # every write its own data frame
    return seen


def _connections_out(station: Station) -> int:
    return int(station.catalog.engine.pool.checkedout())  # type: ignore[attr-defined]


def test_a_custodians_streamed_plan_is_roots_in_process_plan_byte_for_byte(
        served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = run_as(served.clerk, served.env, "retention", "plan", "--json")
    monkeypatch.setattr(server, "STREAM_CHUNK", 100)  # many data frames, cut anywhere
    horizon = run_as(served.clerk, served.env, "retention", "plan", "--horizon", "40", "--json")
    assert whole.returncode == 0, whole.stderr
    assert horizon.returncode == 0, horizon.stderr
    assert whole.stdout == served.reference()
    assert horizon.stdout == served.reference(40)
    plan = json.loads(whole.stdout)
    assert plan["delete_now"] and plan["upcoming"] and plan["attention"]  # a real answer
    assert json.loads(horizon.stdout)["horizon_days"] == 40
    assert _connections_out(served.station) == 0


def test_an_error_mid_stream_fails_the_command_with_its_message_not_a_partial_plan(
        served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    def fault() -> None:
        raise RuntimeError("injected: the catalog vanished mid-plan")

    seen = _inject(monkeypatch, 6, fault)
    result = run_as(served.clerk, served.env, "retention", "plan", "--json")
    assert seen["ended"].is_set() and isinstance(seen["error"], RuntimeError)
    assert result.returncode == int(ExitCode.BUG), result.stdout[-300:]
    assert "internal error in the station daemon while running retention.plan_stream" \
        in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.startswith('{\n  "now": ')  # what came before the error...
    with pytest.raises(json.JSONDecodeError):  # ...is not a document
        json.loads(result.stdout)
    assert _connections_out(served.station) == 0  # the read transaction closed
    again = run_as(served.clerk, served.env, "retention", "plan", "--json")
    assert again.returncode == 0 and again.stdout == served.reference()


def test_an_error_before_the_first_byte_is_an_ordinary_error_response(
        served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    def fault() -> None:
        raise RuntimeError("injected before anything was sent")

    _inject(monkeypatch, 1, fault)
    result = run_as(served.clerk, served.env, "retention", "plan", "--json")
    assert result.returncode == int(ExitCode.BUG)
    assert result.stdout == ""
    assert "retention.plan_stream" in result.stderr


def test_a_client_gone_mid_stream_stops_the_producer_and_the_server_serves_the_next(
        served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    closed = threading.Event()
    seen = _inject(monkeypatch, 3, lambda: closed.wait(120))  # hold it after two data frames
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(120)
        sock.connect(str(served.socket))
        sock.sendall(protocol.encode({"v": 1, "method": "retention.plan_stream", "params": {}}))
        first = protocol.recv_frame(sock, protocol.MAX_RESPONSE)
        data, end = protocol.recv_stream_frame(sock)
    closed.set()  # the client is gone; the producer writes on
    assert seen["ended"].wait(120)
    assert first == {"ok": True, "stream": "text"}
    assert end is None and data.startswith(b"{")
    assert type(seen["error"]).__name__ == "_ClientGone"  # its next write found nobody
    assert _connections_out(served.station) == 0  # the read transaction closed
    assert client.call(served.socket, "whoami")["actor"] == "os:root"
    assert "".join(client.stream(served.socket, "retention.plan_stream")) == served.reference()


def test_ordinary_calls_and_refusals_are_unchanged(served: Served) -> None:
    plan = client.call(served.socket, "retention.plan")  # one frame, a JSON value
    streamed = json.loads("".join(client.stream(served.socket, "retention.plan_stream")))
    assert [d["recording_id"] for d in plan["delete_now"]] == \
        [d["recording_id"] for d in streamed["delete_now"]]
    stranger = ensure_user("plan-stranger").pw_name
    refused = run_as(stranger, served.env, "retention", "plan", "--json")
    assert refused.returncode == 5 and "not mapped" in refused.stderr
    assert refused.stdout == ""
