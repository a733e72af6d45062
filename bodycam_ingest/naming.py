"""Body-camera file names: what the camera says about a recording before anyone opens it.

Cameras encode device, officer, local start time and a sequence number in the file name. Patterns are
regular expressions with the named groups ``device``, ``officer``, ``start`` and ``seq`` (each
optional) plus a ``strptime`` format for ``start``. Pure: no I/O, no clock.

Patterns come from the configuration, and file names from whatever is on a camera: both are
compiled and matched by RE2, a linear-time engine (issue 9, D12). Python's backtracking ``re``
took 42 s on one 31-character name with ``^(?P<device>(a+)+)$``, 4 times longer per two more
characters; RE2 answers in time proportional to the name. What RE2 cannot do (backreferences,
lookaround) is refused with the reason when the configuration is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol, cast

import re2


class Match(Protocol):
    def groupdict(self) -> dict[str, str | None]: ...


class Regex(Protocol):
    """What the product uses of a compiled pattern (RE2's ``_Regexp``, untyped upstream)."""

    pattern: str

    @property
    def groupindex(self) -> Mapping[str, int]: ...

    def match(self, text: str) -> Match | None: ...


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # the error goes into our one sentence, not to stderr via absl
    return options


_OPTIONS: Final = _re2_options()


def linear_compile(regex: str) -> Regex:
    """``regex`` compiled by RE2 (linear time in the length of the text it is matched against).

    Raises ``ValueError`` naming what RE2 refused (a backreference, lookaround, bad syntax)."""
    try:
        return cast(Regex, re2.compile(regex, _OPTIONS))
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ValueError(f"{reason} (patterns are run by RE2, a linear-time engine: "
                         "backreferences and lookaround are not available)") from None

KNOWN_GROUPS: Final = frozenset({"device", "officer", "start", "seq"})
# What the catalog's columns hold (recordings.name_device, name_officer: String(64); name_seq: a
# 32-bit integer on PostgreSQL). A name whose fields do not fit is not filed by that pattern.
FIELD_MAX_CHARS: Final = 64
SEQ_MAX: Final = 2**31 - 1


@dataclass(frozen=True)
class NamePattern:
    name: str
    regex: Regex
    start_format: str = "%Y%m%d%H%M%S"


@dataclass(frozen=True)
class NameFields:
    """Fields parsed from a file name; ``start`` is the camera's naive local time."""

    pattern: str | None = None
    device: str | None = None
    officer: str | None = None
    start: datetime | None = None
    seq: int | None = None


_EXT = r"\.(?i:mp4|mov|avi|ts|mts|m4v|wav|jpg|jpeg)"

PRESETS: Final[dict[str, tuple[str, str]]] = {
    # A1024_DSJ9X001_20261120093000_0001.MP4: the common 执法记录仪 layout
    "officer_device_time_seq": (
        rf"^(?P<officer>[A-Za-z0-9-]+)_(?P<device>[A-Za-z0-9-]+)_(?P<start>\d{{14}})_(?P<seq>\d{{1,6}}){_EXT}$",
        "%Y%m%d%H%M%S",
    ),
    # DSJ9X001_20261120093000_0001.MP4: cameras without an officer binding
    "device_time_seq": (
        rf"^(?P<device>[A-Za-z0-9-]+)_(?P<start>\d{{14}})_(?P<seq>\d{{1,6}}){_EXT}$",
        "%Y%m%d%H%M%S",
    ),
    # 20261120_093000_0001.MP4 or 20261120093000.MP4: generic DV naming
    "time_seq": (
        rf"^(?P<start>\d{{8}}_?\d{{6}})(?:_(?P<seq>\d{{1,6}}))?{_EXT}$",
        "%Y%m%d%H%M%S",
    ),
}


def compile_pattern(name: str, regex: str, start_format: str = "%Y%m%d%H%M%S") -> NamePattern:
    """Compile a configured pattern, refusing groups the product does not know.

    Raises ``ValueError`` with a sentence that says what is wrong; config validation shows it.
    """
    try:
        compiled = linear_compile(regex)
    except ValueError as exc:
        raise ValueError(f"pattern {name!r} is not a valid regular expression: {exc}") from None
    unknown = set(compiled.groupindex) - KNOWN_GROUPS
    if unknown:
        raise ValueError(
            f"pattern {name!r} has unknown named groups {sorted(unknown)}; "
            f"allowed: {sorted(KNOWN_GROUPS)}"
        )
    return NamePattern(name=name, regex=compiled, start_format=start_format)


def preset(name: str) -> NamePattern:
    if name not in PRESETS:
        raise ValueError(f"unknown naming preset {name!r}; known: {sorted(PRESETS)}")
    regex, fmt = PRESETS[name]
    return compile_pattern(name, regex, fmt)


def parse_name(filename: str, patterns: tuple[NamePattern, ...]) -> NameFields:
    """Fields of the first pattern that matches; an empty ``NameFields`` when none does.

    A name that matches but carries an impossible time (month 13) yields ``start=None``: the
    recording is still evidence, and the continuity analysis reports the bad name. A match whose
    device or officer is longer than ``FIELD_MAX_CHARS`` or whose sequence number exceeds
    ``SEQ_MAX`` does not count (the catalog could not file it): the next pattern is tried.
    """
    for pattern in patterns:
        match = pattern.regex.match(filename)
        if match is None:
            continue
        groups = match.groupdict()
        raw_seq = groups.get("seq")
        if any(len(groups.get(field) or "") > FIELD_MAX_CHARS for field in ("device", "officer")) \
                or (raw_seq and (len(raw_seq) > 10 or int(raw_seq) > SEQ_MAX)):
            continue
        start: datetime | None = None
        raw_start = groups.get("start")
        if raw_start:
            try:
                start = datetime.strptime(raw_start.replace("_", ""), pattern.start_format)
            except ValueError:
                start = None
        return NameFields(
            pattern=pattern.name,
            device=groups.get("device"),
            officer=groups.get("officer"),
            start=start,
            seq=int(raw_seq) if raw_seq else None,
        )
    return NameFields()
