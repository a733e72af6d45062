"""The burned-in overlay (device id, officer id, camera clock) as read by OCR, against the
timeline. Pure: OCR text and offsets in, findings out; ``seams`` does the decoding and the OCR.

GA/T 947 cameras burn the device id and the time into every picture. Three things give a forger
away: a device id that is not this camera's (a foreign segment renamed into place), a burned-in
time that is not the file name's start plus the offset (names and container times re-timed
together), and a burned-in clock that advances more than the footage between two readings (a
cut whose timestamps were rewritten). The overlay shows whole seconds, so every comparison has
``overlay_tolerance_s`` of slack; a reading that does not parse is no evidence either way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from bodycam_ingest.analysis.model import Finding, FindingKind, Overlay, Severity, Thresholds

FIELDS = {"%Y": r"(?P<Y>\d{4})", "%m": r"(?P<m>\d{2})", "%d": r"(?P<d>\d{2})",
          "%H": r"(?P<H>\d{2})", "%M": r"(?P<M>\d{2})", "%S": r"(?P<S>\d{2})",
          "{device}": r"(?P<device>[A-Z0-9]+)", "{officer}": r"(?P<officer>[A-Z0-9]+)"}


@dataclass(frozen=True)
class Reading:
    offset_s: float  # where in the recording (presentation seconds from the first frame)
    device: str | None
    officer: str | None
    clock: datetime | None  # naive, camera-local, as burned in


def geometry(crop: str) -> tuple[int, int, int, int]:
    """``WxH+X+Y`` -> (w, h, x, y); ValueError names the value."""
    m = re.fullmatch(r"(\d+)x(\d+)\+(\d+)\+(\d+)", crop.strip())
    if not m:
        raise ValueError(f"{crop!r} is not a crop such as '292x22+0+0' (WxH+X+Y)")
    w, h, x, y = (int(g) for g in m.groups())
    if not w or not h:
        raise ValueError(f"{crop!r} has no area")
    return w, h, x, y


def pattern(fmt: str) -> re.Pattern[str]:
    out = ""
    pos = 0
    tokens = re.compile("|".join(re.escape(k) for k in FIELDS))
    for m in tokens.finditer(fmt):
        out += _literal(fmt[pos:m.start()]) + FIELDS[m.group(0)]
        pos = m.end()
    return re.compile(out + _literal(fmt[pos:]))


def _literal(text: str) -> str:
    return "".join(r"\s*" if c.isspace() else re.escape(c) for c in text)


def parse(text: str, offset_s: float, overlay: Overlay) -> Reading:
    m = pattern(overlay.format).search(" ".join(text.split()))
    if m is None:
        return Reading(offset_s, None, None, None)
    g = m.groupdict()
    clock = None
    if g.get("Y") and g.get("S"):
        try:
            clock = datetime(int(g["Y"]), int(g["m"]), int(g["d"]), int(g["H"]), int(g["M"]),
                             int(g["S"]))
        except (ValueError, TypeError):
            clock = None
    return Reading(offset_s, g.get("device"), g.get("officer"), clock)


def agree(readings: list[Reading], offset_s: float) -> Reading:
    """One reading from several of adjacent frames: each field only where all agree (OCR
    misreads rarely repeat; a clock that ticks between the frames just gives no time)."""
    if len(readings) < 2:
        return Reading(offset_s, None, None, None)

    def same(values: list[object]) -> object:
        return values[0] if values[0] is not None and all(v == values[0] for v in values) \
            else None

    device = same([r.device for r in readings])
    officer = same([r.officer for r in readings])
    clock = same([r.clock for r in readings])
    return Reading(offset_s, device if isinstance(device, str) else None,
                   officer if isinstance(officer, str) else None,
                   clock if isinstance(clock, datetime) else None)


def _finding(rid: str, at: float | None, measured: str, expected: str, message: str) -> Finding:
    return Finding(FindingKind.OVERLAY_MISMATCH, Severity.CRITICAL, rid,
                   None if at is None else round(max(at, 0.0), 3), measured, expected, message)


def judge(rid: str, device: str, start: datetime, readings: list[Reading],
          th: Thresholds) -> list[Finding]:
    """``start``: the file name's camera-local start; ``readings`` in offset order."""
    out: list[Finding] = []
    good = [r for r in readings if r.device is not None or r.clock is not None]
    foreign = [r for r in good if r.device is not None and r.device != device]
    if foreign:
        r = foreign[0]
        out.append(_finding(rid, r.offset_s, str(r.device), device,
                            f"The picture carries the burned-in device id {r.device}, not "
                            f"{device}'s: this footage was recorded by another camera."))
    timed = [r for r in good if r.clock is not None]
    if timed:
        r = timed[0]
        assert r.clock is not None
        off = (r.clock - (start + timedelta(seconds=r.offset_s))).total_seconds()
        if abs(off) > th.overlay_tolerance_s:
            out.append(_finding(
                rid, r.offset_s, f"{r.clock:%Y-%m-%d %H:%M:%S}",
                f"{start + timedelta(seconds=r.offset_s):%Y-%m-%d %H:%M:%S}",
                f"The burned-in clock reads {r.clock:%Y-%m-%d %H:%M:%S} at {r.offset_s:.2f} s, "
                f"{abs(off):.0f} s {'later' if off > 0 else 'earlier'} than the file name "
                "says: the name and container times were changed."))
    jump = clock_jump(timed, th)
    if jump is not None:
        a, b, extra = jump
        out.append(_finding(
            rid, b.offset_s, f"{extra:+.1f}", f"{th.overlay_tolerance_s:g}",
            f"The burned-in clock advances {extra:+.0f} s more than the footage between "
            f"{a.offset_s:.2f} s and {b.offset_s:.2f} s: footage was cut out there and the "
            "timestamps rewritten."))
    return out


def clock_jump(timed: list[Reading], th: Thresholds) -> tuple[Reading, Reading, float] | None:
    """The first pair of consecutive readings whose clocks disagree with the footage."""
    for a, b in pairwise(timed):
        assert a.clock is not None and b.clock is not None
        extra = (b.clock - a.clock).total_seconds() - (b.offset_s - a.offset_s)
        if abs(extra) > th.overlay_tolerance_s:
            return a, b, extra
    return None
