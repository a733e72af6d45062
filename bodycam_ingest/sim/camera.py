"""Simulated body cameras (执法记录仪) made of real media, for tests, demos and benchmarks.

A real camera writes consecutive segments of one recording session as
``DCIM/100MEDIA/<officer>_<device>_<YYYYMMDDhhmmss>_<seq>.MP4`` (H.264 + AAC), named after the
camera's local wall-clock time, and stamps each file's FAT mtime with the moment the segment was
closed. Everything downstream (hashing, continuity, clock drift, FAT timestamps) is tested against
what this module produces, so it uses real ffmpeg output and real FAT32 images, never stand-ins.

Times: ``CameraSpec.start`` is the camera's naive local time; ``utc_offset`` says where the camera
lives (China Standard Time by default). MP4 ``creation_time`` carries the UTC instant, as the
standard demands. Folder cameras get the true instant as file mtime; FAT images store the camera's
wall-clock time in their directory entries, exactly as a camera with no notion of time zones does.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

MEDIA_DIR = ("DCIM", "100MEDIA")
FAT32_MIN_MIB = 36  # below ~33 MiB mkfs.vfat cannot reach the 65525 clusters FAT32 needs
FAT_MAX_FILE = 4 * 1024**3 - 1
_CHUNK_FRAMES = 40  # bulk mode: frames in the unique noise chunk that is looped by stream copy


@dataclass(frozen=True)
class CameraSpec:
    """One recording session on one camera; the defaults make a 6-second, 3-segment session."""

    officer: str = "A1024"
    device: str = "DSJ9X001"
    start: datetime = datetime(2026, 11, 20, 9, 30, 0)  # naive local camera time
    segments: int = 3
    seconds: float = 2.0
    width: int = 160
    height: int = 120
    fps: int = 10
    first_seq: int = 1
    bulk_bytes: int | None = None  # benchmarks: make each file ~this size fast (no x264 of GBs)
    utc_offset: timedelta = timedelta(hours=8)  # the camera's zone; China has no DST

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None:
            raise ValueError("CameraSpec.start must be naive local camera time, like the camera's")
        if self.segments < 1 or self.seconds <= 0 or self.fps < 1 or self.first_seq < 0:
            raise ValueError("CameraSpec needs segments >= 1, seconds > 0, fps >= 1, first_seq >= 0")
        if self.width % 2 or self.height % 2:
            raise ValueError("CameraSpec width and height must be even (yuv420p)")
        if self.bulk_bytes is not None and not 0 < self.bulk_bytes <= FAT_MAX_FILE:
            raise ValueError("CameraSpec.bulk_bytes must be positive and fit FAT32 (< 4 GiB)")

    def segment_start(self, index: int) -> datetime:
        """Local start of segment ``index`` (0-based): segments follow each other without gaps."""
        return self.start + timedelta(seconds=self.seconds * index)

    def segment_end(self, index: int) -> datetime:
        return self.segment_start(index + 1)

    def file_name(self, index: int) -> str:
        stamp = self.segment_start(index).strftime("%Y%m%d%H%M%S")
        return f"{self.officer}_{self.device}_{stamp}_{self.first_seq + index:04d}.MP4"

    def to_utc(self, local: datetime) -> datetime:
        return (local - self.utc_offset).replace(tzinfo=UTC)


TOOL_TIMEOUT_S = 600.0


def _run(argv: list[str], *, env: dict[str, str] | None = None) -> None:
    """Run a tool; a failure names the tool and carries its stderr, since that is the diagnosis."""
    try:  # every tool call is bounded: a hung ffmpeg fails the build instead of the test run
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False,
                              timeout=TOOL_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{argv[0]} did not finish within {TOOL_TIMEOUT_S:.0f} s") from exc
    if proc.returncode != 0:
        tail = proc.stderr.strip()[-2000:]
        raise RuntimeError(f"{argv[0]} failed (exit {proc.returncode}): {tail}")


def _ffmpeg(*args: str) -> None:
    _run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args])


def _seed(spec: CameraSpec, index: int) -> int:
    digest = hashlib.sha256(f"{spec.device}/{spec.file_name(index)}".encode()).digest()
    return int.from_bytes(digest[:3], "big")


def _audio_input(spec: CameraSpec, index: int) -> list[str]:
    # Continuous tone across segments, pitch per camera: content differs, session sounds whole.
    freq = 300 + _seed(spec, 0) % 600
    return ["-ss", f"{spec.seconds * index:.3f}", "-f", "lavfi",
            "-i", f"sine=frequency={freq}:sample_rate=16000"]


def _encode_segment(out: Path, spec: CameraSpec, index: int, creation: str) -> None:
    """Real x264 of testsrc2 picked up where the previous segment stopped (its clock keeps running)."""
    offset = f"{spec.seconds * index:.3f}"
    _ffmpeg(
        "-ss", offset, "-f", "lavfi",
        "-i", f"testsrc2=size={spec.width}x{spec.height}:rate={spec.fps}",
        *_audio_input(spec, index),
        "-t", f"{spec.seconds:.3f}", "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "32k",
        "-metadata", f"creation_time={creation}", "-movflags", "+faststart", "-f", "mp4", str(out),
    )


def _encode_bulk(out: Path, spec: CameraSpec, index: int, creation: str, work: Path) -> None:
    """A ~bulk_bytes file in well under a second per GB: encode a small unique noise chunk
    (lossless, so it barely compresses), then loop it by stream copy. The chunk's frame rate is
    chosen so the looped video lasts exactly ``seconds``, keeping file names and durations in step."""
    bulk = spec.bulk_bytes or 1
    frame_guess = spec.width * spec.height * 3 // 2
    frames = max(1, min(_CHUNK_FRAMES, bulk // frame_guess))
    chunk = work / f"chunk{index}.mp4"

    def encode(rate: str) -> None:  # the source runs at the target rate: no frame duplication
        source = (f"testsrc2=size={spec.width}x{spec.height}:rate={rate},"
                  f"noise=alls=100:allf=t+u:all_seed={_seed(spec, index)}")
        _ffmpeg("-f", "lavfi", "-i", source, "-frames:v", str(frames), "-an",
                "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p",
                str(chunk))

    encode(str(spec.fps))
    loops = max(1, round(bulk / chunk.stat().st_size))
    rate = Fraction(frames * loops) / Fraction(spec.seconds).limit_denominator(1000)
    encode(f"{rate.numerator}/{rate.denominator}")  # same bytes per frame, new timing only
    _ffmpeg(
        "-stream_loop", str(loops - 1), "-i", str(chunk), *_audio_input(spec, index),
        "-t", f"{spec.seconds:.3f}", "-map", "0:v", "-map", "1:a",
        "-c:v", "copy", "-c:a", "aac", "-b:a", "32k",
        "-metadata", f"creation_time={creation}", "-f", "mp4", str(out),
    )
    chunk.unlink()


def generate_recordings(dest_dir: Path, spec: CameraSpec) -> list[Path]:
    """Write the session's segments into ``dest_dir``; same spec, same bytes (x264 is deterministic).

    Each file reaches its name only when complete (``.part`` + rename), and its mtime is set to
    the segment's end, as a camera closing the file would leave it.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="simcam-", dir=dest_dir) as tmp:
        work = Path(tmp)
        for index in range(spec.segments):
            final = dest_dir / spec.file_name(index)
            part = work / (final.name + ".part")
            creation = spec.to_utc(spec.segment_start(index)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            if spec.bulk_bytes is None:
                _encode_segment(part, spec, index, creation)
            else:
                _encode_bulk(part, spec, index, creation, work)
            end = spec.to_utc(spec.segment_end(index)).timestamp()
            os.utime(part, (end, end))
            part.replace(final)
            paths.append(final)
    return paths


def build_folder_camera(root: Path, spec: CameraSpec) -> list[Path]:
    """A camera as a plain directory tree (``root/DCIM/100MEDIA/...``), for tests that need no mount."""
    return generate_recordings(root.joinpath(*MEDIA_DIR), spec)


def _volume_id(spec: CameraSpec) -> str:
    """Serial derived from the device id: the same simulated camera keeps the same ID_FS_UUID."""
    return hashlib.sha256(spec.device.encode()).hexdigest()[:8].upper()


def _posix_tz(offset: timedelta) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes >= 0 else "+"  # POSIX TZ counts west-positive
    hours, mins = divmod(abs(minutes), 60)
    return f"CAM{sign}{hours:02d}:{mins:02d}"


def build_fat32_image(image: Path, spec: CameraSpec, *, label: str = "BODYCAM",
                      size_mib: int | None = None, cluster_kib: int | None = None) -> list[str]:
    """A FAT32 disk image laid out like a docked camera, built with mkfs.vfat and mtools (no mount,
    no root). Returns the camera-relative paths (``DCIM/100MEDIA/...``) of the recordings.

    mtools converts mtimes to local time with ``TZ``; running it in the camera's zone stores the
    camera's wall-clock time in the directory entries, which is what a real camera writes.

    ``cluster_kib`` (mkfs's choice when None: 512 B below 260 MiB, 4 KiB up to 8 GiB) matters for
    benchmarks: fusefat's cost is per cluster, and real 32-64 GB cards use 32 KiB clusters, which
    FAT32 allows only from about 2 GiB of image (sparse, so cheap).
    """
    if cluster_kib is not None and cluster_kib not in (1, 2, 4, 8, 16, 32, 64):
        raise ValueError(f"cluster_kib {cluster_kib} must be a power of two from 1 to 64")
    if not label or len(label) > 11 or label != label.upper() or not label.isascii():
        raise ValueError(f"FAT label {label!r} must be 1-11 upper-case ASCII characters")
    with tempfile.TemporaryDirectory(prefix="simcam-img-", dir=image.parent) as tmp:
        files = generate_recordings(Path(tmp) / "media", spec)
        needed = sum(f.stat().st_size for f in files) / 1024**2
        size = size_mib if size_mib is not None else max(FAT32_MIN_MIB, int(needed * 1.05) + 8)
        if size < FAT32_MIN_MIB or size < needed + 1:
            raise ValueError(f"image of {size} MiB is too small for FAT32 and {needed:.1f} MiB")
        image.unlink(missing_ok=True)
        with image.open("wb") as fh:
            fh.truncate(size * 1024**2)  # sparse: a 4 GiB camera costs only what is written
        sectors = ["-s", str(cluster_kib * 2)] if cluster_kib else []
        _run(["mkfs.vfat", "-F", "32", *sectors, "-n", label, "-i", _volume_id(spec), str(image)])
        env = {**os.environ, "TZ": _posix_tz(spec.utc_offset), "MTOOLS_SKIP_CHECK": "1"}
        _run(["mmd", "-i", str(image), "::DCIM", "::DCIM/100MEDIA"], env=env)
        _run(["mcopy", "-m", "-i", str(image), *map(str, files), "::DCIM/100MEDIA/"], env=env)
    return ["/".join((*MEDIA_DIR, f.name)) for f in files]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bodycam_ingest.sim.camera DEST``: a folder camera at DEST, or an image with --image."""
    parser = argparse.ArgumentParser(prog="bodycam sim-camera", description=__doc__.split("\n")[0])
    parser.add_argument("dest", type=Path, help="folder to fill, or image file with --image")
    parser.add_argument("--image", action="store_true", help="write a FAT32 image instead")
    parser.add_argument("--segments", type=int, default=CameraSpec.segments)
    parser.add_argument("--seconds", type=float, default=CameraSpec.seconds)
    parser.add_argument("--bulk-bytes", type=int, default=None, help="make each file ~N bytes")
    parser.add_argument("--label", default="BODYCAM", help="FAT volume label (--image)")
    parser.add_argument("--officer", default=CameraSpec.officer)
    parser.add_argument("--device", default=CameraSpec.device)
    parser.add_argument("--start", type=datetime.fromisoformat, default=CameraSpec.start,
                        help="local camera time of the first segment, e.g. 2026-11-20T09:30:00")
    parser.add_argument("--size-mib", type=int, default=None, help="image size (--image)")
    parser.add_argument("--cluster-kib", type=int, default=None, help="FAT cluster size (--image)")
    args = parser.parse_args(argv)
    try:
        spec = replace(CameraSpec(), segments=args.segments, seconds=args.seconds,
                       bulk_bytes=args.bulk_bytes, officer=args.officer, device=args.device,
                       start=args.start)
        if args.image:
            args.dest.parent.mkdir(parents=True, exist_ok=True)
            made = build_fat32_image(args.dest, spec, label=args.label, size_mib=args.size_mib,
                                     cluster_kib=args.cluster_kib)
            print(f"{args.dest}: FAT32 image {args.label!r} holding:")
        else:
            made = [str(p) for p in build_folder_camera(args.dest, spec)]
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"sim-camera: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    for item in made:
        print(item)
    return 0


if __name__ == "__main__":
    sys.exit(main())
