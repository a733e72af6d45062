"""Two more things the MP4 index tells, read without the media data (bar one sample).

- Every entry of every track's edit list (``elst``): what a player actually shows. One entry
  (after an optional leading pause) is what a camera writes; more entries can make a player skip
  or repeat footage that is still in the file.
- The encoder's start-up marks in the first video sample: the NAL unit types and SEI payload
  types an encoder writes only when it starts (x264 writes its settings as user data, SEI 5, in
  its first keyframe only). A segment that continues a recording does not carry them.

Bounded like the rest of the reader: at most ``MAX_EDITS`` entries, one sample of at most
``MAX_FIRST_SAMPLE`` bytes, every length checked against its buffer.
"""

from __future__ import annotations

from pathlib import Path

from bodycam_ingest.analysis import mp4boxes as mb
from bodycam_ingest.analysis.model import Edit, EditList

MAX_EDITS = 1000
MAX_FIRST_SAMPLE = 1 << 20
MAX_NALS = 64


def edit_list(buf: bytes, kids: list[mb.Box], index: int, scale: int, movie_scale: int,
              media_ticks: int, first_ticks: int = 0) -> EditList | None:
    """The track's edit list in seconds; None when it has none (play the media as it is)."""
    edts = mb.find(kids, b"edts")
    elst = mb.find(mb.children(buf, edts[1], edts[2]), b"elst") if edts else None
    if elst is None or not movie_scale:
        return None
    _, s, e = elst
    version, count = mb.unpack(">B3xI", buf, s, e)
    fmt, width = (">QqHH", 20) if version == 1 else (">IiHH", 12)
    if count > MAX_EDITS:
        raise mb.Mp4Corrupt(f"edit list of track {index} has {count} entries")
    edits = []
    for i in range(count):
        duration, media_time, rate, frac = mb.unpack(fmt, buf, s + 8 + i * width, e)
        edits.append(Edit(duration / movie_scale,
                          None if media_time == -1 else media_time / scale,
                          rate + frac / 65536))
    return EditList(index, tuple(edits), media_ticks / scale, first_ticks / scale)


def start_marks(path: Path, offset: int, size: int, avcc: bytes | None) -> tuple[str, ...]:
    """NAL types ("nal:5") and SEI payload types ("sei:5") in one H.264 sample (``avcc``: its
    avcC box, which gives the NAL length size)."""
    if size <= 0 or size > MAX_FIRST_SAMPLE or not avcc or len(avcc) < 5:
        return ()
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read(size)
    length_size = (avcc[4] & 3) + 1
    marks: set[str] = set()
    pos = 0
    for _ in range(MAX_NALS):
        if pos + length_size > len(data):
            break
        n = int.from_bytes(data[pos:pos + length_size], "big")
        nal = data[pos + length_size:pos + length_size + n]
        pos += length_size + n
        if not nal or n <= 0:
            break
        kind = nal[0] & 0x1F
        marks.add(f"nal:{kind}")
        if kind == 6:
            marks.update(f"sei:{t}" for t in _sei_types(nal[1:]))
    return tuple(sorted(marks))


def _sei_types(rbsp: bytes) -> list[int]:
    out: list[int] = []
    pos = 0
    while pos < len(rbsp) and rbsp[pos] != 0x80 and len(out) < 16:
        ptype = 0
        while pos < len(rbsp) and rbsp[pos] == 0xFF:
            ptype += 255
            pos += 1
        if pos >= len(rbsp):
            break
        ptype += rbsp[pos]
        pos += 1
        psize = 0
        while pos < len(rbsp) and rbsp[pos] == 0xFF:
            psize += 255
            pos += 1
        if pos >= len(rbsp):
            break
        psize += rbsp[pos]
        pos += 1 + psize
        out.append(ptype)
    return out
