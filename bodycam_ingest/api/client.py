"""The CLI's side of the local API: connect, send one request, read one response (``call``), or
the pieces of a streamed one as they arrive (``stream``).

Imports nothing heavy (no SQLAlchemy, no pydantic): a command run by a person answers fast.
"""

from __future__ import annotations

import codecs
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bodycam_ingest.api import protocol
from bodycam_ingest.errors import BodycamError, ExitCode, StationUnreachable

DEFAULT_SOCKET = Path("/run/bodycam/api.sock")  # [access] socket's default


class RemoteError(BodycamError):
    """{message}"""

    def __init__(self, *, message: str, exit_code: int, kind: str) -> None:
        super().__init__(message=message, kind=kind)
        try:
            self.code = ExitCode(exit_code)
        except ValueError:
            self.code = ExitCode.BUG

    def exit_status(self) -> ExitCode:  # the daemon's code for this error
        return self.code


def _connect(path: Path, timeout: float | None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(os.fspath(path))
    except OSError as exc:
        sock.close()
        if isinstance(exc, FileNotFoundError):
            reason = "no socket there (is the daemon running?)"
        elif isinstance(exc, ConnectionRefusedError):
            reason = "nobody answers (the daemon stopped)"
        elif isinstance(exc, PermissionError):
            reason = "permission denied on the socket or its folder"
        else:
            raise
        raise StationUnreachable(socket=path, reason=reason) from None
    return sock


def _remote_error(response: dict[str, Any]) -> RemoteError:
    error = response.get("error") or {}
    return RemoteError(message=str(error.get("message", "the daemon refused the request")),
                       exit_code=int(error.get("exit_code", ExitCode.BUG)),
                       kind=str(error.get("type", "")))


def _request(sock: socket.socket, path: Path, method: str, params: dict[str, Any] | None
             ) -> dict[str, Any]:
    """Send the request; the first (for most methods the only) response frame."""
    try:
        sock.sendall(protocol.encode({"v": protocol.VERSION, "method": method,
                                      "params": params or {}}))
        return protocol.recv_frame(sock, protocol.MAX_RESPONSE)
    except (OSError, protocol.ProtocolError) as exc:
        raise StationUnreachable(socket=path, reason=f"the connection failed ({exc})") from None


def call(path: Path, method: str, params: dict[str, Any] | None = None,
         timeout: float | None = None) -> Any:
    """The result of ``method`` as the daemon at ``path`` computes it for this process's uid."""
    sock = _connect(path, timeout)
    try:
        response = _request(sock, path, method, params)
    finally:
        sock.close()
    if response.get("ok"):
        return response.get("result")
    raise _remote_error(response)


def stream(path: Path, method: str, params: dict[str, Any] | None = None,
           timeout: float | None = None) -> Iterator[str]:
    """The text of a streamed ``method`` (protocol.py), piece by piece as the daemon sends it.
    An error the daemon reports mid-stream is raised after the pieces sent before it, as is a
    connection that ends without the stream's end: what was yielded is then not the answer."""
    sock = _connect(path, timeout)
    try:
        first = _request(sock, path, method, params)
        if not first.get("ok"):
            raise _remote_error(first)
        if first.get("stream") != "text":
            raise StationUnreachable(socket=path, reason=f"the daemon answered {method} without "
                                     "a stream (is it an older version?)")
        decoder = codecs.getincrementaldecoder("utf-8")()
        while True:
            try:
                data, end = protocol.recv_stream_frame(sock)
                text = decoder.decode(data, final=end is not None)
            except (OSError, protocol.ProtocolError, UnicodeDecodeError) as exc:
                raise StationUnreachable(socket=path, reason=f"the connection failed mid-answer "
                                         f"({exc}); what was written is incomplete") from None
            if text:
                yield text
            if end is not None:
                if not end.get("ok"):
                    raise _remote_error(end)
                return
    finally:
        sock.close()
