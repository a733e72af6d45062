"""The fallback reader: ffprobe's packet scan, turned into the same ``MediaTimeline``.

Used for what the MP4 index reader declines: MPEG-TS and AVI cameras, fragmented MP4, and files
whose ``moov`` was never written. It reads the whole file, so it is the slow path.

Two ffprobe runs: a header probe with ``-show_data_hash sha256`` (the codec-private data digest
the index reader computes too) and a packet scan without it (hashing every packet would cost a
second pass over the media). We call ffprobe directly rather than through ``ffmpeg.probe``
because ffmpeg-python 0.2 has no timeout, and a hostile file must not hang the station.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from bodycam_ingest.analysis.model import (
    ContainerInfo,
    MediaTimeline,
    PacketTable,
    ParamSwitch,
    StreamInfo,
    StreamKind,
    nominal_frame_rate,
)
from bodycam_ingest.analysis.mp4index import bmff_format

TIMEOUT_S = 600.0
HEADER_ARGS = ("-v", "error", "-hide_banner", "-of", "json", "-show_format", "-show_streams",
               "-show_data_hash", "sha256")
PACKET_ARGS = ("-v", "error", "-hide_banner", "-of", "json", "-show_packets", "-show_entries",
               "packet=stream_index,pts,dts,duration,size,flags:packet_side_data=side_data_type")
SWITCH_SIDE_DATA = {"New Extradata": "new codec-private data",
                    "Param Change": "new stream parameters"}


def probe(path: Path, *, ffprobe: str = "ffprobe", timeout_s: float = TIMEOUT_S
          ) -> tuple[MediaTimeline | None, str | None]:
    """The timeline, or None and one sentence saying why ffprobe could not give one."""
    try:
        header = _run([ffprobe, *HEADER_ARGS, str(path)], timeout_s)
        packets = _run([ffprobe, *PACKET_ARGS, str(path)], timeout_s)
    except _ProbeFailed as exc:
        return None, str(exc)
    try:
        timeline = timeline_from_probe(json.loads(header[0]), json.loads(packets[0]).get(
            "packets", []), packets[1])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return None, f"ffprobe's output could not be understood ({exc})"
    if not timeline.streams:
        return None, "ffprobe found no audio or video stream in it"
    return timeline, None


class _ProbeFailed(Exception):
    pass


def run_ffprobe(argv: list[str], timeout_s: float) -> tuple[str, str]:
    """Run ffprobe (``argv[0]``) with a timeout: (stdout, stderr), or ``ProbeFailed`` with one
    sentence. The one way the station runs ffprobe (the ingest summary uses it too)."""
    return _run(argv, timeout_s)


ProbeFailed = _ProbeFailed


def _run(argv: list[str], timeout_s: float) -> tuple[str, str]:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout_s, check=False)
    except FileNotFoundError as exc:
        raise _ProbeFailed(f"{argv[0]} is not installed; install ffmpeg") from exc
    except subprocess.TimeoutExpired as exc:
        raise _ProbeFailed(f"ffprobe took longer than {timeout_s:.0f} s on it") from exc
    err = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode != 0:
        last = err.splitlines()[-1] if err else f"exit status {done.returncode}"
        raise _ProbeFailed(f"ffprobe cannot read it: {last}")
    return done.stdout.decode("utf-8", "replace"), err


def timeline_from_probe(info: Mapping[str, Any], packets: Sequence[Mapping[str, Any]],
                        errors: str = "") -> MediaTimeline:
    """Pure conversion of ffprobe's JSON; ``errors`` is its stderr (problems while reading)."""
    fmt = info.get("format", {})
    tags = fmt.get("tags", {})
    brands: tuple[str, ...] = ()
    if tags.get("major_brand"):
        compat = tags.get("compatible_brands", "")
        brands = (tags["major_brand"].ljust(4),
                  *(compat[i:i + 4] for i in range(0, len(compat) - 3, 4)))
    name = str(fmt.get("format_name", "unknown"))
    rows: dict[int, list[Mapping[str, Any]]] = {}
    for p in packets:
        rows.setdefault(int(p["stream_index"]), []).append(p)
    streams: list[StreamInfo] = []
    tables: dict[int, PacketTable] = {}
    switches: list[ParamSwitch] = []
    handlers: list[str] = []
    for s in info.get("streams", []):
        kind: StreamKind
        if s.get("codec_type") == "video":
            kind = "video"
        elif s.get("codec_type") == "audio":
            kind = "audio"
        else:
            continue
        index = int(s["index"])
        table, sw = _table(index, rows.get(index, []))
        tb = Fraction(s["time_base"])
        stags = s.get("tags", {})
        if stags.get("handler_name"):
            handlers.append(str(stags["handler_name"]))
        digest = str(s.get("extradata_hash", ""))
        streams.append(StreamInfo(
            index=index, kind=kind, codec=str(s.get("codec_name", "unknown")),
            profile=None if s.get("profile") in (None, "unknown") else str(s["profile"]),
            width=s.get("width"), height=s.get("height"),
            frame_rate=nominal_frame_rate(table, tb) if kind == "video" else None,
            sample_rate=int(s["sample_rate"]) if s.get("sample_rate") else None,
            time_base=tb,
            extradata_sha256=digest.split(":", 1)[1].lower() if ":" in digest else None,
            encoder=stags.get("encoder")))
        tables[index] = table
        switches.extend(sw)
    problem = "; ".join(errors.splitlines()[:3]) or None
    return MediaTimeline(
        container=ContainerInfo(
            format=bmff_format(brands) if name.startswith("mov,") else name.split(",", maxsplit=1)[0],
            brands=brands, encoder=tags.get("encoder"), handler_names=tuple(handlers),
            creation_time=_utc(tags.get("creation_time")),
            duration_s=float(fmt["duration"]) if fmt.get("duration") else None),
        streams=tuple(streams), packets=tables, source="ffprobe", complete=problem is None,
        problem=None if problem is None else f"ffprobe reported: {problem}",
        switches=tuple(switches))


def _table(index: int, rows: list[Mapping[str, Any]]) -> tuple[PacketTable, list[ParamSwitch]]:
    switches = []
    for i, p in enumerate(rows):
        for side in p.get("side_data_list", ()):
            what = SWITCH_SIDE_DATA.get(side.get("side_data_type", ""))
            if what and i > 0:
                switches.append(ParamSwitch(index, i, what))
    table = PacketTable(
        pts=tuple(_int(p.get("pts")) for p in rows),
        dts=tuple(_int(p.get("dts")) for p in rows),
        duration=tuple(_int(p.get("duration")) or 0 for p in rows),
        keyframe=tuple("K" in str(p.get("flags", "")) for p in rows),
        size=tuple(int(p.get("size", 0)) for p in rows))
    return table, switches


def _int(value: object) -> int | None:
    return None if value is None or value == "N/A" else int(str(value))


def _utc(value: object) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
