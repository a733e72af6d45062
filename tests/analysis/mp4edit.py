"""Rewrite boxes inside a real MP4's moov (moov at the end, so no chunk offset moves).

Used to make what ffmpeg will not write but other tools and broken cameras do: a second sample
description mid-track, a negative time step, absurd sizes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"udta"}
Tree = list[tuple[bytes, "bytes | Tree"]]


def parse(data: bytes) -> Tree:
    out: Tree = []
    off = 0
    while off + 8 <= len(data):
        size, typ = struct.unpack_from(">I4s", data, off)
        body = data[off + 8:off + size]
        out.append((typ, parse(body) if typ in CONTAINERS else body))
        off += size
    return out


def serialize(tree: Tree) -> bytes:
    parts = []
    for typ, body in tree:
        raw = serialize(body) if isinstance(body, list) else body
        parts.append(struct.pack(">I4s", len(raw) + 8, typ) + raw)
    return b"".join(parts)


def find(tree: Tree, *path: bytes, nth: int = 0) -> Tree | bytes:
    """The body at a path; ``nth`` picks which trak."""
    node: Tree | bytes = tree
    for i, typ in enumerate(path):
        assert isinstance(node, list)
        matches = [b for t, b in node if t == typ]
        node = matches[nth if i == 1 and typ == b"trak" else 0]
    return node


def replace_body(tree: Tree, path: tuple[bytes, ...], body: bytes, nth: int = 0) -> None:
    parent = find(tree, *path[:-1], nth=nth)
    assert isinstance(parent, list)
    for i, (typ, _) in enumerate(parent):
        if typ == path[-1]:
            parent[i] = (typ, body)
            return
    raise KeyError(path)


def edit_moov(src: Path, dest: Path, change: Callable[[Tree], None]) -> None:
    data = src.read_bytes()
    off = 0
    out = []
    while off < len(data):
        size, typ = struct.unpack_from(">I4s", data, off)
        if typ == b"moov":
            tree = parse(data[off + 8:off + size])
            change(tree)
            out.append(serialize([(b"moov", tree)]))
        else:
            out.append(data[off:off + size])
        off += size
    dest.write_bytes(b"".join(out))


def table(body: bytes, width: int, header: int = 8) -> list[tuple[int, ...]]:
    """Entries of a full-box table (stts/stsc...) as tuples of ``width`` u32 values."""
    (count,) = struct.unpack_from(">I", body, 4)
    return [struct.unpack_from(f">{width}I", body, header + i * 4 * width) for i in range(count)]


def pack_table(version_flags: bytes, rows: list[tuple[int, ...]]) -> bytes:
    return version_flags + struct.pack(">I", len(rows)) + b"".join(
        struct.pack(f">{len(r)}I", *r) for r in rows)
