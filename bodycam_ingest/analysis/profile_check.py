"""A recording against what its device normally writes (its ``DeviceProfile``).

A camera's firmware writes the same tags, brands, time scales and codec settings every time; a
file that went through an editor or a re-encoder carries that tool's instead. Only attributes the
profile knows are judged: an empty set in the profile means "not learned yet".
"""

from __future__ import annotations

from fractions import Fraction

from bodycam_ingest.analysis.model import DeviceProfile, FindingKind, MediaTimeline

RATE_TOLERANCE = 0.01  # 29.97 vs 30 fps is a different setting; 1000/33 vs 1000/34 ticks is not

Issue = tuple[FindingKind, str, str, str]  # kind, measured, expected, message


def _fmt(values: object) -> str:
    if isinstance(values, frozenset | set):
        return ", ".join(sorted(repr(v) if v is None else str(v) for v in values))
    return str(values)


def profile_findings(t: MediaTimeline, p: DeviceProfile) -> list[Issue]:
    out: list[Issue] = []
    tags = _tag_differences(t, p)
    if tags:
        measured = "; ".join(f"{k} {v}" for k, v, _ in tags)
        expected = "; ".join(f"{k} {e}" for k, _, e in tags)
        out.append((FindingKind.FOREIGN_ENCODER, measured, expected,
                    f"The file carries tags this camera never writes ({measured}; the camera "
                    f"writes {expected}): it was re-encoded or rewritten by other software."))
    params = _parameter_differences(t, p)
    if params:
        measured = "; ".join(f"{k} {v}" for k, v, _ in params)
        expected = "; ".join(f"{k} {e}" for k, _, e in params)
        out.append((FindingKind.PARAMETER_CHANGE, measured, expected,
                    f"The file's encoding differs from everything this camera has recorded "
                    f"({measured}; usual: {expected}): it did not come out of this camera as "
                    "it is."))
    return out


def _tag_differences(t: MediaTimeline, p: DeviceProfile) -> list[tuple[str, str, str]]:
    out = []
    c = t.container
    if p.encoders and c.encoder not in p.encoders:
        out.append(("encoder", repr(c.encoder), _fmt(p.encoders)))
    strange = [n for n in c.handler_names if n not in p.handler_names]
    if p.handler_names and strange:
        out.append(("handler", ", ".join(map(repr, strange)), _fmt(p.handler_names)))
    streams = [s.encoder for s in t.streams if s.encoder not in p.stream_encoders]
    if p.stream_encoders and streams:
        out.append(("stream encoder", ", ".join(map(repr, streams)), _fmt(p.stream_encoders)))
    if p.brands and c.brands not in p.brands:
        out.append(("brands", "/".join(c.brands),
                    ", ".join(sorted("/".join(b) for b in p.brands))))
    return out


def _parameter_differences(t: MediaTimeline, p: DeviceProfile) -> list[tuple[str, str, str]]:
    out = []
    for s in t.streams:
        k = s.kind
        if p.codecs and (k, s.codec, s.profile) not in p.codecs:
            out.append((f"{k} codec", f"{s.codec} {s.profile}",
                        ", ".join(sorted(f"{c} {pr}" for kk, c, pr in p.codecs if kk == k))))
        if p.time_bases and (k, s.time_base) not in p.time_bases:
            out.append((f"{k} time base", str(s.time_base),
                        ", ".join(sorted(str(tb) for kk, tb in p.time_bases if kk == k))))
        if p.extradata and s.extradata_sha256 and (k, s.extradata_sha256) not in p.extradata:
            out.append((f"{k} codec-private data", s.extradata_sha256[:12],
                        ", ".join(sorted(d[:12] for kk, d in p.extradata if kk == k))))
        if k == "video":
            size = (s.width, s.height)
            if p.resolutions and s.width and s.height and size not in p.resolutions:
                out.append(("resolution", f"{s.width}x{s.height}",
                            ", ".join(f"{w}x{h}" for w, h in sorted(p.resolutions))))
            if p.frame_rates and s.frame_rate and not _known_rate(s.frame_rate, p.frame_rates):
                out.append(("frame rate", f"{float(s.frame_rate):.3f}",
                            ", ".join(f"{float(r):.3f}" for r in sorted(p.frame_rates))))
        elif p.sample_rates and s.sample_rate and s.sample_rate not in p.sample_rates:
            out.append(("sample rate", str(s.sample_rate), _fmt(p.sample_rates)))
    return out


def _known_rate(rate: Fraction, known: frozenset[Fraction]) -> bool:
    return any(abs(rate - r) <= RATE_TOLERANCE * r for r in known)
