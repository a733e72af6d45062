"""Tables and lines exactly as ``rich`` prints them to a pipe or a file, without importing rich.

A person's ``bodycam list`` or ``show`` piped to ``less``, ``grep`` or a mail costs no rich import
(tens of milliseconds) and no rich layout (about 0.1 s for 100 rows). Only the cases whose
output is certain are rendered here: no colour (not a terminal, no FORCE_COLOR or TTY_*
override), a UTF-8 stream, cells of printable ASCII (and the "…" of a shortened digest), every
no-wrap column fitting. Anything else returns None and the caller
lets rich render it. tests/test_cli_lean.py compares both on random tables, byte for byte.

Also the text helpers the renderers share (``safe``, ``when``, ``human_size``), which need no rich.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Sequence
from datetime import datetime
from typing import IO, Any

WIDTH = 160  # render.out / render.err when the stream is not a terminal

# Characters that steer a terminal instead of showing: C0 and C1 controls and DEL (ESC starts ANSI
# colours, cursor moves and OSC 52, which writes the clipboard; BEL rings), and the bidirectional
# formatting characters, which make a label read differently from what it is (U+202E turns
# "C-7[U+202E]fdp.exe" into "C-7exe.pdf"). Each is shown as its \\x or \\u escape.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}]")
_UNSAFE_BUT_LINES = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_BIDI}]")
# what this module lays out itself: one terminal cell per character, no markup or emoji codes
_SIMPLE = re.compile("[\x20-\x7e\u2026]*")
_RICH_ENV = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS",
             "JUPYTER_LINES")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(value: object, *, lines: bool = False) -> str:
    """``value`` as text a terminal shows literally: every control, escape and bidi character
    becomes a visible escape (``\\x1b``, ``\\u202e``). The one helper every renderer uses for what a
    person or a camera supplied (labels, notes, reasons, file names, error messages). With
    ``lines`` a newline stays a newline (a multi-line text shown exactly, e.g. a request's
    preview)."""
    pattern = _UNSAFE_BUT_LINES if lines else _UNSAFE
    return pattern.sub(_escape_char, "-" if value is None else str(value))


def when(value: datetime | str | None) -> str:
    """A time from the catalog or from JSON (ISO text), to the second."""
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def usable(stream: IO[str]) -> bool:
    """Whether rich, given ``stream``, would print without colour or terminal width, in UTF-8:
    then this module's output is rich's."""
    try:
        if stream.isatty():
            return False
    except (AttributeError, ValueError):
        return False
    if any(os.environ.get(name) is not None for name in _RICH_ENV):
        return False
    return str(getattr(stream, "encoding", "") or "").lower().replace("-", "").startswith("utf")


def _simple(text: str) -> bool:
    return _SIMPLE.fullmatch(text) is not None


def line(text: str, *, markup: bool = False, width: int = WIDTH) -> str | None:
    """What a rich console's ``print`` writes for ``text`` (a ``Text``, or with ``markup`` a
    string rich parses for markup and emoji codes), or None when it is not certain."""
    if not _simple(text) or len(text) > width or (markup and ("[" in text or ":" in text)):
        return None
    return text + "\n"


def _collapse(widths: list[int], wrapable: list[bool], max_width: int) -> list[int]:
    """rich.table.Table._collapse_widths."""
    total = sum(widths)
    excess = total - max_width
    if any(wrapable):
        while total and excess > 0:
            top = max(w for w, ok in zip(widths, wrapable, strict=True) if ok)
            second = max(w if ok and w != top else 0 for w, ok in zip(widths, wrapable,
                                                                      strict=True))
            difference = top - second
            ratios = [1 if (w == top and ok) else 0 for w, ok in zip(widths, wrapable,
                                                                   strict=True)]
            if not any(ratios) or not difference:
                break
            widths = _ratio_reduce(excess, ratios, [min(excess, difference)] * len(widths),
                                   widths)
            total = sum(widths)
            excess = total - max_width
    return widths


def _ratio_reduce(total: int, ratios: list[int], maximums: list[int],
                  values: list[int]) -> list[int]:
    """rich._ratio.ratio_reduce."""
    ratios = [r if m else 0 for r, m in zip(ratios, maximums, strict=True)]
    total_ratio = sum(ratios)
    if not total_ratio:
        return values[:]
    remaining = total
    result: list[int] = []
    for ratio, maximum, value in zip(ratios, maximums, values, strict=True):
        if ratio and total_ratio > 0:
            distributed = min(maximum, round(ratio * remaining / total_ratio))
            result.append(value - distributed)
            remaining -= distributed
            total_ratio -= ratio
        else:
            result.append(value)
    return result


def _widths(cells: list[list[str]], kinds: list[str], max_width: int) -> list[int] | None:
    """The columns' widths (with padding) as rich lays them out, or None when unsure."""
    count = len(kinds)
    # rich measures each column (widest cell and its padding) at most as wide as the table
    raw = [max(len(row[i]) for row in cells) + 2 for i in range(count)]
    widths = [min(w, max_width) for w in raw]
    if sum(raw) <= max_width:
        return widths
    widths = _collapse(widths, [kind != "no_wrap" for kind in kinds], max_width)
    if sum(widths) > max_width:
        return None  # rich then narrows every column, no-wrap ones too: its business
    # rich measures every column again at its new width: the widest cell, at most the width
    widths = [min(raw[i], widths[i]) for i in range(count)]
    if any(w < 3 for w in widths):
        return None
    return widths


_WORD = re.compile(r"\s*\S+\s*")


def _divide(text: str, width: int, fold: bool) -> list[int]:
    """rich._wrap.divide_line for one-cell characters: where a wrapped line breaks."""
    breaks: list[int] = []
    offset = 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group()
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width:
            if fold:
                chunks = [word[i:i + width] for i in range(0, len(word), width)]
                for number, chunk in enumerate(chunks):
                    if start:
                        breaks.append(start)
                    if number == len(chunks) - 1:
                        offset = len(chunk)
                    else:
                        start += len(chunk)
            else:
                if start:
                    breaks.append(start)
                offset = len(word)
        elif offset and start:
            breaks.append(start)
            offset = len(word)
    return breaks


def _wrap(text: str, width: int, kind: str) -> list[str]:
    """rich.text.Text.wrap of a one-line cell at ``width`` (justify "default")."""
    if kind == "no_wrap" or len(text) <= width:
        return [text[:width] if kind == "no_wrap" else text]
    offsets = [0, *_divide(text, width, kind == "fold"), len(text)]
    lines = []
    for begin, end in itertools.pairwise(offsets):
        line = text[begin:end]
        if len(line) > width:  # Text.rstrip_end: trailing spaces beyond the width go
            trailing = len(line) - len(line.rstrip())
            line = line[:len(line) - min(trailing, len(line) - width)]
        if len(line) > width:  # Text.truncate
            line = line[:width - 1] + "…" if kind != "fold" else line[:width]
        lines.append(line)
    return lines


def _draw(title: str | None, cells: list[list[str]], widths: list[int], kinds: list[str],
          header: bool) -> str:
    table_width = sum(widths) + len(widths) + 1
    out: list[str] = []
    if title is not None:  # centred as rich.text.Lines.justify does: right-stripped first
        shown = title.rstrip()
        excess = table_width - len(shown)
        out.append(" " * (excess // 2) + shown + " " * (excess - excess // 2))
    if header:
        out.append("┏" + "┳".join("━" * w for w in widths) + "┓")
    else:
        out.append("┌" + "┬".join("─" * w for w in widths) + "┐")
    for index, row in enumerate(cells):
        edge = "┃" if header and index == 0 else "│"
        pieces = [_wrap(cell, w - 2, kind) for cell, w, kind in zip(row, widths, kinds,
                                                                     strict=True)]
        height = max(len(p) for p in pieces)
        if header and index == 0:  # rich aligns a header's cells at the bottom
            pieces = [[""] * (height - len(p)) + p for p in pieces]
        for line_no in range(height):
            out.append(edge + edge.join(
                " " + (p[line_no] if line_no < len(p) else "").ljust(w - 2) + " "
                for p, w in zip(pieces, widths, strict=True)) + edge)
        if header and index == 0:
            out.append("┡" + "╇".join("━" * w for w in widths) + "┩")
    out.append("└" + "┴".join("─" * w for w in widths) + "┘")
    return "\n".join(out) + "\n"


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[str]], *,
          header: bool = True, kinds: Sequence[str] | None = None,
          width: int = WIDTH) -> str | None:
    """A ``rich.table.Table`` (default box, padding 1) as rich prints it at ``width`` without
    colour, or None when unsure. ``kinds``, one per column: "no_wrap" (``no_wrap=True``, the
    default), "fold" (``overflow="fold"``) or "wrap" (neither).

    ``rows`` are the cells' text, already made safe (``safe``)."""
    count = len(columns)
    title = title or None  # rich shows no empty title
    kinds = list(kinds) if kinds is not None else ["no_wrap"] * count
    cells = ([list(columns)] if header else []) + [list(row) for row in rows]
    certain = ((bool(rows) or header) and count > 0 and len(kinds) == count
               and all(len(row) == count and all(map(_simple, row)) for row in cells)
               and (title is None or _simple(title)))
    kinds = list(kinds)
    widths = _widths(cells, kinds, width - (count + 1)) if certain else None
    if widths is None or (title is not None and len(title) > sum(widths) + count + 1):
        return None
    return _draw(title, cells, widths, kinds, header)


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def emit_json(data: Any) -> None:
    """``--json`` output: sorted keys, two-space indent, UTF-8 as is."""
    print(json.dumps(data, default=_json_default, sort_keys=True, indent=2, ensure_ascii=False))
