"""The packet timeline of an MP4/MOV file from its sample tables, without reading the media data.

The ``moov`` box holds, per track, the size, decode time, composition offset, keyframe flag and
file position of every sample (stsz, stts, ctts, stss, stsc + stco/co64). Reading those few
hundred kilobytes gives the same timeline as an ffprobe packet scan over gigabytes, which is what
makes analysing every recording at ingest affordable (see bench/continuity.py).

``read_index`` returns None when the file is not one this reader should judge (no ``moov``,
fragmented MP4): the caller falls back to ffprobe. A damaged file gives a timeline with
``complete=False`` and the reason. The only exception it raises is ``OSError`` when the file
itself cannot be opened or read; that is a storage problem, not a finding.
"""

from __future__ import annotations

import hashlib
import os
import struct
from array import array
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from itertools import accumulate, chain, islice, repeat
from pathlib import Path
from typing import BinaryIO

from bodycam_ingest.analysis import mp4boxes as mb
from bodycam_ingest.analysis.model import (
    ContainerInfo,
    EditList,
    MediaTimeline,
    PacketTable,
    ParamSwitch,
    StreamInfo,
    StreamKind,
    nominal_frame_rate,
)
from bodycam_ingest.analysis.mp4extras import edit_list, start_marks

MAX_MOOV_BYTES = 128 * 1024 * 1024  # a 10-hour 60 fps recording needs ~20 MiB
MAX_TOP_LEVEL_BOXES = 10_000
MAX_TRACKS = 64
MAX_SAMPLES = 20_000_000  # per track; 10 hours of 48 kHz AAC is 1.7 million
BMFF_TOP_LEVEL = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid",
                  b"styp", b"sidx", b"moof", b"mfra", b"meta", b"pdin", b"junk"}
MAC_EPOCH = datetime(1904, 1, 1, tzinfo=UTC)
HANDLER_KINDS: dict[bytes, StreamKind] = {b"vide": "video", b"soun": "audio"}


def looks_like_bmff(head: bytes) -> bool:
    """True when the file starts with an ISO BMFF box (so the index reader applies)."""
    return len(head) >= 8 and head[4:8] in BMFF_TOP_LEVEL


def bmff_format(brands: tuple[str, ...]) -> str:
    return "mov" if brands[:1] == ("qt  ",) else "mp4"


def read_index(path: Path, *, max_moov_bytes: int = MAX_MOOV_BYTES) -> MediaTimeline | None:
    """The timeline from the sample tables; None when this reader does not apply (see module)."""
    return read_index_explained(path, max_moov_bytes=max_moov_bytes)[0]


def read_index_explained(path: Path, *, max_moov_bytes: int = MAX_MOOV_BYTES
                         ) -> tuple[MediaTimeline | None, str]:
    """``read_index`` plus, when it returns None, why (for the extraction notes)."""
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        top, problem = _top_level(f, size)
        types = [t for t, _, _ in top]
        if not types or types[0] not in BMFF_TOP_LEVEL:
            return None, "not an MP4/MOV file"
        if b"moof" in types:
            return None, "fragmented MP4 (no sample tables in moov)"
        if b"moov" not in types:
            mdat = next((b for b in top if b[0] == b"mdat"), None)
            cut = mdat is not None and mdat[2] > size
            return None, ("no moov box: the index was never written (power loss while "
                          "recording?)" + (" and the media data is cut short" if cut else ""))
        brands: tuple[str, ...] = ()
        ftyp = next((b for b in top if b[0] == b"ftyp"), None)
        if ftyp is not None:
            f.seek(ftyp[1])
            raw = f.read(min(ftyp[2] - ftyp[1], 1024))
            brands = tuple(raw[i:i + 4].decode("latin-1") for i in range(0, len(raw) - 3, 4)
                           if i != 4)
        container = ContainerInfo(format=bmff_format(brands), brands=brands)
        _, mstart, mend = next(b for b in top if b[0] == b"moov")
        unusable = None
        if mend > size:
            unusable = (f"the file ends at byte {size}, inside its index (moov box of "
                        f"{mend - mstart} bytes at byte {mstart}): it was cut short")
        elif mend - mstart > max_moov_bytes:
            unusable = f"its index is {mend - mstart} bytes, over the {max_moov_bytes}-byte limit"
        else:
            f.seek(mstart)
            moov = f.read(mend - mstart)
    if unusable is None:
        try:
            timeline, first = _timeline(moov, brands, size, problem)
        except mb.Mp4Corrupt as exc:
            unusable = f"its index is damaged: {exc}"
        else:
            if first is not None:
                timeline = replace(timeline, start_marks=start_marks(path, *first))
            return timeline, ""
    return MediaTimeline(container, (), {}, "index", complete=False, problem=unusable), ""


def _top_level(f: BinaryIO, size: int) -> tuple[list[tuple[bytes, int, int]], str | None]:
    """Top-level boxes as (type, payload start, end), seeking over payloads without reading."""
    out: list[tuple[bytes, int, int]] = []
    off = 0
    while off + 8 <= size:
        f.seek(off)
        hdr = f.read(16)
        bsize, typ = struct.unpack_from(">I4s", hdr)
        hlen = 8
        if bsize == 1 and len(hdr) == 16:
            (bsize,) = struct.unpack_from(">Q", hdr, 8)
            hlen = 16
        elif bsize == 0:
            bsize = size - off
        if bsize < hlen:
            return out, f"box {typ!r} at byte {off} has an impossible size {bsize}"
        out.append((typ, off + hlen, off + bsize))
        if typ not in BMFF_TOP_LEVEL and len(out) == 1:
            return out, None
        if len(out) > MAX_TOP_LEVEL_BOXES:
            return out, f"more than {MAX_TOP_LEVEL_BOXES} top-level boxes"
        off += bsize
    return out, None


First = tuple[int, int, bytes | None]  # the first video sample: offset, size, avcC


def _timeline(moov: bytes, brands: tuple[str, ...], size: int,
              problem: str | None) -> tuple[MediaTimeline, First | None]:
    root: mb.Box = (b"moov", 0, len(moov))
    kids = mb.children(moov, 0, len(moov))
    if mb.find(kids, b"mvex") is not None:
        raise mb.Mp4Corrupt("fragmented movie")  # pragma: no cover - moof caught earlier
    _, ms, me = mb.need(kids, b"mvhd", "moov")
    (version,) = mb.unpack(">B", moov, ms, me)
    if version == 1:
        created, _, mts, mdur = mb.unpack(">QQIQ", moov, ms + 4, me)
    else:
        created, _, mts, mdur = mb.unpack(">IIII", moov, ms + 4, me)
    traks = [b for b in kids if b[0] == b"trak"]
    if len(traks) > MAX_TRACKS:
        raise mb.Mp4Corrupt(f"{len(traks)} tracks, over the limit of {MAX_TRACKS}")
    streams: list[StreamInfo] = []
    packets: dict[int, PacketTable] = {}
    handlers: list[str] = []
    switches: list[ParamSwitch] = []
    problems = [problem] if problem else []
    cuts: list[str] = []
    edits: list[EditList] = []
    first: First | None = None
    for index, trak in enumerate(traks):
        try:
            got = _track(moov, trak, index, mts, size)
        except mb.Mp4Corrupt as exc:
            problems.append(f"track {index} is damaged: {exc}")
            continue
        if got is None:
            continue
        info, table, name, sw, cut, extra = got
        elst, sample = extra
        if elst is not None:
            edits.append(elst)
        if first is None and info.kind == "video" and sample is not None:
            first = sample
        streams.append(info)
        packets[index] = table
        handlers.append(name)
        switches.extend(sw)
        if cut:
            cuts.append(cut)
    if cuts:
        problems.insert(0, f"the file ends at byte {size}, inside its media data "
                           f"({', '.join(cuts)}): it was cut short")
    container = ContainerInfo(
        format=bmff_format(brands),
        brands=brands,
        encoder=mb.encoder_tag(moov, root),
        handler_names=tuple(handlers),
        creation_time=_mac_time(created),
        duration_s=mdur / mts if mts else None,
    )
    return MediaTimeline(container, tuple(streams), packets, "index", complete=not problems,
                         problem="; ".join(problems) or None, switches=tuple(switches),
                         edit_lists=tuple(edits)), first


def _mac_time(seconds: int) -> datetime | None:
    if not seconds:
        return None
    try:
        return MAC_EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        return None


Extra = tuple[EditList | None, First | None]


def _track(buf: bytes, trak: mb.Box, index: int, movie_scale: int, size: int
           ) -> tuple[StreamInfo, PacketTable, str, list[ParamSwitch], str | None, Extra] | None:
    kids = mb.children(buf, trak[1], trak[2])
    mdia = mb.need(kids, b"mdia", "trak")
    mkids = mb.children(buf, mdia[1], mdia[2])
    htype, hname = mb.handler(buf, mb.need(mkids, b"hdlr", "mdia"))
    kind = HANDLER_KINDS.get(htype)
    if kind is None:
        return None  # timecode, GPS or other data tracks carry no picture or sound
    _, hs, he = mb.need(mkids, b"mdhd", "mdia")
    (version,) = mb.unpack(">B", buf, hs, he)
    (scale,) = mb.unpack(">I", buf, hs + (20 if version == 1 else 12), he)
    if scale == 0:
        raise mb.Mp4Corrupt("media time scale is 0")
    stbl = mb.path(buf, mdia, b"minf", b"stbl")
    if stbl is None:
        raise mb.Mp4Corrupt("no sample table")
    tables = {t: (s, e) for t, s, e in mb.children(buf, stbl[1], stbl[2])}
    entries = mb.sample_entries(buf, (b"stsd", *tables[b"stsd"]), kind) if b"stsd" in tables \
        else []
    if not entries:
        raise mb.Mp4Corrupt("no sample description")
    sizes = _sizes(buf, tables)
    n = len(sizes)
    deltas = _pairs_expanded(buf, tables.get(b"stts"), n, "stts", signed=True)
    dts = list(accumulate(chain((0,), deltas[:-1])))
    offsets = _pairs_expanded(buf, tables.get(b"ctts"), n, "ctts", signed=True, pad=True)
    keys = _keyframes(buf, tables.get(b"stss"), n)
    chunks = _chunks(buf, tables, n)
    shift = _edit_shift(buf, kids, scale, movie_scale)
    pts = [d + o + shift for d, o in zip(dts, offsets, strict=True)] if offsets else \
        [d + shift for d in dts]
    dts = [d + shift for d in dts] if shift else dts
    durations = deltas
    sizes_l = list(sizes)
    first_missing, where = _first_missing(chunks, sizes, size)
    if entries[0].codec.startswith("pcm_") and n and all(d == 1 for d in deltas):
        pts, dts, durations, keys, sizes_l = _pcm_packets(chunks, sizes_l, dts)
        if first_missing is not None:  # drop the chunk that holds the first missing sample
            first_missing = sum(1 for _, a, _ in chunks[1:] if a <= first_missing)
    cut = None
    if first_missing is not None:
        cut = f"{kind} track {index} stops at {where}"
        pts, dts, durations, keys, sizes_l = (
            pts[:first_missing], dts[:first_missing], durations[:first_missing],
            keys[:first_missing], sizes_l[:first_missing])
    table = PacketTable(tuple(pts), tuple(dts), tuple(durations), tuple(bool(k) for k in keys),
                        tuple(sizes_l))
    tb = Fraction(1, scale)
    first = entries[0]
    info = StreamInfo(
        index=index, kind=kind, codec=first.codec, profile=first.profile, width=first.width,
        height=first.height, frame_rate=nominal_frame_rate(table, tb) if kind == "video" else None,
        sample_rate=first.sample_rate, time_base=tb,
        extradata_sha256=_digest(first.extradata), encoder=first.compressor)
    switches = [ParamSwitch(index, sample, ", ".join(entries[a - 1].differences(entries[b - 1])))
                for sample, a, b in _sdi_changes(chunks, len(entries)) if sample < len(table)]
    first_pts = min(pts) - shift if pts else 0
    elst = edit_list(buf, kids, index, scale, movie_scale, sum(deltas), first_pts)
    sample: First | None = None
    if kind == "video" and chunks and sizes_l and first.codec == "h264":
        sample = (chunks[0][0], sizes_l[0], first.extradata)
    return info, table, hname, switches, cut, (elst, sample)


def _keyframes(buf: bytes, stss: tuple[int, int] | None, n: int) -> list[bool]:
    """Sync samples; without an stss table every sample is one (audio, intra-only video)."""
    if stss is None:
        return [True] * n
    keys = [False] * n
    s, e = stss
    (count,) = mb.unpack(">I", buf, s + 4, e)
    for num in mb.uint_array(buf, s + 8, count, 4, e):
        if not 1 <= num <= n:
            raise mb.Mp4Corrupt(f"stss names sample {num} of {n}")
        keys[num - 1] = True
    return keys


def _digest(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data else None


def _sizes(buf: bytes, tables: dict[bytes, tuple[int, int]]) -> array[int] | list[int]:
    if b"stsz" in tables:
        s, e = tables[b"stsz"]
        uniform, count = mb.unpack(">II", buf, s + 4, e)
        if count > MAX_SAMPLES:
            raise mb.Mp4Corrupt(f"{count} samples, over the limit of {MAX_SAMPLES}")
        return [uniform] * count if uniform else mb.uint_array(buf, s + 12, count, 4, e)
    if b"stz2" in tables:
        s, e = tables[b"stz2"]
        field, count = mb.unpack(">3xBI", buf, s + 4, e)
        if field not in (4, 8, 16) or s + 12 + (count * field + 7) // 8 > e:
            raise mb.Mp4Corrupt("compact sample size table does not fit its box")
        raw = buf[s + 12:e]
        if field == 16:
            return list(mb.uint_array(buf, s + 12, count, 2, e))
        if field == 8:
            return list(raw[:count])
        return [(raw[i // 2] >> (0 if i % 2 else 4)) & 0xF for i in range(count)]
    raise mb.Mp4Corrupt("no sample size table")


def _pairs_expanded(buf: bytes, box: tuple[int, int] | None, n: int, name: str, *,
                    signed: bool, pad: bool = False) -> list[int]:
    """stts/ctts run-length pairs expanded to one value per sample; counts must add up to n."""
    if box is None:
        if pad:
            return []
        raise mb.Mp4Corrupt(f"no {name} table")
    s, e = box
    (count,) = mb.unpack(">I", buf, s + 4, e)
    arr = mb.uint_array(buf, s + 8, count * 2, 4, e)
    runs = arr[0::2]
    values = [v - (1 << 32) if signed and v >= 1 << 31 else v for v in arr[1::2]]
    total = sum(runs)
    if total > n and not pad:
        raise mb.Mp4Corrupt(f"{name} covers {total} samples, the size table lists {n}")
    if total < n and not pad:
        raise mb.Mp4Corrupt(f"{name} covers {total} samples, the size table lists {n}")
    out = list(islice(chain.from_iterable(repeat(v, r) for r, v in zip(runs, values,
                                                                       strict=True)), n))
    return out + [0] * (n - len(out)) if pad else out


def _chunks(buf: bytes, tables: dict[bytes, tuple[int, int]], n: int) -> list[tuple[int, int, int]]:
    """Per chunk: (file offset, first sample, sample description index)."""
    if b"stco" in tables:
        s, e = tables[b"stco"]
        (count,) = mb.unpack(">I", buf, s + 4, e)
        offsets: array[int] = mb.uint_array(buf, s + 8, count, 4, e)
    elif b"co64" in tables:
        s, e = tables[b"co64"]
        (count,) = mb.unpack(">I", buf, s + 4, e)
        offsets = mb.uint_array(buf, s + 8, count, 8, e)
    else:
        raise mb.Mp4Corrupt("no chunk offset table")
    if b"stsc" not in tables:
        raise mb.Mp4Corrupt("no sample-to-chunk table")
    s, e = tables[b"stsc"]
    (count,) = mb.unpack(">I", buf, s + 4, e)
    arr = mb.uint_array(buf, s + 8, count * 3, 4, e)
    runs = list(zip(arr[0::3], arr[1::3], arr[2::3], strict=True))
    out: list[tuple[int, int, int]] = []
    sample = 0
    for i, (first, per_chunk, sdi) in enumerate(runs):
        last = runs[i + 1][0] - 1 if i + 1 < len(runs) else len(offsets)
        if first < 1 or last > len(offsets) or (i + 1 < len(runs) and last < first):
            raise mb.Mp4Corrupt(f"sample-to-chunk entry {i} names chunks {first}..{last} of "
                                f"{len(offsets)}")
        for c in range(first, last + 1):
            out.append((offsets[c - 1], sample, sdi))
            sample += per_chunk
            if sample > n:
                raise mb.Mp4Corrupt(f"the chunks hold more than the {n} samples listed")
    if sample != n:
        raise mb.Mp4Corrupt(f"the chunks hold {sample} samples, the size table lists {n}")
    return out


def _first_missing(chunks: list[tuple[int, int, int]], sizes: array[int] | list[int],
                   size: int) -> tuple[int | None, str]:
    """The first sample whose bytes lie beyond the end of the file, if any."""
    cum = list(accumulate(chain((0,), sizes)))
    bounds = [c[1] for c in chunks[1:]] + [len(sizes)]
    for (offset, a, _), b in zip(chunks, bounds, strict=True):
        if offset + cum[b] - cum[a] > size:
            j = next(j for j in range(a, b) if offset + cum[j + 1] - cum[a] > size)
            return j, f"sample {j} of {len(sizes)}"
    return None, ""


def _sdi_changes(chunks: list[tuple[int, int, int]], entries: int) -> list[tuple[int, int, int]]:
    out = []
    prev = chunks[0][2] if chunks else 1
    for _, sample, sdi in chunks:
        if not 1 <= sdi <= entries:
            raise mb.Mp4Corrupt(f"a chunk uses sample description {sdi} of {entries}")
        if sdi != prev:
            out.append((sample, prev, sdi))
            prev = sdi
    return out


def _edit_shift(buf: bytes, kids: list[mb.Box], scale: int, movie_scale: int) -> int:
    """Timestamp shift of the edit list: leading empty edits minus the first media time.

    This is the common case (encoder delay, B-frame offset) that players and ffprobe apply.
    """
    elst = mb.find(kids, b"edts")
    elst = mb.find(mb.children(buf, elst[1], elst[2]), b"elst") if elst else None
    if elst is None or not movie_scale:
        return 0
    _, s, e = elst
    version, count = mb.unpack(">B3xI", buf, s, e)
    fmt, width = (">Qq", 16) if version == 1 else (">Ii", 8)
    empty = 0
    for i in range(min(count, 1000)):
        duration, media_time = mb.unpack(fmt, buf, s + 8 + i * (width + 4), e)
        if media_time == -1:
            empty += duration * scale // movie_scale
            continue
        return empty - media_time
    return empty


def _pcm_packets(chunks: list[tuple[int, int, int]], sizes: list[int], dts: list[int]
                 ) -> tuple[list[int], list[int], list[int], list[bool], list[int]]:
    """Raw PCM stores one "sample" per audio frame: group them per chunk as ffmpeg does."""
    bounds = [c[1] for c in chunks[1:]] + [len(sizes)]
    starts = [c[1] for c in chunks]
    times = [dts[a] for a in starts]
    durs = [b - a for a, b in zip(starts, bounds, strict=True)]
    unit = sizes[0] if sizes else 0
    return times, list(times), durs, [True] * len(times), [d * unit for d in durs]
