"""What a player shows vs what the file holds: the edit lists (MP4 ``elst``) of every track.

A camera writes one edit per track (after, at most, a short leading pause for encoder priming):
play the media from (about) its start to its end. More edits can make every player skip footage
that is still in the file, show a part twice, hide the end, or change the speed; the footage's
own timestamps stay continuous, so only the edit list tells. Pure.
"""

from __future__ import annotations

from bodycam_ingest.analysis.model import EditList, MediaTimeline, Thresholds

Issue = tuple[float | None, str, str]  # offset (presentation seconds), measured, message


def edit_issues(t: MediaTimeline, th: Thresholds) -> list[Issue]:
    """One issue per track and problem; offsets are where a player is when it happens."""
    out: list[Issue] = []
    kinds = {s.index: s.kind for s in t.streams}
    for el in t.edit_lists:
        out += _track(el, kinds.get(el.stream_index, "track"), th)
    seen: set[tuple[float | None, str]] = set()
    unique = []
    for offset, measured, message in out:  # the same edit in video and audio: one issue
        key = (None if offset is None else round(offset, 1), measured.split(" ", 1)[0])
        if key not in seen:
            seen.add(key)
            unique.append((offset, measured, message))
    return unique


def _track(el: EditList, kind: str, th: Thresholds) -> list[Issue]:
    tol = th.edit_tolerance_s
    out: list[Issue] = []
    shown = 0.0  # presentation time where the current edit begins
    previous_end: float | None = None
    for e in el.edits:
        if e.media_start_s is None:
            if previous_end is not None and e.duration_s > tol:
                out.append((shown, f"pause {e.duration_s:.2f} s",
                            f"The {kind} edit list inserts a {e.duration_s:.2f} s pause at "
                            f"{shown:.2f} s: players show nothing there."))
            shown += e.duration_s
            continue
        start = e.media_start_s
        if abs(e.rate - 1.0) > 1e-6:
            out.append((shown, f"rate {e.rate:g}",
                        f"The {kind} edit list plays {e.duration_s:.2f} s at {e.rate:g}x speed "
                        f"from {shown:.2f} s."))
        if previous_end is None:
            if start - el.first_s > tol:
                skipped = start - el.first_s
                out.append((0.0, f"skip {skipped:.2f} s",
                            f"The {kind} edit list starts playing {skipped:.2f} s into the "
                            "footage: players never show its beginning."))
        elif start > previous_end + tol:
            out.append((shown, f"skip {start - previous_end:.2f} s",
                        f"The {kind} edit list jumps from {previous_end:.2f} s to {start:.2f} s "
                        f"of the footage at {shown:.2f} s: players skip "
                        f"{start - previous_end:.2f} s that are still in the file."))
        elif start < previous_end - tol:
            out.append((shown, f"repeat {previous_end - start:.2f} s",
                        f"The {kind} edit list goes back from {previous_end:.2f} s to "
                        f"{start:.2f} s of the footage at {shown:.2f} s: players show "
                        f"{previous_end - start:.2f} s twice."))
        previous_end = start + e.duration_s * e.rate
        shown += e.duration_s
    end = el.first_s + el.media_s
    if previous_end is not None and end - previous_end > tol:
        hidden = end - previous_end
        out.append((shown, f"hide {hidden:.2f} s",
                    f"The {kind} edit list stops at {previous_end:.2f} s of {end:.2f} s "
                    f"of footage: players never show the last {hidden:.2f} s."))
    return out
