"""In-process pictures for ``seams``: frames decoded by PyAV (libavcodec in this process) and the
overlay read by tesserocr (libtesseract, its model loaded once per process).

Why: the programs path starts ffmpeg once per frame and tesseract once per recording, which loads
its model each time; that start-up, not the decoding, was nearly all of the cost (issue 13's
benchmark: 1.2 s per recording against a 1.2 s copy of a 10-minute file). The two paths read the
same pixels: the same crop, grey, bicubic upscale and negation (as an ffmpeg filter graph, here
run by libavfilter), and the same tesseract page mode and character whitelist.

Bounded without a timeout: a seek lands on the keyframe at or before the wanted time and at most
``MAX_FRAMES`` frames are decoded after it; a file that cannot be opened or decoded is no reading,
never a finding (as with the programs). Used only when both modules import and a tessdata folder
with ``eng`` exists (``available``); otherwise ``seams`` runs the programs.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MAX_FRAMES = 1200  # 40 s at 30 fps: longer than any camera's keyframe interval
TESSDATA = ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata")

_lock = threading.Lock()  # one tesseract API per process; it is not thread-safe
_api: dict[str, Any] = {}


def tessdata() -> str | None:
    """A folder holding ``eng.traineddata``: $TESSDATA_PREFIX, else Debian's."""
    for folder in (os.environ.get("TESSDATA_PREFIX", ""), *TESSDATA):
        if folder and (Path(folder) / "eng.traineddata").is_file():
            return folder
    return None


def available() -> bool:
    try:
        import av  # noqa: F401
        import tesserocr  # noqa: F401
    except ImportError:
        return False
    return tessdata() is not None


def ocr(images: list[tuple[bytes, int, int, int]], whitelist: str) -> list[str]:
    """The text of each grey image (data, width, height, bytes per line), one line each."""
    import tesserocr

    with _lock:
        api = _api.get("eng")
        if api is None:
            api = _api["eng"] = tesserocr.PyTessBaseAPI(path=tessdata(), lang="eng",
                                                        psm=tesserocr.PSM.SINGLE_LINE)
        api.SetVariable("tessedit_char_whitelist", whitelist)
        out = []
        for data, width, height, line in images:
            api.SetImageBytes(data, width, height, 1, line)
            out.append(api.GetUTF8Text())
        return out


@contextlib.contextmanager
def _video(path: Path) -> Iterator[tuple[Any, Any]]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        yield container, stream


def _decoded(container: Any, stream: Any, at: float | None) -> Iterator[Any]:
    """Frames from the keyframe at or before ``at`` (None: from the start), at most MAX_FRAMES."""
    if at is not None:
        container.seek(max(int(at / stream.time_base), 0), stream=stream, backward=True,
                       any_frame=False)
    for n, frame in enumerate(container.decode(stream)):
        if n >= MAX_FRAMES:
            return
        yield frame


def _filtered(frame: Any, vf: list[tuple[str, str]]) -> Any:
    from av.filter import Graph

    graph = Graph()
    node = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format.name,
                            time_base=frame.time_base)
    for name, args in vf:
        following = graph.add(name, args)
        node.link_to(following)
        node = following
    sink = graph.add("buffersink")
    node.link_to(sink)
    graph.configure()
    graph.push(frame)
    return graph.pull()


def grey_crops(path: Path, offsets: list[float], frames: int, vf: list[tuple[str, str]]
               ) -> list[list[tuple[bytes, int, int, int]]]:
    """For each offset, ``frames`` consecutive frames from the first one at or after it, through
    the filter chain ``vf`` (ending in a one-byte-per-pixel grey format); [] where none."""
    out: list[list[tuple[bytes, int, int, int]]] = []
    try:
        with _video(path) as (container, stream):
            for at in offsets:
                got: list[tuple[bytes, int, int, int]] = []
                with contextlib.suppress(Exception):  # PyAV's errors: no reading here
                    for frame in _decoded(container, stream, max(at, 0.0)):
                        if frame.time is not None and frame.time < at - 0.001:
                            continue
                        img = _filtered(frame, vf)
                        plane = img.planes[0]
                        got.append((bytes(plane), img.width, img.height, plane.line_size))
                        if len(got) == frames:
                            break
                out.append(got)
    except Exception:  # noqa: BLE001 - a file PyAV cannot open is no reading, never a finding
        return [[] for _ in offsets]
    return out


def thumbs(path: Path, *, last: bool, width: int, height: int) -> list[bytes]:
    """The first two (or last two) frames as ``width`` x ``height`` grey bytes."""
    try:
        with _video(path) as (container, stream):
            at = None
            if last:
                duration = (float(stream.duration * stream.time_base) if stream.duration
                            else (container.duration or 0) / 1e6)
                at = max(duration - 0.05, 0.0)
            kept: list[Any] = []
            for frame in _decoded(container, stream, at):
                kept = [*kept[-1:], frame]
                if not last and len(kept) == 2:
                    break
            out = []
            for frame in kept:
                small = frame.reformat(width=width, height=height, format="gray")
                plane = small.planes[0]
                raw = bytes(plane)
                out.append(b"".join(raw[r * plane.line_size:r * plane.line_size + width]
                                    for r in range(height)))
            return out
    except Exception:  # noqa: BLE001 - no thumbnails: no scene check, never a finding
        return []
