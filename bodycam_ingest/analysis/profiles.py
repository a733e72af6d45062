"""Device profiles as plain text fields: the one shape for the config, the catalog and the CLI.

A ``DeviceProfile`` holds tuples, Fractions and ``None`` (no encoder tag); TOML and JSON hold
neither, so each attribute is a list of short strings that people can read and write by hand:
``"160x120"``, ``"30000/1001"``, ``"video 1/90000"``, ``"video h264 High"``, ``"isom/iso2/avc1"``,
and ``""`` for "this tag is absent". Pure: no I/O.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, cast

from pydantic import BaseModel, ConfigDict

from bodycam_ingest.analysis.model import DeviceProfile, Overlay, StreamKind
from bodycam_ingest.analysis.overlay import geometry

_KINDS = ("video", "audio")


class ProfileFields(BaseModel):
    """Every attribute optional; an empty list means "not known", never "nothing"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gop: int | None = None
    encoders: list[str] = []
    stream_encoders: list[str] = []
    handler_names: list[str] = []
    brands: list[str] = []
    time_bases: list[str] = []
    resolutions: list[str] = []
    frame_rates: list[str] = []
    sample_rates: list[int] = []
    codecs: list[str] = []
    codec_private: list[str] = []
    # The recording chain (issue 13).
    gops: list[str] = []  # GOP per frame rate: "10 5" (10 fps: 5 frames), "6 3" (night mode)
    split_s: list[float] = []  # segment length of a continuing recording, seconds
    start_marks: list[str] = []  # "sei:5", "nal:6", "audio-first": only at a session's start
    audio_continues: bool | None = None  # the audio runs on sample for sample across a split
    # The burned-in overlay (off until set): crop WxH+X+Y, OCR upscale, and its format.
    overlay_crop: str | None = None
    overlay_scale: int = 3
    overlay_format: str | None = None


def _tag(value: str | None) -> str:
    return value or ""


def _untag(value: str) -> str | None:
    return value or None


def _kind(value: str, text: str) -> StreamKind:
    if value not in _KINDS:
        raise ValueError(f"{text!r} must start with 'video' or 'audio'")
    return cast(StreamKind, value)


def _fraction(text: str) -> Fraction:
    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{text!r} is not a number or a fraction such as '30000/1001'") from None
    if value <= 0:
        raise ValueError(f"{text!r} must be positive")
    return value


def _resolution(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise ValueError(f"{text!r} is not a resolution such as '1920x1080'")
    return int(width), int(height)


def _codec(text: str) -> tuple[str, str, str | None]:
    parts = text.split(" ", 2)
    if len(parts) < 2:
        raise ValueError(f"{text!r} is not 'KIND CODEC [PROFILE]', e.g. 'video h264 High'")
    return _kind(parts[0], text), parts[1], parts[2] if len(parts) == 3 else None


def _kind_value(text: str) -> tuple[StreamKind, str]:
    kind, sep, value = text.partition(" ")
    if not sep or not value:
        raise ValueError(f"{text!r} is not 'KIND VALUE', e.g. 'video 1/90000'")
    return _kind(kind, text), value


def profile_from_fields(fields: ProfileFields) -> DeviceProfile:
    """Raises ValueError naming the first value that cannot be read."""
    if fields.gop is not None and fields.gop < 1:
        raise ValueError(f"gop {fields.gop} must be at least 1")
    time_bases = set()
    for text in fields.time_bases:
        kind, value = _kind_value(text)
        time_bases.add((kind, _fraction(value)))
    extradata = {_kind_value(text) for text in fields.codec_private}
    gops = set()
    for text in fields.gops:
        rate, _, gop = text.partition(" ")
        if not gop.isdigit() or int(gop) < 1:
            raise ValueError(f"{text!r} is not 'RATE GOP', e.g. '30 30' or '15 15'")
        gops.add((_fraction(rate), int(gop)))
    overlay = None
    if fields.overlay_crop or fields.overlay_format:
        if not (fields.overlay_crop and fields.overlay_format):
            raise ValueError("overlay_crop and overlay_format go together")
        geometry(fields.overlay_crop)
        if not 1 <= fields.overlay_scale <= 8:
            raise ValueError(f"overlay_scale {fields.overlay_scale} must be 1 to 8")
        overlay = Overlay(fields.overlay_crop, fields.overlay_format, fields.overlay_scale)
    return DeviceProfile(
        gop=fields.gop,
        encoders=frozenset(_untag(e) for e in fields.encoders),
        stream_encoders=frozenset(_untag(e) for e in fields.stream_encoders),
        handler_names=frozenset(fields.handler_names),
        brands=frozenset(tuple(b.split("/")) for b in fields.brands),
        time_bases=frozenset(time_bases),
        resolutions=frozenset(_resolution(r) for r in fields.resolutions),
        frame_rates=frozenset(_fraction(r) for r in fields.frame_rates),
        sample_rates=frozenset(fields.sample_rates),
        codecs=frozenset(_codec(c) for c in fields.codecs),
        extradata=frozenset(extradata),
        gops=frozenset(gops),
        split_s=frozenset(round(x, 3) for x in fields.split_s),
        start_marks=frozenset(fields.start_marks),
        audio_continues=fields.audio_continues,
        overlay=overlay,
    )


def fields_from_profile(profile: DeviceProfile) -> ProfileFields:
    return ProfileFields(
        gop=profile.gop,
        encoders=sorted(_tag(e) for e in profile.encoders),
        stream_encoders=sorted(_tag(e) for e in profile.stream_encoders),
        handler_names=sorted(profile.handler_names),
        brands=sorted("/".join(b) for b in profile.brands),
        time_bases=sorted(f"{k} {tb}" for k, tb in profile.time_bases),
        resolutions=[f"{w}x{h}" for w, h in sorted(profile.resolutions)],
        frame_rates=[str(r) for r in sorted(profile.frame_rates)],
        sample_rates=sorted(profile.sample_rates),
        codecs=sorted(f"{k} {c}" + (f" {p}" if p else "") for k, c, p in profile.codecs),
        codec_private=sorted(f"{k} {d}" for k, d in profile.extradata),
        gops=[f"{r} {g}" for r, g in sorted(profile.gops)],
        split_s=sorted(profile.split_s),
        start_marks=sorted(profile.start_marks),
        audio_continues=profile.audio_continues,
        overlay_crop=profile.overlay.crop if profile.overlay else None,
        overlay_scale=profile.overlay.scale if profile.overlay else 3,
        overlay_format=profile.overlay.format if profile.overlay else None,
    )


def profile_to_json(profile: DeviceProfile) -> dict[str, Any]:
    return fields_from_profile(profile).model_dump()


def profile_from_json(data: dict[str, Any]) -> DeviceProfile:
    return profile_from_fields(ProfileFields.model_validate(data))
