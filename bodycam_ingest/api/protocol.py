"""Framing of the local API: a 4-byte big-endian length, then one UTF-8 JSON object.

Request ``{"v": 1, "method": "recordings.list", "params": {...}}``; response ``{"ok": true,
"result": ...}`` or ``{"ok": false, "error": {"type", "message", "exit_code"}}``. One request per
connection. Sizes are bounded on both sides so a bad peer cannot make the other allocate much.
"""

from __future__ import annotations

import json
import socket
import struct
from datetime import date, datetime
from pathlib import PurePath
from typing import Any

VERSION = 1
HEADER = struct.Struct(">I")
MAX_REQUEST = 64 * 1024  # requests carry parameters only
MAX_RESPONSE = 512 * 2**20  # a listing of a large station; the client refuses anything larger


class ProtocolError(ValueError):
    """The peer did not speak the protocol (bad length, not JSON, not an object)."""


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=_default).encode()


def encode(obj: Any) -> bytes:
    body = dumps(obj)
    return HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError(f"not a JSON document ({exc})") from None
    if not isinstance(value, dict):
        raise ProtocolError("not a JSON object")
    return value


def check_length(length: int, limit: int) -> None:
    if length > limit:
        raise ProtocolError(f"frame of {length} bytes is over the limit of {limit}")


def roundtrip(obj: Any) -> Any:
    """What a socket client would receive: in-process callers see exactly the same types."""
    return json.loads(dumps(obj))


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            raise ProtocolError("the connection closed mid-frame")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket, limit: int) -> dict[str, Any]:
    (length,) = HEADER.unpack(recv_exactly(sock, HEADER.size))
    check_length(length, limit)
    return decode_body(recv_exactly(sock, length))
