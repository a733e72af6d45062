"""Framing of the local API: a 4-byte big-endian length, then one UTF-8 JSON object.

Request ``{"v": 1, "method": "recordings.list", "params": {...}}``; response ``{"ok": true,
"result": ...}`` or ``{"ok": false, "error": {"type", "message", "exit_code"}}``. One request per
connection. Sizes are bounded on both sides so a bad peer cannot make the other allocate much.

A streamed response (a handler that returns ``registry.Streamed``, issue 14) starts with the
ordinary frame ``{"ok": true, "stream": "text"}``; then each frame's body is one kind byte and its
payload: ``D`` and at most ``MAX_DATA`` bytes of UTF-8 text (the next piece of the answer), or
``E`` and the end as a JSON object, ``{"ok": true}`` or ``{"ok": false, "error": {...}}`` (an error
that happened mid-stream: what was sent before it is not the whole answer). A stream that stops
without its ``E`` frame is a failed call, never a complete answer.
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
MAX_DATA = 2**20  # one data frame of a streamed response: memory is a frame, not the answer
STREAM_TEXT = {"ok": True, "stream": "text"}  # the first frame of a streamed text response
DATA, END = b"D", b"E"  # the kinds of the frames that follow it


class ProtocolError(ValueError):
    """The peer did not speak the protocol (bad length, not JSON, not an object)."""


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if callable(getattr(value, "produce", None)) and callable(getattr(value, "text", None)):
        return value.text()  # a registry.Streamed called in-process (act_for, the console): whole
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=_default).encode()


def encode(obj: Any) -> bytes:
    body = dumps(obj)
    return HEADER.pack(len(body)) + body


def data_frame(data: bytes) -> bytes:
    """One piece of a streamed answer (at most ``MAX_DATA`` bytes)."""
    if len(data) > MAX_DATA:
        raise ValueError(f"a data frame holds at most {MAX_DATA} bytes, not {len(data)}")
    return HEADER.pack(len(data) + 1) + DATA + data


def end_frame(obj: dict[str, Any]) -> bytes:
    """The end of a streamed answer: ``{"ok": true}`` or an error response."""
    body = END + dumps(obj)
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


def recv_stream_frame(sock: socket.socket) -> tuple[bytes, dict[str, Any] | None]:
    """The next frame of a streamed answer: ``(data, None)``, or ``(b"", end)`` at its end."""
    (length,) = HEADER.unpack(recv_exactly(sock, HEADER.size))
    check_length(length, MAX_DATA + 1)
    if length == 0:
        raise ProtocolError("an empty frame in a stream")
    body = recv_exactly(sock, length)
    kind, payload = body[:1], body[1:]
    if kind == DATA:
        return payload, None
    if kind == END:
        return b"", decode_body(payload)
    raise ProtocolError(f"a stream frame of unknown kind {kind!r}")
