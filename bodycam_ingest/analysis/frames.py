"""In-process pictures for ``seams``: frames decoded by PyAV (libavcodec in this process) and the
overlay read by tesserocr (libtesseract, its model loaded once per process).

Why: the programs path starts ffmpeg once per frame and tesseract once per recording, which loads
its model each time; that start-up, not the decoding, was nearly all of the cost (issue 13's
benchmark: 1.2 s per recording against a 1.2 s copy of a 10-minute file). The two paths read the
same pixels: the same crop, grey, bicubic upscale and negation (as an ffmpeg filter graph, here
run by libavfilter), and the same tesseract page mode and character whitelist.

What is decoded (issue 13: the pictures under 10 % of the ingest of the same file): an overlay
read at a keyframe (the first frame, the last keyframe, bisection: what ``seams`` asks) decodes
that one packet and no other; a seam first looks at the earlier file's last two keyframes,
each decoded alone, and the later file's first two frames; only a seam its keyframes do not let
through (``seams``) decodes the earlier file's last group of pictures to its end (the last two
frames need every frame since the keyframe), without H.264's loop filter; one thread per
decode; the last three files stay open, with the last two keyframes decoded on each (the
seam's look at keyframes reuses the overlay's).

Bounded without a timeout: a seek lands on the keyframe at or before the wanted time and at most
``MAX_FRAMES`` frames are decoded after it; a file that cannot be opened or decoded is no reading,
never a finding (as with the programs). Used only when both modules import and a tessdata folder
with ``eng`` exists (``available``); otherwise ``seams`` runs the programs.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MAX_FRAMES = 1200  # 40 s at 30 fps: longer than any camera's keyframe interval
TESSDATA = ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata")

_lock = threading.Lock()  # one tesseract API per process; it is not thread-safe
_api: dict[str, Any] = {}
_scaler_lock = threading.Lock()
_scaler: list[Any] = []  # one swscale context for the thumbnails, reused while sizes repeat


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


# An MP4's index says what the decoder needs (size, codec data): probing its first packets for
# what it already says took ~4 of an opening's ~7 ms on a 10-minute file; the pixels are the same
QUICK_OPEN = {"probesize": "32", "analyzeduration": "0"}
_KEPT = 3  # files left open between calls: a seam reads again the files the overlay just read
_KEYS = 2  # keyframes kept decoded per open file: the overlay's last one is the seam's
_kept_lock = threading.Lock()
_kept: OrderedDict[tuple[object, ...], tuple[Any, Any, dict[int, Any]]] = OrderedDict()


def _close(held: tuple[Any, Any, dict[int, Any]] | None) -> None:
    if held is not None:
        with contextlib.suppress(Exception):
            held[0].close()


def release() -> None:
    """Close every file left open for the next call."""
    with _kept_lock:
        while _kept:
            _close(_kept.popitem()[1])


@contextlib.contextmanager
def _video(path: Path, *, loop_filter: bool = True
           ) -> Iterator[tuple[Any, Any, bool, dict[int, Any]]]:
    """The file's first video stream and whether it was just opened (else it was used before:
    seek before decoding). Decoded in this thread: frame threads would decode a few frames
    ahead to return the first, and a station's cores belong to the copy and the hashing.
    ``loop_filter=False`` skips H.264's deblocking (thumbnails: invisible at 32x24).

    The last ``_KEPT`` files stay open (an opening of a 10-minute file reads its whole index,
    ~3 ms) until ``release``, each with the last ``_KEYS`` keyframes decoded alone on it (by
    pts; read-only: the pixels a new decode gives): the same file, size, inode and mtime gets
    the same container back, one user at a time (a thread that finds it in use opens its own)."""
    import av

    st = path.stat()
    key = (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, loop_filter)
    with _kept_lock:
        held = _kept.pop(key, None)
    fresh = held is None
    if held is None:
        try:
            container = av.open(str(path), options=QUICK_OPEN)
        except av.FFmpegError:
            container = None
        if container is None or not container.streams.video or \
                not container.streams.video[0].codec_context.width:
            if container is not None:  # one that says little before its packets: probed
                container.close()
            container = av.open(str(path))
        try:
            stream = container.streams.video[0]
            stream.thread_type = "NONE"
            if not loop_filter:
                stream.codec_context.options = {"skip_loop_filter": "all"}
        except BaseException:
            container.close()
            raise
        held = (container, stream, {})
    try:
        yield held[0], held[1], fresh, held[2]
    except BaseException:
        _close(held)  # in an unknown state: not kept
        raise
    with _kept_lock:
        _close(_kept.pop(key, None))
        _kept[key] = held
        while len(_kept) > _KEPT:
            _close(_kept.popitem(last=False)[1])


def _start(stream: Any) -> int:
    """The stream's first presentation time (ticks): where "seconds from the first frame" count
    from (``seams``' offsets; ffmpeg's ``-ss`` counts from it alike)."""
    return int(stream.start_time or 0)


def _at(stream: Any, pts: int) -> float:
    """Seconds from the first frame at which ``pts`` is shown."""
    return float((pts - _start(stream)) * stream.time_base)


def _seek(container: Any, stream: Any, at: float) -> None:
    """To the keyframe at or before ``at`` (seconds from the first frame); the decoder is
    flushed."""
    container.seek(max(int(at / stream.time_base) + _start(stream), 0), stream=stream,
                   backward=True, any_frame=False)


def _decoded(container: Any, stream: Any, at: float | None) -> Iterator[Any]:
    """Frames from the keyframe at or before ``at`` (None: from the start), at most MAX_FRAMES."""
    if at is not None:
        _seek(container, stream, at)
    for n, frame in enumerate(container.decode(stream)):
        if n >= MAX_FRAMES:
            return
        yield frame


def _keyframe(container: Any, stream: Any, keys: dict[int, Any], at: float) -> Any | None:
    """The frame at ``at`` when it is a keyframe, decoded alone (no other packet is read or
    decoded); None when the keyframe at or before ``at`` is earlier (``at`` is no keyframe)."""
    got = _key_before(container, stream, keys, at)
    return got[0] if got is not None and got[1] >= at - 0.001 else None


def _key_before(container: Any, stream: Any, keys: dict[int, Any], at: float
                ) -> tuple[Any, float] | None:
    """The keyframe at or before ``at`` decoded alone (or kept from an earlier call: ``keys``),
    and where it is shown (seconds)."""
    _seek(container, stream, at)
    for packet in container.demux(stream):
        if packet.pts is None or packet.size == 0:
            continue
        if not packet.is_keyframe:
            return None
        shown = _at(stream, packet.pts)
        frame = keys.get(packet.pts)
        if frame is None:
            codec = stream.codec_context
            frames = [*codec.decode(packet), *codec.decode(None)]  # the packet, then drained
            codec.flush_buffers()  # ready for the next seek
            if not frames:
                return None
            frame = keys[packet.pts] = frames[0]
            while len(keys) > _KEYS:
                del keys[next(iter(keys))]
        return frame, shown
    return None


class _Filters:
    """One filter graph for every frame of the same size, format and time base (the chain is
    stateless: one frame in, one out); kept between reads (``_chain``), rebuilt after a
    failure (a frame left inside must never come out for the next one)."""

    def __init__(self, vf: list[tuple[str, str]]) -> None:
        self.vf = vf
        self.graph: Any = None
        self.shape: tuple[object, ...] | None = None

    def __call__(self, frame: Any) -> Any:
        try:
            return self._run(frame)
        except BaseException:
            self.graph = None
            raise

    def _run(self, frame: Any) -> Any:
        from av.filter import Graph

        shape = (frame.width, frame.height, frame.format.name, frame.time_base)
        if self.graph is None or shape != self.shape:
            graph = Graph()
            node = graph.add_buffer(width=frame.width, height=frame.height,
                                    format=frame.format.name, time_base=frame.time_base)
            for name, args in self.vf:
                following = graph.add(name, args)
                node.link_to(following)
                node = following
            sink = graph.add("buffersink")
            node.link_to(sink)
            graph.configure()
            self.graph, self.shape = graph, shape
        self.graph.push(frame)
        return self.graph.pull()


_chains_lock = threading.Lock()
_chains: dict[tuple[tuple[str, str], ...], _Filters] = {}  # building a graph: ~1.5 ms


@contextlib.contextmanager
def _chain(vf: list[tuple[str, str]]) -> Iterator[_Filters]:
    """The filter graph for ``vf``, kept between reads; one user at a time."""
    key = tuple(vf)
    with _chains_lock:
        chain = _chains.pop(key, None) or _Filters(vf)
    try:
        yield chain
    finally:
        with _chains_lock:
            _chains[key] = chain
            while len(_chains) > 4:
                del _chains[next(iter(_chains))]


def _grey(img: Any) -> tuple[bytes, int, int, int]:
    plane = img.planes[0]
    return bytes(plane), img.width, img.height, plane.line_size


def grey_crops(path: Path, offsets: list[float], frames: int, vf: list[tuple[str, str]]
               ) -> list[list[tuple[bytes, int, int, int]]]:
    """For each offset, ``frames`` consecutive frames from the first one at or after it, through
    the filter chain ``vf`` (ending in a one-byte-per-pixel grey format); [] where none.

    One frame at a keyframe (what ``seams`` asks on an honest file) is decoded alone."""
    out: list[list[tuple[bytes, int, int, int]]] = []
    try:
        with _chain(vf) as chain, _video(path) as (container, stream, _, keys):
            for at in offsets:
                got: list[tuple[bytes, int, int, int]] = []
                with contextlib.suppress(Exception):  # PyAV's errors: no reading here
                    key = _keyframe(container, stream, keys, max(at, 0.0)) if frames == 1 else None
                    if key is not None:
                        got.append(_grey(chain(key)))
                    else:
                        for frame in _decoded(container, stream, max(at, 0.0)):
                            if frame.pts is not None and _at(stream, frame.pts) < at - 0.001:
                                continue
                            got.append(_grey(chain(frame)))
                            if len(got) == frames:
                                break
                out.append(got)
    except Exception:  # noqa: BLE001 - a file PyAV cannot open is no reading, never a finding
        return [[] for _ in offsets]
    return out


def _thumb(frame: Any, width: int, height: int) -> bytes:
    """``frame`` as ``width`` x ``height`` grey bytes (swscale's default, bicubic: what
    ``scale=W:H,format=gray`` gives ffmpeg)."""
    with _scaler_lock:  # one scaler kept: building one costs more than a scaling
        if not _scaler:
            from av.video.reformatter import VideoReformatter

            _scaler.append(VideoReformatter())
        small = _scaler[0].reformat(frame, width=width, height=height, format="gray")
    plane = small.planes[0]
    raw = bytes(plane)
    return b"".join(raw[r * plane.line_size:r * plane.line_size + width] for r in range(height))


def thumbs(path: Path, *, last: bool, width: int, height: int) -> list[bytes]:
    """The first two (or last two) frames as ``width`` x ``height`` grey bytes; the last two
    without the loop filter (their whole group of pictures is decoded), the first two with it,
    from the file the overlay read (as ``seams`` asks ffmpeg to)."""
    try:
        with _video(path, loop_filter=not last) as (container, stream, fresh, _):
            at = None if fresh else 0.0  # a file used before: back to its first frame
            if last:
                at = max(_duration(container, stream) - 0.05, 0.0)
            kept: list[Any] = []
            for frame in _decoded(container, stream, at):
                kept = [*kept[-1:], frame]
                if not last and len(kept) == 2:
                    break
            return [_thumb(frame, width, height) for frame in kept]
    except Exception:  # noqa: BLE001 - no thumbnails: no scene check, never a finding
        return []


def _duration(container: Any, stream: Any) -> float:
    return (float(stream.duration * stream.time_base) if stream.duration
            else (container.duration or 0) / 1e6)


def last_keyframes(path: Path, *, width: int, height: int) -> list[bytes]:
    """The last two keyframes as ``width`` x ``height`` grey bytes (the earlier first), each
    decoded alone (no other packet is read or decoded), with the loop filter as ffmpeg decodes
    them; fewer when the file has fewer. The file the overlay read stays open for this."""
    try:
        with _video(path) as (container, stream, _, keys):
            got: list[bytes] = []
            at = _duration(container, stream)
            while len(got) < 2 and at >= 0:
                key = _key_before(container, stream, keys, at)
                if key is None:
                    break
                frame, shown = key
                got.insert(0, _thumb(frame, width, height))
                at = shown - 0.001  # the keyframe before this one
            return got
    except Exception:  # noqa: BLE001 - no thumbnails: the frames decide, never a finding
        return []
