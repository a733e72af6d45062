"""The daemon's local API server: a Unix socket, callers identified by ``SO_PEERCRED``.

Why not an ASGI server here: identity on this socket is the kernel's word about the peer (its uid),
read from the accepted socket; ASGI servers do not expose that, and the protocol is one small
request and one response. The console serves HTTP with Starlette and calls the same ``dispatch``.

Bad clients cannot hurt it: at most ``max_clients`` connections are open (more are told "busy"
and closed), a request must arrive whole within ``request_timeout_s`` and be at most
``protocol.MAX_REQUEST`` bytes, and at most ``workers`` requests run at once on worker threads;
everything else waits in the event loop holding only its socket.

A streamed answer (``registry.Streamed``, issue 14) is produced in the worker thread that
dispatched it and handed to the event loop one frame at a time, each waiting for the socket to
drain (backpressure: memory is a frame, never the answer). An error before the first frame is an
ordinary error response; after it, the end frame carries it. A client that goes away mid-stream
stops the producer (its next write raises), which closes what it opened (a read transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bodycam_ingest.access.identity import principal_for_uid
from bodycam_ingest.api import protocol
from bodycam_ingest.api.registry import Streamed, dispatch
from bodycam_ingest.catalog.db import translate_fault
from bodycam_ingest.custody import service as custody
from bodycam_ingest.errors import BodycamError, ExitCode, StorageError

if TYPE_CHECKING:
    from bodycam_ingest.station import Station

log = logging.getLogger("bodycam.api")
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
STREAM_CHUNK = 64 * 1024  # characters a streamed answer gathers before it sends a data frame
SEND_TIMEOUT_S = 60.0  # a client that reads nothing for this long is gone


def error_response(exc: BodycamError) -> dict[str, Any]:
    return {"ok": False, "error": {"type": type(exc).__name__, "message": exc.message(),
                                   "exit_code": int(exc.exit_status())}}


def _protocol_error(problem: str) -> dict[str, Any]:
    return {"ok": False, "error": {"type": "ProtocolError", "message": f"bad request: {problem}",
                                   "exit_code": int(ExitCode.USAGE)}}


def peer_uid(sock: socket.socket) -> tuple[int, int]:
    """(pid, uid) of the process at the other end, as the kernel says."""
    pid, uid, _gid = _PEERCRED.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                      _PEERCRED.size))
    return pid, uid


class ApiServer:
    def __init__(self, station: Station) -> None:
        self.station = station
        settings = station.config.access
        self.path = settings.socket
        self.max_clients = settings.max_clients
        self.timeout = settings.request_timeout_s
        self.pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="api")
        self._open = 0
        self._served = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="api", daemon=True)

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Listen, or raise ``StorageError`` naming why the socket cannot be made."""
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise self._failure

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        self.pool.shutdown(wait=True, cancel_futures=True)

    @property
    def stats(self) -> dict[str, int]:
        return {"open": self._open, "served": self._served}

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            if not self._ready.is_set():
                self._failure = exc
                self._ready.set()
            else:
                log.exception("local API stopped")
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        _prepare(self.path)
        server = await asyncio.start_unix_server(self._client, path=str(self.path),
                                                 backlog=min(self.max_clients, 1024))
        os.chmod(self.path, 0o666)  # noqa: S103 - anyone may ask; who they are is the kernel's word
        log.info("local API listening on %s", self.path)
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            await server.wait_closed()
            with contextlib.suppress(OSError):
                self.path.unlink()

    # --- one connection ------------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._open >= self.max_clients:
            await _send(writer, _protocol_error("the station is busy; try again"), 5)
            return
        self._open += 1
        try:
            pid, uid = peer_uid(writer.get_extra_info("socket"))
            try:
                request = await asyncio.wait_for(_read_request(reader), self.timeout)
            except TimeoutError:
                await _send(writer, _protocol_error(
                    f"no complete request within {self.timeout:g} s"), 5)
                return
            except (protocol.ProtocolError, asyncio.IncompleteReadError) as exc:
                await _send(writer, _protocol_error(str(exc) or "incomplete request"), 5)
                return
            loop = asyncio.get_running_loop()
            frames = _Frames(loop, writer)
            response = await loop.run_in_executor(self.pool, self._respond, uid, pid, request,
                                                  frames)
            if response is not None:  # else it was streamed
                await _send(writer, response, SEND_TIMEOUT_S)
            self._served += 1
        except Exception:
            log.exception("local API: client connection failed")
        finally:
            self._open -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _respond(self, uid: int, pid: int, request: dict[str, Any], frames: _Frames
                 ) -> dict[str, Any] | None:
        """In a worker thread: the response to send, or None when it was streamed by ``frames``
        (a handler that returned ``Streamed``) from this thread."""
        answer = self.handle(uid, pid, request)
        if not isinstance(answer, Streamed):
            return answer
        method = str(request.get("method"))
        out = _FrameWriter(frames)
        try:
            answer.produce(out)
            out.flush()
            if custody.head_moved(self.station):  # as after any request (a read appends none)
                custody.after_command(self.station)
        except _ClientGone as exc:
            log.warning("local API: the client of %s (uid %d, pid %d) went away mid-stream "
                        "(%s); stopped producing", method, uid, pid, exc)
            return None
        except Exception as exc:  # noqa: BLE001 - every failure is answered (_error_for logs)
            failure = self._error_for(method, exc)
            if not out.started:  # nothing sent yet: an ordinary error response
                return failure
            return self._end(frames, failure, method)
        if not out.started:
            out.start()
        return self._end(frames, {"ok": True}, method)

    @staticmethod
    def _end(frames: _Frames, end: dict[str, Any], method: str) -> None:
        try:
            frames.send(protocol.end_frame(end))
        except _ClientGone as exc:
            log.warning("local API: the client of %s went away before the end of its stream "
                        "(%s)", method, exc)

    def handle(self, uid: int, pid: int, request: dict[str, Any]) -> dict[str, Any] | Streamed:
        method, params = request.get("method"), request.get("params", {})
        if request.get("v") != protocol.VERSION or not isinstance(method, str) \
                or not isinstance(params, dict):
            return _protocol_error(f"expected {{'v': {protocol.VERSION}, 'method': str, "
                                   "'params': object}")
        try:
            with self.station.catalog.reading() as session:
                principal = principal_for_uid(session, uid, self.station.config.storage.state_dir)
            log.debug("api: %s (uid %d, pid %d) calls %s", principal.actor, uid, pid, method)
            result = dispatch(self.station, principal, method, params)
            if isinstance(result, Streamed):  # authorized and validated; produced by _respond
                return result
            # what the request appended to the custody log (a viewing, a label) is signed now,
            # as after an in-process command; never fails the request
            if custody.head_moved(self.station):
                custody.after_command(self.station)
            return {"ok": True, "result": result}
        except Exception as exc:  # noqa: BLE001 - every failure is answered (_error_for logs)
            return self._error_for(method, exc)

    def _error_for(self, method: str, exc: Exception) -> dict[str, Any]:
        """The error response for ``exc``, raised by ``method``'s handler."""
        if isinstance(exc, BodycamError):
            return error_response(exc)
        fault = translate_fault(exc, self.station.catalog.url)
        if fault is not None:  # a full or read-only disk, a busy catalog (issue 9, D9)
            log.error("local API: %s failed: %s", method, fault.message())
            return error_response(fault)
        log.exception("local API: %s failed", method, exc_info=exc)
        return {"ok": False, "error": {"type": "InternalError", "exit_code": int(ExitCode.BUG),
                                       "message": f"internal error in the station daemon "
                                       f"while running {method} (a bug; its log has the "
                                       "traceback)"}}


class _ClientGone(Exception):
    """The client of a streamed answer stopped reading or closed its end."""


class _Frames:
    """Frames sent from a worker thread through the event loop's writer, one at a time: each
    waits until the socket has drained (backpressure), or raises ``_ClientGone``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, writer: asyncio.StreamWriter) -> None:
        self.loop = loop
        self.writer = writer

    async def _write(self, frame: bytes) -> None:
        self.writer.write(frame)
        await asyncio.wait_for(self.writer.drain(), SEND_TIMEOUT_S)

    def send(self, frame: bytes) -> None:
        try:
            future = asyncio.run_coroutine_threadsafe(self._write(frame), self.loop)
            future.result(timeout=SEND_TIMEOUT_S + 5)
        except (OSError, TimeoutError, FutureTimeout, RuntimeError) as exc:
            # RuntimeError: the event loop closed (the daemon is stopping)
            raise _ClientGone(str(exc) or type(exc).__name__) from exc


class _FrameWriter:
    """The file a ``Streamed`` producer writes to: text gathered into data frames of at most
    ``protocol.MAX_DATA`` bytes; the stream's first frame is sent before the first data."""

    def __init__(self, frames: _Frames) -> None:
        self.frames = frames
        self.started = False
        self._pending: list[str] = []
        self._size = 0

    def start(self) -> None:
        self.frames.send(protocol.encode(protocol.STREAM_TEXT))
        self.started = True

    def write(self, text: str) -> int:
        self._pending.append(text)
        self._size += len(text)
        if self._size >= STREAM_CHUNK:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if not self._pending:
            return
        data = "".join(self._pending).encode()
        self._pending.clear()
        self._size = 0
        if not self.started:
            self.start()
        for start in range(0, len(data), protocol.MAX_DATA):
            # a cut inside a character: the client decodes the frames as one byte stream
            self.frames.send(protocol.data_frame(data[start:start + protocol.MAX_DATA]))


async def _read_request(reader: asyncio.StreamReader) -> dict[str, Any]:
    header = await reader.readexactly(protocol.HEADER.size)
    (length,) = protocol.HEADER.unpack(header)
    protocol.check_length(length, protocol.MAX_REQUEST)
    return protocol.decode_body(await reader.readexactly(length))


async def _send(writer: asyncio.StreamWriter, response: dict[str, Any], timeout: float) -> None:
    try:
        writer.write(protocol.encode(response))
        await asyncio.wait_for(writer.drain(), timeout)
    except (OSError, TimeoutError):
        pass  # the client went away; nothing to tell it


def _prepare(path: Path) -> None:
    """Make the socket's directory (traversable by everyone) and clear a stale socket, refusing
    to take over one that another daemon still answers on."""
    if not path.parent.exists():
        try:
            path.parent.mkdir(parents=True, mode=0o755)
        except OSError as exc:
            raise StorageError(path=str(path.parent), reason=f"the local API's folder cannot be "
                               f"created ({exc.strerror}); the unit's RuntimeDirectory=bodycam "
                               f"makes it, or create it: install -d -m 0755 -o $(id -un) "
                               f"{path.parent}") from None
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise StorageError(path=str(path), reason="it exists and is not a socket; remove it or "
                           "set [access] socket to another path")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()  # stale: nobody listens
        return
    finally:
        probe.close()
    raise StorageError(path=str(path), reason="another station daemon is already listening "
                       "there; stop it first")
