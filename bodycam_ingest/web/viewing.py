"""Viewing copies: an H.264/AAC MP4 made by ffmpeg for recordings a browser cannot play (H.265,
MJPEG in AVI, PCM audio). Never replaces or touches the original: the copy is a separate file in
the viewing folder, named by the original's SHA-256, made at the lowest CPU priority, one at a
time, with a time limit, so it never slows a dock. The digest shown is always the original's."""

from __future__ import annotations

import mimetypes
import os
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from bodycam_ingest.api.handlers.console import needs_viewing_copy
from bodycam_ingest.catalog.models import Recording
from bodycam_ingest.errors import NotFound, StorageError
from bodycam_ingest.station import Station
from bodycam_ingest.web.settings import WebConfig


@dataclass(frozen=True)
class Source:
    path: Path
    media_type: str
    sha256: str
    copy: bool


class ViewingCopies:
    def __init__(self, station: Station, settings: WebConfig) -> None:
        self.station = station
        self.folder = settings.viewing_dir or station.config.storage.state_dir / "viewing"
        self.timeout = settings.viewing_timeout_s
        self._lock = threading.Lock()  # one ffmpeg at a time

    def source(self, recording_id: int) -> Source:
        with self.station.catalog.reading() as session:
            row = session.get(Recording, recording_id)
            if row is None or row.deleted_at is not None:
                raise NotFound(what="Recording", ident=recording_id, hint="")
            original = self.station.store.root / row.store_path
            copy = needs_viewing_copy(row.camera_path, row.video_codec, row.audio_codec)
            audio_only = row.video_codec is None and row.audio_codec is not None
            digest = row.sha256
        if not copy:
            kind = mimetypes.guess_type(row.camera_path)[0] or "video/mp4"
            return Source(original, kind, digest, False)
        return Source(self.make(original, digest, audio_only), "audio/mp4" if audio_only
                      else "video/mp4", digest, True)

    def make(self, original: Path, digest: str, audio_only: bool) -> Path:
        target = self.folder / f"{digest}.{'m4a' if audio_only else 'mp4'}"
        with self._lock:
            if target.exists():
                return target
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            partial = target.with_suffix(".partial" + target.suffix)
            streams = ["-vn", "-c:a", "aac", "-b:a", "96k"] if audio_only else [
                "-map", "0:v:0", "-map", "0:a:0?", "-c:v", "libx264", "-preset", "veryfast",
                "-crf", "28", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k"]
            command = ["nice", "-n", "19", "ffmpeg", "-nostdin", "-hide_banner", "-loglevel",
                       "error", "-y", "-threads", "1", "-i", str(original), *streams,
                       "-movflags", "+faststart", str(partial)]
            try:
                subprocess.run(command, check=True, capture_output=True, timeout=self.timeout)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
                partial.unlink(missing_ok=True)
                raise StorageError(path=str(target), reason=f"the viewing copy could not be made "
                                   f"({exc}); the original is unchanged") from None
            os.replace(partial, target)
            return target
