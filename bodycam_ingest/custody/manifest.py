"""Dock manifests as plain data, their canonical bytes, and a strict parser.

A manifest is what the station signs after a dock: which files it took from which camera, with
their SHA-256, and the digest of the station's previous manifest, so that a removed, swapped or
reordered manifest breaks the chain. Since ``bodycam-manifest/2`` it also records the custody
log's head when it was signed (``custody_log_head``: ``{"seq": n, "sha256": digest}``), an anchor
of the log outside the catalog; ``/1`` manifests, without it, stay valid. A defence expert must be
able to check it years later with ``sha256sum`` and ``openssl`` alone, so the signed bytes are
plain, deterministic JSON.

Canonical form (the bytes that are hashed and signed)
-----------------------------------------------------
RFC 8785 (JSON Canonicalization Scheme) restricted to what a manifest holds: objects, arrays,
strings, integers with ``|n| <= 2**53 - 1``, ``true``/``false``/``null``. That means UTF-8, no
insignificant whitespace, object keys sorted by their UTF-16 code units, strings escaped as
ECMAScript's ``JSON.stringify`` does (only ``"``, ``\\`` and control characters; everything else is
literal UTF-8), no trailing newline. Floats never occur, so JCS's number formatting reduces to
plain decimal integers. On top of JCS the manifest fixes:

- entries sorted by ``camera_path`` (code point order, which is also UTF-8 byte order);
- timestamps as RFC 3339 in UTC with a ``Z``: ``2024-05-01T08:30:00Z``, or with exactly six
  fractional digits (``...T08:30:00.250000Z``) when the microsecond is not zero;
- SHA-256 values as 64 lowercase hex digits.

``parse_manifest`` accepts only bytes in that canonical form, so the digest of a parsed manifest
is always the digest of the file it came from.

Camera paths
------------
A camera path is relative, ``/``-separated, and can never escape the directory it is resolved
against (bagit's rule): no leading ``/``, no empty, ``.`` or ``..`` component. Control characters
(newline included), backslashes and colons are refused rather than escaped: FAT and exFAT cannot
store them, so they only appear in a forged manifest; a backslash is a separator and a colon a
drive letter on Windows, where an export may be unpacked; and ``sha256sum -c`` lines then never
need GNU's backslash escaping.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from json.encoder import encode_basestring as _quote  # json.dumps(s, ensure_ascii=False), in C
from typing import Any, TypeAlias

from bodycam_ingest.errors import ManifestInvalid

FORMAT = "bodycam-manifest/1"
FORMAT_V2 = "bodycam-manifest/2"  # /1 plus custody_log_head: the custody log's head at signing
FORMATS = (FORMAT, FORMAT_V2)
MAX_SAFE_INTEGER = 2**53 - 1

JsonValue: TypeAlias = "str | int | bool | Sequence[JsonValue] | Mapping[str, JsonValue] | None"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z", re.ASCII)
_FORBIDDEN_PATH_CHARS = re.compile(r"[\x00-\x1f\x7f\\:]")


# --------------------------------------------------------------------------- canonical JSON


def canonical_json(value: JsonValue) -> bytes:
    """RFC 8785 bytes of ``value`` (no floats); shared with the custody log so both hash alike.

    Fast path: ``json.dumps`` (C) with sorted keys, no whitespace and literal UTF-8 writes exactly
    these bytes when ``_plain(value)``: only dicts with ASCII string keys (code point order is
    then UTF-16 order), lists, tuples, strings, ``True``/``False``/``None`` and integers in the
    interoperable range; its string escaping is ``_quote`` itself. Anything else (a float, a
    non-ASCII or non-string key, another Mapping, a lone surrogate, a cycle) goes through the
    pure-Python ``_jcs``, which encodes it or raises its own error.
    """
    try:
        text = _dumps(value)
    except (TypeError, ValueError, RecursionError):  # _jcs says what is wrong (or encodes it)
        return _jcs(value).encode("utf-8")
    if _plain(value):  # json.dumps found no cycle, so this walk ends
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: _jcs names it
            pass
    return _jcs(value).encode("utf-8")


_dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                          allow_nan=False).encode


def _plain(value: object) -> bool:
    """``value`` holds only what ``json.dumps`` encodes exactly as ``_jcs`` does (see
    ``canonical_json``); the caller has checked it has no cycle."""
    stack = [value]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:  # type: ignore[operator]
                continue
            return False
        if kind is dict:
            for key, child in item.items():  # type: ignore[attr-defined]
                if type(key) is not str or not key.isascii():
                    return False
                push(child)
            continue
        if kind is list or kind is tuple:
            extend(item)  # type: ignore[arg-type]
            continue
        return False
    return True


def _jcs(value: JsonValue) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise ValueError(f"integer {value} is outside the interoperable JSON range")
        return str(value)
    if isinstance(value, str):
        _check_text(value)
        return _quote(value)
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise ValueError(f"object key {key!r} is not a string")
        keys = sorted(value) if all(k.isascii() for k in value) else sorted(value, key=_utf16)
        return "{" + ",".join(f"{_jcs(k)}:{_jcs(value[k])}" for k in keys) + "}"
    if isinstance(value, list | tuple):  # not any Sequence: bytes would become numbers
        return "[" + ",".join(_jcs(v) for v in value) + "]"
    raise ValueError(f"{type(value).__name__} has no canonical JSON form")


def _utf16(key: str) -> bytes:
    """JCS sort key; differs from code point order only beyond U+FFFF."""
    return key.encode("utf-16-be", "surrogatepass")


def _check_text(text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{text!r} is not valid Unicode (a lone surrogate, e.g. from undecodable bytes)"
        ) from exc


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- timestamps


def format_timestamp(moment: datetime) -> str:
    """The one RFC 3339 spelling used in signed data, so equal instants give equal bytes."""
    if moment.tzinfo is UTC:  # what the catalog and the parser give: no conversion
        return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")[:-6] + "Z"
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamp {moment.isoformat()} has no time zone")
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds") + "Z"


def parse_timestamp(text: str) -> datetime:
    """Inverse of ``format_timestamp``; refuses any other spelling (offsets, lowercase ``z``)."""
    if not _TIMESTAMP.fullmatch(text):
        raise ValueError(f"{text!r} is not an RFC 3339 UTC timestamp like 2024-05-01T08:30:00Z")
    try:  # the zone in the text gives the UTC singleton without a second datetime
        return datetime.fromisoformat(text[:-1] + "+00:00")
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a real date and time") from exc


def _utc(name: str, moment: datetime) -> datetime:
    if moment.tzinfo is UTC:  # parsed timestamps: nothing to convert
        return moment
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} {moment.isoformat()} has no time zone; pass an aware datetime")
    return moment.astimezone(UTC)


# --------------------------------------------------------------------------- data


def check_camera_path(path: str) -> str:
    """Return ``path`` if it is safe to resolve under a directory, else raise ``ValueError``."""
    if not path:
        raise ValueError("camera path is empty")
    _check_text(path)
    bad = _FORBIDDEN_PATH_CHARS.search(path)
    if bad:
        raise ValueError(
            f"camera path {path!r} contains {bad.group()!r}; control characters, backslashes and "
            "colons are refused (FAT cannot store them, and they are unsafe in listings and on "
            "Windows)"
        )
    if path.startswith("/"):
        raise ValueError(f"camera path {path!r} is absolute; it must be relative to the camera")
    for part in path.split("/"):
        if part in {"", ".", ".."}:
            raise ValueError(
                f"camera path {path!r} has an empty, '.' or '..' component; "
                "a manifest path must never leave its directory"
            )
    return path


def safe_camera_path(path: str) -> str:
    """The manifest spelling of a camera path: ``%`` and every refused character percent-encoded.

    FAT cannot store a colon, but a folder camera (a cradle's ext4 mount) can; such a file is
    still evidence and must still be listed and signed. Encoding ``%`` too keeps the mapping
    one-to-one (``urllib.parse.unquote`` gives the original back); ordinary names are unchanged.
    """
    if "%" not in path and _FORBIDDEN_PATH_CHARS.search(path) is None:
        return path  # the usual case: nothing to encode
    return "".join(
        f"%{ord(c):02X}" if c == "%" or _FORBIDDEN_PATH_CHARS.fullmatch(c) else c for c in path
    )


def _check_sha256(name: str, value: str) -> None:
    if not _HEX64.fullmatch(value):
        raise ValueError(f"{name} {value!r} is not 64 lowercase hex digits")


def _check_name(name: str, value: str) -> None:
    if not value:
        raise ValueError(f"{name} is empty")
    _check_text(value)


@dataclass(frozen=True)
class ManifestEntry:
    """One file taken from the camera.

    ``officer`` and ``recording_start`` are ``None`` when the camera did not say (unassigned
    camera, unreadable metadata): the file is still evidence and must still be listed.
    """

    camera_path: str
    size: int
    sha256: str
    device: str
    officer: str | None
    recording_start: datetime | None
    ingested_at: datetime

    def __post_init__(self) -> None:
        check_camera_path(self.camera_path)
        if isinstance(self.size, bool) or not 0 <= self.size <= MAX_SAFE_INTEGER:
            raise ValueError(f"size {self.size!r} of {self.camera_path!r} is not a valid size")
        _check_sha256(f"sha256 of {self.camera_path!r}", self.sha256)
        _check_name("device", self.device)
        if self.officer is not None:
            _check_name("officer", self.officer)
        if self.recording_start is not None:
            object.__setattr__(self, "recording_start", _utc("recording_start", self.recording_start))
        object.__setattr__(self, "ingested_at", _utc("ingested_at", self.ingested_at))


@dataclass(frozen=True)
class LogHead:
    """The custody log's last entry (``seq``, its ``digest``) when a manifest was signed."""

    seq: int
    digest: str

    def __post_init__(self) -> None:
        if isinstance(self.seq, bool) or not 1 <= self.seq <= MAX_SAFE_INTEGER:
            raise ValueError(f"custody-log head {self.seq!r} is not a valid sequence number")
        _check_sha256("custody-log head digest", self.digest)


@dataclass(frozen=True)
class Manifest:
    """What one dock delivered. Entries are kept sorted by camera path; paths are unique.

    Times are recorded as the station observed them and are not checked against each other: a
    station clock step (NTP) must never block the ingest of evidence.
    """

    station_id: str
    dock_id: str
    device: str
    started: datetime
    finished: datetime
    entries: tuple[ManifestEntry, ...]
    previous_digest: str | None
    custody_head: LogHead | None = None  # None: a /1 manifest, signed before anchors
    format: str = field(default="")  # derived: /2 when it carries the custody head, else /1
    # A supplementary manifest (files recovery committed to dock ``dock_id`` after its manifest was
    # signed) names the digest of that dock's latest manifest; None for a dock's own manifest.
    supplements: str | None = None

    def __post_init__(self) -> None:
        derived = FORMAT if self.custody_head is None else FORMAT_V2
        if self.format not in ("", derived):
            raise ValueError(f"format {self.format!r} is not supported; expected {derived!r}")
        object.__setattr__(self, "format", derived)
        for name in ("station_id", "dock_id", "device"):
            _check_name(name, getattr(self, name))
        object.__setattr__(self, "started", _utc("started", self.started))
        object.__setattr__(self, "finished", _utc("finished", self.finished))
        if self.previous_digest is not None:
            _check_sha256("previous manifest digest", self.previous_digest)
        if self.supplements is not None:
            _check_sha256("supplemented manifest digest", self.supplements)
        entries = tuple(sorted(self.entries, key=lambda e: e.camera_path))
        for before, after in pairwise(entries):
            if before.camera_path == after.camera_path:
                raise ValueError(f"camera path {after.camera_path!r} is listed twice")
        object.__setattr__(self, "entries", entries)


# --------------------------------------------------------------------------- encoding


def _entry_json(entry: ManifestEntry) -> dict[str, JsonValue]:
    start = entry.recording_start
    return {
        "camera_path": entry.camera_path,
        "size": entry.size,
        "sha256": entry.sha256,
        "device": entry.device,
        "officer": entry.officer,
        "recording_start": None if start is None else format_timestamp(start),
        "ingested_at": format_timestamp(entry.ingested_at),
    }


def to_json(manifest: Manifest) -> dict[str, JsonValue]:
    """The manifest as a JSON-ready mapping (what ``canonical_bytes`` encodes); the
    ``supplements_manifest_sha256`` key only in a supplementary manifest, so a dock's own
    manifest has the same bytes as before supplements existed."""
    data: dict[str, JsonValue] = {
        "format": manifest.format,
        "station_id": manifest.station_id,
        "dock_id": manifest.dock_id,
        "device": manifest.device,
        "started": format_timestamp(manifest.started),
        "finished": format_timestamp(manifest.finished),
        "previous_manifest_sha256": manifest.previous_digest,
        "entries": [_entry_json(e) for e in manifest.entries],
    } | ({} if manifest.custody_head is None else {
        "custody_log_head": {"seq": manifest.custody_head.seq,
                             "sha256": manifest.custody_head.digest}})
    if manifest.supplements is not None:
        data[_SUPPLEMENTS] = manifest.supplements
    return data


def canonical_bytes(manifest: Manifest) -> bytes:
    """The exact bytes that are written as ``manifest.json``, hashed and signed."""
    return canonical_json(to_json(manifest))


def manifest_digest(manifest: Manifest) -> str:
    """SHA-256 hex of the canonical bytes: the next manifest's ``previous_digest``.

    Remembered on the (immutable) manifest: a chain check asks twice per manifest, and a parsed
    manifest already knows it (its bytes were proved canonical)."""
    digest: str | None = manifest.__dict__.get(_DIGEST)
    if digest is None:
        digest = sha256_hex(canonical_bytes(manifest))
        object.__setattr__(manifest, _DIGEST, digest)
    return digest


_DIGEST = "_canonical_sha256"  # not a field: equality and repr ignore it


def sha256sum_listing(manifest: Manifest) -> str:
    """A listing that ``sha256sum -c`` checks from the directory the camera paths are under.

    Paths were validated on construction (no newline, no backslash), so no line needs GNU's
    backslash-escaped form.
    """
    return "".join(f"{e.sha256}  {e.camera_path}\n" for e in manifest.entries)


# --------------------------------------------------------------------------- parsing

_TOP_KEYS = frozenset(
    {
        "format",
        "station_id",
        "dock_id",
        "device",
        "started",
        "finished",
        "previous_manifest_sha256",
        "entries",
    }
)
_TOP_KEYS_V2 = _TOP_KEYS | {"custody_log_head"}
_HEAD_KEYS = frozenset({"seq", "sha256"})
_SUPPLEMENTS = "supplements_manifest_sha256"  # optional top-level key
_ENTRY_KEYS = frozenset(
    {"camera_path", "size", "sha256", "device", "officer", "recording_start", "ingested_at"}
)


class _Bad(ValueError):
    """A problem found while parsing, already phrased with its JSON location."""


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Bad(f"key {key!r} appears twice in one object")
        result[key] = value
    return result


def _refuse_float(text: str) -> Any:
    raise _Bad(f"number {text} is not an integer; manifests hold no fractions")


def load_strict_json(text: str) -> Any:
    """``json.loads`` for signed documents: a key twice in one object, a fraction, NaN or
    Infinity is a ``ValueError`` (JSONDecodeError for bad syntax), never silently accepted."""
    return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_float=_refuse_float,
                      parse_constant=_refuse_float)


def _object(where: str, value: Any, keys: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad(f"{where} is not a JSON object")
    missing = sorted(keys - value.keys())
    unknown = sorted(value.keys() - keys)
    if missing:
        raise _Bad(f"{where} lacks {', '.join(missing)}")
    if unknown:
        raise _Bad(f"{where} has unknown key(s) {', '.join(unknown)}")
    return value


def _str(where: str, value: Any, *, nullable: bool = False) -> Any:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise _Bad(f"{where} is not a string{' or null' if nullable else ''}")
    return value


def _time(where: str, value: Any, *, nullable: bool = False) -> datetime | None:
    text = _str(where, value, nullable=nullable)
    if text is None:
        return None
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise _Bad(f"{where}: {exc}") from exc


def _entry(where: str, value: Any) -> ManifestEntry:
    obj = _object(where, value, _ENTRY_KEYS)
    size = obj["size"]
    if not isinstance(size, int) or isinstance(size, bool):
        raise _Bad(f"{where}.size is not an integer")
    ingested_at = _time(f"{where}.ingested_at", obj["ingested_at"])
    assert ingested_at is not None  # not nullable
    try:
        return ManifestEntry(
            camera_path=_str(f"{where}.camera_path", obj["camera_path"]),
            size=size,
            sha256=_str(f"{where}.sha256", obj["sha256"]),
            device=_str(f"{where}.device", obj["device"]),
            officer=_str(f"{where}.officer", obj["officer"], nullable=True),
            recording_start=_time(f"{where}.recording_start", obj["recording_start"], nullable=True),
            ingested_at=ingested_at,
        )
    except _Bad:
        raise
    except ValueError as exc:
        raise _Bad(f"{where}: {exc}") from exc


def _manifest(value: Any) -> Manifest:
    version = value.get("format") if isinstance(value, dict) else None
    if isinstance(value, dict) and "format" in value and version not in FORMATS:
        raise _Bad(f"format is {version!r}; this version reads {' and '.join(FORMATS)}")
    keys = _TOP_KEYS_V2 if version == FORMAT_V2 else _TOP_KEYS
    if isinstance(value, dict) and _SUPPLEMENTS in value:
        keys = keys | {_SUPPLEMENTS}
    obj = _object("the top level", value, keys)
    head: LogHead | None = None
    if version == FORMAT_V2:
        raw = _object("custody_log_head", obj["custody_log_head"], _HEAD_KEYS)
        if not isinstance(raw["seq"], int) or isinstance(raw["seq"], bool):
            raise _Bad("custody_log_head.seq is not an integer")
        head = LogHead(raw["seq"], _str("custody_log_head.sha256", raw["sha256"]))
    if not isinstance(obj["entries"], list):
        raise _Bad("entries is not a JSON array")
    entries = tuple(_entry(f"entries[{i}]", e) for i, e in enumerate(obj["entries"]))
    started = _time("started", obj["started"])
    finished = _time("finished", obj["finished"])
    assert started is not None and finished is not None  # not nullable
    return Manifest(
        station_id=_str("station_id", obj["station_id"]),
        dock_id=_str("dock_id", obj["dock_id"]),
        device=_str("device", obj["device"]),
        started=started,
        finished=finished,
        entries=entries,
        previous_digest=_str("previous_manifest_sha256", obj["previous_manifest_sha256"], nullable=True),
        custody_head=head,
        supplements=_str(_SUPPLEMENTS, obj[_SUPPLEMENTS]) if _SUPPLEMENTS in obj else None,
    )


def parse_manifest(data: bytes, *, source: str = "(bytes)") -> Manifest:
    """Bytes to a validated ``Manifest``, or ``ManifestInvalid`` naming ``source`` and the fault.

    Only canonical bytes are accepted: anything else was edited by hand or written by another
    tool, and its digest would not be the one the next manifest chained to.
    """
    try:
        text = data.decode("utf-8")
        value = load_strict_json(text)
        manifest = _manifest(value)
    except UnicodeDecodeError as exc:
        raise ManifestInvalid(source=source, problem=f"not UTF-8 ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise ManifestInvalid(source=source, problem=f"not valid JSON ({exc})") from exc
    except _Bad as exc:
        raise ManifestInvalid(source=source, problem=str(exc)) from exc
    except ValueError as exc:  # model checks, integers too long to convert
        raise ManifestInvalid(source=source, problem=str(exc)) from exc
    except RecursionError as exc:
        raise ManifestInvalid(source=source, problem="JSON nested too deeply") from exc
    if not _canonical_as_parsed(value, manifest, data) and canonical_bytes(manifest) != data:
        raise ManifestInvalid(
            source=source,
            problem="its bytes are not in canonical form, so it was edited or written by "
            "another tool; restore the original file from the evidence store",
        )
    object.__setattr__(manifest, _DIGEST, sha256_hex(data))
    return manifest


def _canonical_as_parsed(value: Any, manifest: Manifest, data: bytes) -> bool:
    """``canonical_bytes(manifest) == data``, decided without re-encoding the model in Python.

    ``value`` is what ``load_strict_json`` made of ``data`` and ``_manifest`` accepted: objects
    with exactly the known (ASCII) keys, no floats, integers and strings the model checked (safe
    range, valid Unicode). ``to_json(manifest)`` differs from ``value`` only where the model
    normalises: it sorts the entries by camera path, derives ``format``, and re-spells each
    timestamp (``format_timestamp(parse_timestamp(t)) == t`` for every ``t`` the parser accepts
    except a zero fraction, ``.000000Z``). So when those are already as the model makes them,
    ``canonical_json(value)`` (here ``json.dumps``, which writes exactly that for such a value)
    is ``canonical_bytes(manifest)``. False means "not shown": the caller then compares the slow
    way, so this can speed up what is accepted but never change it.
    """
    try:
        if _dumps(value).encode("utf-8") != data:
            return False
    except (TypeError, ValueError, RecursionError):
        return False
    entries = value["entries"]
    if value["format"] != manifest.format or len(entries) != len(manifest.entries):
        return False
    if any(e["camera_path"] != m.camera_path for e, m in zip(entries, manifest.entries, strict=True)):
        return False
    stamps = [value["started"], value["finished"]]
    for e in entries:
        stamps.append(e["ingested_at"])
        if e["recording_start"] is not None:
            stamps.append(e["recording_start"])
    return not any(t.endswith(_ZERO_FRACTION) for t in stamps)


_ZERO_FRACTION = ".000000Z"  # parsed, then written without a fraction: not canonical
