"""Re-used content: the same compressed pictures in two places. Pure.

An encoder never produces the same run of frame sizes twice for a moving picture: a GOP whose
sample sizes (keyframe and every following frame, byte for byte) equal another GOP's is a copy.
So a recording's fingerprint is the set of digests of its GOPs' size sequences (from the index,
no media read), kept in the catalog; a recording sharing ``reuse_min_gops`` of them with another
recording, or with itself at another place, re-uses footage. A GOP whose frames are nearly all
the same size, or tiny (a covered lens, a static scene), says nothing and is left out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from bodycam_ingest.analysis.model import MediaTimeline, keyframe_intervals

DIGEST_HEX = 16  # 64 bits per GOP: collisions between honest GOPs are out of reach
MIN_DISTINCT = 3  # frame sizes after the keyframe that must differ for a GOP to say anything
MIN_FRAME_BYTES = 64  # a frame this small codes (almost) no change: a static picture


def gop_digests(t: MediaTimeline | None) -> list[tuple[int, str]]:
    """(first packet index, digest) of every telling GOP of the first video stream."""
    if t is None:
        return []
    video = t.stream("video")
    table = t.packets.get(video.index) if video else None
    if table is None or not len(table):
        return []
    keys, _, _ = keyframe_intervals(table)
    bounds = [*keys[1:], len(table)]
    out = []
    for a, b in zip(keys, bounds, strict=True):
        sizes = table.size[a:b]
        rest = sizes[1:]
        if len(rest) < MIN_DISTINCT or min(rest) < MIN_FRAME_BYTES or \
                len(set(rest)) < MIN_DISTINCT:
            continue
        raw = b"".join(n.to_bytes(4, "big") for n in sizes)
        out.append((a, hashlib.sha256(raw).hexdigest()[:DIGEST_HEX]))
    return out


def fingerprint(t: MediaTimeline | None) -> frozenset[str]:
    """What the catalog keeps of a recording: its telling GOP digests."""
    return frozenset(d for _, d in gop_digests(t))


def repeats(t: MediaTimeline | None) -> list[tuple[int, int]]:
    """GOPs of a recording that repeat an earlier one of the same recording:
    (first packet of the copy, first packet of the original)."""
    first: dict[str, int] = {}
    copies: list[tuple[int, int]] = []
    for index, digest in gop_digests(t):
        if digest in first:
            copies.append((index, first[digest]))
        else:
            first[digest] = index
    return copies


def shared(mine: frozenset[str], others: Mapping[str, frozenset[str]],
           min_gops: int) -> list[tuple[str, int]]:
    """Recordings sharing at least ``min_gops`` GOPs (a recording with fewer telling GOPs
    cannot be judged: one GOP is too little to call a copy)."""
    need = max(1, min_gops)
    out = []
    for rid, theirs in others.items():
        n = len(mine & theirs)
        if mine and n >= need:
            out.append((rid, n))
    return sorted(out)
