"""The fast canonical checks (issue 14) accept and refuse exactly what the strict ones do.

``canonical_json`` hands plain values to ``json.dumps`` and everything else to the pure-Python
RFC 8785 encoder (``_jcs``); ``parse_manifest`` proves a manifest canonical from its parsed JSON
(``_canonical_as_parsed``) instead of re-encoding the model. Each is compared here with the
reference it replaces, on hypothesis-generated values and manifests, mangled in the ways a hand
edit or another tool would mangle them, and on the known-bad cases.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bodycam_ingest.custody import manifest as m
from bodycam_ingest.custody.manifest import (
    LogHead,
    Manifest,
    ManifestEntry,
    ManifestInvalid,
    canonical_bytes,
    canonical_json,
    manifest_digest,
    parse_manifest,
)


def reference_json(value: Any) -> bytes:
    """The strict encoder alone: what ``canonical_json`` was before it had a fast path."""
    return m._jcs(value).encode("utf-8")


def outcome(function: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "ok", function(*args)
    except (ValueError, RecursionError) as exc:  # what the strict encoder raises
        return type(exc).__name__, str(exc)


# --------------------------------------------------------------------------- canonical_json

_keys = st.text(max_size=4) | st.sampled_from(["a", "b", "\U0001f600", "\ufb01", "é", "A"])
_scalars = (st.none() | st.booleans() | st.text(max_size=6)
            | st.integers(-(2**54), 2**54) | st.floats(allow_nan=True)
            | st.sampled_from(["\ud800", "a\udcff", "\x00\x1f\"\\\u2028", "张三"]))
_values = st.recursive(
    _scalars,
    lambda inner: (st.lists(inner, max_size=4) | st.lists(inner, max_size=3).map(tuple)
                   | st.dictionaries(_keys, inner, max_size=4)
                   | st.dictionaries(_keys, inner, max_size=3).map(MappingProxyType)
                   | st.dictionaries(st.integers(0, 3), inner, max_size=2)),
    max_leaves=12,
)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_values)
def test_canonical_json_gives_the_strict_encoders_bytes_or_its_error(value: Any) -> None:
    assert outcome(canonical_json, value) == outcome(reference_json, value)


@pytest.mark.parametrize("value", [
    {"\U0001f600": 1, "\ufb01": 2},  # UTF-16 order differs from code point order
    {"k": 2**53}, {"k": -(2**53)}, {"k": 1.0}, {"k": float("nan")}, {1: "int key"},
    ["\ud800"], {"\udcff": 1}, MappingProxyType({"b": 1, "a": 2}), (1, "x", None),
    {"s": "\x00\x08\x0c\x1f\x7f\"\\/\u2028"}, True, None, "", [], {},
])
def test_canonical_json_edge_cases_match_the_strict_encoder(value: Any) -> None:
    assert outcome(canonical_json, value) == outcome(reference_json, value)


def test_canonical_json_refuses_a_cycle_as_the_strict_encoder_does() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(RecursionError):
        canonical_json(cycle)


# --------------------------------------------------------------------------- parse_manifest

CST = timezone(timedelta(hours=8))
_moments = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                        timezones=st.sampled_from([UTC, CST]))
_component = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="/\\:",
                           max_codepoint=0x2FFFF),
    min_size=1, max_size=6,
).filter(lambda c: c not in {".", ".."})
_hex = st.binary(min_size=1, max_size=4).map(lambda b: hashlib.sha256(b).hexdigest())


@st.composite
def manifests(draw: st.DrawFn) -> Manifest:
    paths = draw(st.lists(st.lists(_component, min_size=1, max_size=3).map("/".join),
                          max_size=4, unique=True))
    entries = tuple(ManifestEntry(
        camera_path=path, size=draw(st.integers(0, 2**53 - 1)), sha256=draw(_hex),
        device=draw(st.sampled_from(["CAM-7", "执法仪 0042"])),
        officer=draw(st.none() | st.sampled_from(["张三", 'O\'Brien "Bob"', "A/1"])),
        recording_start=draw(st.none() | _moments), ingested_at=draw(_moments)) for path in paths)
    head = draw(st.none() | st.builds(LogHead, st.integers(1, 2**53 - 1), _hex))
    return Manifest(station_id=draw(st.sampled_from(["ST-01", "站点 1"])),
                    dock_id=draw(st.sampled_from(["1", "D-0001"])), device="CAM-7",
                    started=draw(_moments), finished=draw(_moments), entries=entries,
                    previous_digest=draw(st.none() | _hex), custody_head=head,
                    supplements=draw(st.none() | _hex))


def _reencode(data: bytes, **options: Any) -> bytes:
    return json.dumps(json.loads(data), ensure_ascii=False, **options).encode()


def _swap_entries(data: bytes) -> bytes:
    doc = json.loads(data)
    doc["entries"].reverse()
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


MANGLES = {
    "none": lambda b: b,
    "zero fraction": lambda b: re.sub(rb'(T\d\d:\d\d:\d\d)Z"', rb'\1.000000Z"', b, count=1),
    "all zero fractions": lambda b: re.sub(rb'(T\d\d:\d\d:\d\d)Z"', rb'\1.000000Z"', b),
    "fraction dropped": lambda b: re.sub(rb"\.\d{6}Z", b"Z", b, count=1),
    "entries reversed": _swap_entries,
    "keys unsorted": lambda b: _reencode(b, separators=(",", ":")),
    "whitespace": lambda b: _reencode(b, sort_keys=True),
    "ascii escapes": lambda b: _reencode(b, sort_keys=True, separators=(",", ":")).decode()
    .encode("ascii", "backslashreplace") if not b.isascii() else b + b" ",
    "escaped A": lambda b: b.replace(b"A", b"\\u0041", 1),
    "escaped slash": lambda b: b.replace(b"/", b"\\/", 1),
    "minus zero": lambda b: b.replace(b'"size":0', b'"size":-0', 1),
    "exponent": lambda b: b.replace(b'"seq":1', b'"seq":1E0', 1),
    "format /1": lambda b: b.replace(b"bodycam-manifest/2", b"bodycam-manifest/1"),
    "format /2": lambda b: b.replace(b"bodycam-manifest/1", b"bodycam-manifest/2"),
    "uppercase hex": lambda b: re.sub(rb'"sha256":"([0-9a-f]{6})', lambda x: x.group().upper(),
                                      b, count=1),
    "trailing newline": lambda b: b + b"\n",
}


def reference_parse(data: bytes) -> tuple[str, Any]:
    """The strict parser as it was: the model from the JSON, then the model re-encoded by the
    pure-Python encoder and compared with the bytes."""
    try:
        parsed = m._manifest(m.load_strict_json(data.decode("utf-8")))
    except (ValueError, RecursionError) as exc:
        return "invalid", type(exc).__name__
    if reference_json(m.to_json(parsed)) != data:
        return "invalid", "canonical form"
    return "ok", parsed


def fast_parse(data: bytes) -> tuple[str, Any]:
    try:
        return "ok", parse_manifest(data)
    except ManifestInvalid as exc:
        cause = exc.__cause__
        return "invalid", type(cause).__name__ if cause is not None else "canonical form"


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(manifests(), st.sampled_from(sorted(MANGLES)))
def test_parse_accepts_and_refuses_exactly_what_the_strict_check_does(
        manifest: Manifest, mangle: str) -> None:
    data = MANGLES[mangle](canonical_bytes(manifest))
    expected = reference_parse(data)
    assert fast_parse(data)[0] == expected[0]
    if expected[0] == "ok":
        value = m.load_strict_json(data.decode("utf-8"))
        assert m._canonical_as_parsed(value, expected[1], data)  # the fast proof, not the fallback
        assert parse_manifest(data) == expected[1]


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(manifests(), st.sampled_from(sorted(MANGLES)))
def test_the_fast_proof_never_accepts_bytes_the_strict_check_refuses(
        manifest: Manifest, mangle: str) -> None:
    data = MANGLES[mangle](canonical_bytes(manifest))
    try:
        value = m.load_strict_json(data.decode("utf-8"))
        parsed = m._manifest(value)
    except (ValueError, RecursionError):
        return  # refused before any canonical check, by both
    if m._canonical_as_parsed(value, parsed, data):
        assert reference_json(m.to_json(parsed)) == data


def test_a_zero_fraction_is_refused_as_not_canonical() -> None:
    entry = ManifestEntry("A.MP4", 1, hashlib.sha256(b"x").hexdigest(), "CAM-7", None, None,
                          datetime(2025, 3, 7, 2, 0, 3, tzinfo=UTC))
    moment = datetime(2025, 3, 7, 2, tzinfo=UTC)
    data = canonical_bytes(Manifest("ST-01", "1", "CAM-7", moment, moment, (entry,), None))
    assert b'"ingested_at":"2025-03-07T02:00:03Z"' in data
    mangled = data.replace(b"02:00:03Z", b"02:00:03.000000Z")
    with pytest.raises(ManifestInvalid, match="canonical form"):
        parse_manifest(mangled)
    assert parse_manifest(data).entries == (entry,)


def test_a_parsed_manifest_knows_the_digest_of_its_bytes() -> None:
    entry = ManifestEntry("DCIM/A.MP4", 1, hashlib.sha256(b"x").hexdigest(), "CAM-7", "张三",
                          datetime(2025, 3, 7, 9, tzinfo=CST), datetime(2025, 3, 7, 10, tzinfo=CST))
    moment = datetime(2025, 3, 7, 10, tzinfo=CST)
    built = Manifest("ST-01", "1", "CAM-7", moment, moment, (entry,), None)
    data = canonical_bytes(built)
    parsed = parse_manifest(data)
    assert manifest_digest(parsed) == hashlib.sha256(data).hexdigest() == manifest_digest(built)
    assert parsed == built  # the remembered digest is no field


@settings(deadline=None)
@given(_moments, st.sampled_from([UTC, CST, timezone(timedelta(hours=-3, minutes=-30))]))
def test_format_timestamp_spells_utc_instants_as_the_conversion_does(
        moment: datetime, zone: timezone) -> None:
    moment = moment.astimezone(zone) if moment.year > 1 else moment
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    expected = utc.isoformat(timespec="microseconds" if utc.microsecond else "seconds") + "Z"
    assert m.format_timestamp(moment) == expected
    assert m.format_timestamp(moment.astimezone(UTC)) == expected


@given(st.text(max_size=12))
def test_safe_camera_path_skips_only_names_with_nothing_to_encode(path: str) -> None:
    encoded = "".join(f"%{ord(c):02X}" if c == "%" or m._FORBIDDEN_PATH_CHARS.fullmatch(c) else c
                      for c in path)
    assert m.safe_camera_path(path) == encoded
