"""The CLI's side of the local API: connect, send one request, read one response.

Imports nothing heavy (no SQLAlchemy, no pydantic): a command run by a person answers fast.
"""

from __future__ import annotations

import os
import socket
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


def call(path: Path, method: str, params: dict[str, Any] | None = None,
         timeout: float | None = None) -> Any:
    """The result of ``method`` as the daemon at ``path`` computes it for this process's uid."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(os.fspath(path))
        except FileNotFoundError:
            raise StationUnreachable(socket=path, reason="no socket there (is the daemon "
                                     "running?)") from None
        except ConnectionRefusedError:
            raise StationUnreachable(socket=path, reason="nobody answers (the daemon stopped)"
                                     ) from None
        except PermissionError:
            raise StationUnreachable(socket=path, reason="permission denied on the socket or its "
                                     "folder") from None
        try:
            sock.sendall(protocol.encode({"v": protocol.VERSION, "method": method,
                                          "params": params or {}}))
            response = protocol.recv_frame(sock, protocol.MAX_RESPONSE)
        except (OSError, protocol.ProtocolError) as exc:
            raise StationUnreachable(socket=path, reason=f"the connection failed ({exc})"
                                     ) from None
    finally:
        sock.close()
    if response.get("ok"):
        return response.get("result")
    error = response.get("error") or {}
    raise RemoteError(message=str(error.get("message", "the daemon refused the request")),
                      exit_code=int(error.get("exit_code", ExitCode.BUG)),
                      kind=str(error.get("type", "")))
