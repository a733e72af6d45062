"""Bounded reading of ISO BMFF (MP4/MOV) boxes that are already in memory.

Evidence files are hostile input: every size is checked against its parent before it is used,
containers are only entered along fixed paths (no generic recursion, so no recursion bomb), and
every count is bounded by the bytes that would have to hold it. Any violation raises
``Mp4Corrupt``, which the index reader turns into an incomplete timeline with the reason.
"""

from __future__ import annotations

import struct
import sys
from array import array
from dataclasses import dataclass

MAX_BOXES_PER_CONTAINER = 100_000
MAX_SAMPLE_ENTRIES = 16
PCM_FOURCCS = {
    b"sowt": "pcm_s16le", b"twos": "pcm_s16be", b"lpcm": "pcm_s16le", b"raw ": "pcm_u8",
    b"in24": "pcm_s24be", b"in32": "pcm_s32be", b"fl32": "pcm_f32be", b"ulaw": "pcm_mulaw",
    b"alaw": "pcm_alaw",
}
CODECS = {
    b"avc1": "h264", b"avc3": "h264", b"hvc1": "hevc", b"hev1": "hevc", b"mp4v": "mpeg4",
    b"jpeg": "mjpeg", b"mjpa": "mjpeg", b"mp4a": "aac", b".mp3": "mp3", b"Opus": "opus",
    b"ac-3": "ac3", b"samr": "amr_nb", b"av01": "av1", b"vp09": "vp9", **PCM_FOURCCS,
}
H264_PROFILES = {66: "Baseline", 77: "Main", 88: "Extended", 100: "High", 110: "High 10",
                 122: "High 4:2:2", 244: "High 4:4:4 Predictive", 44: "CAVLC 4:4:4"}
HEVC_PROFILES = {1: "Main", 2: "Main 10", 3: "Main Still Picture", 4: "Rext"}
AAC_PROFILES = {1: "Main", 2: "LC", 3: "SSR", 4: "LTP", 5: "HE-AAC", 29: "HE-AACv2", 23: "LD",
                39: "ELD"}
AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000,
             7350)
ENCODER_TAGS = (b"\xa9too", b"\xa9enc", b"\xa9swr")

Box = tuple[bytes, int, int]  # type, payload start, payload end


class Mp4Corrupt(Exception):
    """The index is malformed; the message says where, for the custodian."""


def unpack(fmt: str, buf: bytes, offset: int, end: int) -> tuple[int, ...]:
    """struct.unpack_from that never reads past ``end`` (the enclosing box)."""
    if offset < 0 or offset + struct.calcsize(fmt) > end:
        raise Mp4Corrupt(f"a field at byte {offset} runs past the end of its box")
    return struct.unpack_from(fmt, buf, offset)


def children(buf: bytes, start: int, end: int) -> list[Box]:
    """The boxes inside ``buf[start:end]``; each must fit in its parent."""
    out: list[Box] = []
    off = start
    while off + 8 <= end:
        size, typ = struct.unpack_from(">I4s", buf, off)
        hlen = 8
        if size == 1:
            (size,) = unpack(">Q", buf, off + 8, end)
            hlen = 16
        elif size == 0:
            size = end - off
        if size < hlen or off + size > end:
            raise Mp4Corrupt(f"box {typ!r} at byte {off} claims {size} bytes, its parent has "
                             f"{end - off} left")
        out.append((typ, off + hlen, off + size))
        if len(out) > MAX_BOXES_PER_CONTAINER:
            raise Mp4Corrupt(f"more than {MAX_BOXES_PER_CONTAINER} boxes in one container")
        off += size
    return out


def find(boxes: list[Box], typ: bytes) -> Box | None:
    return next((b for b in boxes if b[0] == typ), None)


def need(boxes: list[Box], typ: bytes, where: str) -> Box:
    box = find(boxes, typ)
    if box is None:
        raise Mp4Corrupt(f"{where} has no {typ.decode('latin-1')} box")
    return box


def path(buf: bytes, box: Box, *types: bytes) -> Box | None:
    """Follow a fixed chain of child box types; None where one is missing."""
    cur: Box | None = box
    for typ in types:
        if cur is None:
            return None
        cur = find(children(buf, cur[1], cur[2]), typ)
    return cur


def uint_array(buf: bytes, start: int, count: int, width: int, end: int) -> array[int]:
    """``count`` big-endian unsigned integers; ``count`` is bounded by the box's bytes first."""
    if count < 0 or start + count * width > end:
        raise Mp4Corrupt(f"a table at byte {start} lists {count} entries that do not fit its box")
    code = {4: "I", 8: "Q", 2: "H"}[width]
    arr = array(code)
    if arr.itemsize != width:  # pragma: no cover - exotic platforms
        arr = array("L" if width == 4 else code)
    arr.frombytes(buf[start:start + count * width])
    if sys.byteorder == "little":
        arr.byteswap()
    return arr


def text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace").strip()


def handler(buf: bytes, box: Box) -> tuple[bytes, str]:
    """hdlr: the handler type and its name (ISO C string or QuickTime Pascal string)."""
    _, start, end = box
    unpack(">I", buf, start + 8, end)  # bounds check
    htype = bytes(buf[start + 8:start + 12])
    raw = buf[start + 24:end]
    if raw and raw[0] == len(raw) - 1:
        raw = raw[1:]
    return htype, text(raw)


@dataclass(frozen=True)
class SampleEntry:
    """One stsd entry: codec, picture or sound parameters, and the codec-private bytes."""

    fourcc: bytes
    codec: str
    profile: str | None
    width: int | None
    height: int | None
    sample_rate: int | None
    extradata: bytes | None
    compressor: str | None

    def differences(self, other: SampleEntry) -> list[str]:
        """What changed, in words, between two descriptions of one stream."""
        out = []
        if (self.codec, self.profile) != (other.codec, other.profile):
            out.append(f"codec {self.codec} {self.profile} -> {other.codec} {other.profile}")
        if (self.width, self.height) != (other.width, other.height):
            out.append(f"resolution {self.width}x{self.height} -> {other.width}x{other.height}")
        if self.sample_rate != other.sample_rate:
            out.append(f"sample rate {self.sample_rate} -> {other.sample_rate} Hz")
        if self.extradata != other.extradata:
            out.append("codec-private data (SPS/PPS or decoder config)")
        return out or ["a second sample description"]


def sample_entries(buf: bytes, stsd: Box, kind: str) -> list[SampleEntry]:
    _, start, end = stsd
    (count,) = unpack(">I", buf, start + 4, end)
    boxes = children(buf, start + 8, end)
    if count == 0 or count > MAX_SAMPLE_ENTRIES or count != len(boxes):
        raise Mp4Corrupt(f"stsd declares {count} sample entries and holds {len(boxes)}")
    return [_video_entry(buf, b) if kind == "video" else _audio_entry(buf, b) for b in boxes]


def _video_entry(buf: bytes, box: Box) -> SampleEntry:
    fourcc, start, end = box
    width, height = unpack(">HH", buf, start + 24, end)
    (n,) = unpack(">B", buf, start + 42, end)
    compressor = text(buf[start + 43:start + 43 + min(n, 31)]) or None
    kids = children(buf, start + 78, end) if start + 78 <= end else []
    extra: bytes | None = None
    profile: str | None = None
    for typ in (b"avcC", b"hvcC", b"av1C", b"vpcC", b"esds"):
        box2 = find(kids, typ)
        if box2 is not None:
            extra = buf[box2[1]:box2[2]]
            profile = _video_profile(typ, extra)
            break
    return SampleEntry(fourcc, CODECS.get(fourcc, fourcc.decode("latin-1").strip()), profile,
                       width, height, None, extra, compressor)


def _video_profile(typ: bytes, extra: bytes) -> str | None:
    if typ == b"avcC" and len(extra) >= 4:
        idc, compat = extra[1], extra[2]
        name = H264_PROFILES.get(idc)
        if name and idc == 66 and compat & 0x40:
            return "Constrained Baseline"
        if name and idc in (110, 122, 244) and compat & 0x10:
            return f"{name} Intra"
        return name
    if typ == b"hvcC" and len(extra) >= 2:
        return HEVC_PROFILES.get(extra[1] & 0x1F)
    return None


def _audio_entry(buf: bytes, box: Box) -> SampleEntry:
    fourcc, start, end = box
    (version,) = unpack(">H", buf, start + 8, end)
    (rate_fixed,) = unpack(">I", buf, start + 24, end)
    skip = {0: 28, 1: 44, 2: 64}.get(version, 28)
    rate: int | None = rate_fixed >> 16 or None
    if version == 2:
        unpack(">Q", buf, start + 32, end)  # bounds check for the double below
        rate = round(struct.unpack_from(">d", buf, start + 32)[0]) or None
    kids = children(buf, start + skip, end) if start + skip <= end else []
    esds = find(kids, b"esds")
    wave = find(kids, b"wave")
    if esds is None and wave is not None:
        esds = find(children(buf, wave[1], wave[2]), b"esds")
    codec = CODECS.get(fourcc, fourcc.decode("latin-1").strip())
    profile = None
    extra = None
    if esds is not None:
        oti, extra = _esds(buf, esds)
        if oti in (0x69, 0x6B):
            codec = "mp3"
        elif extra:
            profile, asc_rate = _aac_config(extra)
            rate = asc_rate or rate
    return SampleEntry(fourcc, codec, profile, None, None, rate, extra, None)


def _descriptor(buf: bytes, off: int, end: int) -> tuple[int, int, int]:
    """MPEG-4 descriptor header: tag, payload start, payload end (expandable length)."""
    (tag,) = unpack(">B", buf, off, end)
    size = 0
    off += 1
    for _ in range(4):
        (b,) = unpack(">B", buf, off, end)
        off += 1
        size = (size << 7) | (b & 0x7F)
        if not b & 0x80:
            break
    if off + size > end:
        raise Mp4Corrupt(f"esds descriptor {tag} at byte {off} runs past its box")
    return tag, off, off + size


def _esds(buf: bytes, box: Box) -> tuple[int | None, bytes | None]:
    _, start, end = box
    tag, off, dend = _descriptor(buf, start + 4, end)
    if tag != 3:
        return None, None
    (flags,) = unpack(">B", buf, off + 2, dend)
    off += 3
    if flags & 0x80:
        off += 2
    if flags & 0x40:
        (n,) = unpack(">B", buf, off, dend)
        off += 1 + n
    if flags & 0x20:
        off += 2
    tag, off, cend = _descriptor(buf, off, dend)
    if tag != 4:
        return None, None
    (oti,) = unpack(">B", buf, off, cend)
    off += 13
    if off >= cend:
        return oti, None
    tag, off, send = _descriptor(buf, off, cend)
    return oti, (buf[off:send] if tag == 5 else None)


def _aac_config(asc: bytes) -> tuple[str | None, int | None]:
    """AudioSpecificConfig: object type name and sampling rate (ffprobe's naming)."""
    bits = int.from_bytes(asc[:8].ljust(8, b"\0"), "big")
    pos = 64

    def take(n: int) -> int:
        nonlocal pos
        pos -= n
        return (bits >> pos) & ((1 << n) - 1)

    aot = take(5)
    if aot == 31:
        aot = 32 + take(6)
    idx = take(4)
    rate = take(24) if idx == 15 else (AAC_RATES[idx] if idx < len(AAC_RATES) else None)
    return AAC_PROFILES.get(aot), rate


def encoder_tag(buf: bytes, moov: Box) -> str | None:
    """The writing software: moov/udta/meta/ilst (iTunes style) or a QuickTime udta string."""
    udta = find(children(buf, moov[1], moov[2]), b"udta")
    if udta is None:
        return None
    kids = children(buf, udta[1], udta[2])
    meta = find(kids, b"meta")
    if meta is not None:
        start = meta[1]
        if buf[start + 4:start + 8] != b"hdlr":  # ISO meta is a full box: skip version/flags
            start += 4
        ilst = find(children(buf, start, meta[2]), b"ilst")
        if ilst is not None:
            items = children(buf, ilst[1], ilst[2])
            for tag in ENCODER_TAGS:
                item = find(items, tag)
                data = find(children(buf, item[1], item[2]), b"data") if item else None
                if data is not None:
                    return text(buf[data[1] + 8:data[2]]) or None
    for tag in ENCODER_TAGS:
        item = find(kids, tag)
        if item is not None:
            (n,) = unpack(">H", buf, item[1], item[2])
            return text(buf[item[1] + 4:item[1] + 4 + n]) or None
    return None
