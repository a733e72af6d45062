"""The edge that turns a stored file into a ``MediaTimeline``: index first, ffprobe second.

This is the only analysis module that touches files or runs programs; everything it returns is
plain data for the pure core in ``continuity``. Run it on the verified copy in the evidence store,
never on the camera.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bodycam_ingest.analysis import ffprobe as ffprobe_reader
from bodycam_ingest.analysis.model import MediaTimeline
from bodycam_ingest.analysis.mp4index import looks_like_bmff, read_index_explained


@dataclass(frozen=True)
class Extraction:
    """What was read, by which reader, and why the others were not used."""

    timeline: MediaTimeline | None
    notes: tuple[str, ...] = ()  # e.g. "index: no moov box, fell back to ffprobe"

    @property
    def problem(self) -> str | None:
        """Why there is no timeline or why it is incomplete; None when all is well."""
        if self.timeline is not None:
            return self.timeline.problem
        return "; ".join(self.notes) or "no reader could read it"


def extract(path: Path, *, ffprobe: str = "ffprobe",
            timeout_s: float = ffprobe_reader.TIMEOUT_S) -> Extraction:
    """Read the file's timeline; ``timeline.source`` says which reader did.

    Raises OSError only when the file cannot be opened or read (a storage problem).
    """
    notes: list[str] = []
    with path.open("rb") as f:
        head = f.read(16)
    if looks_like_bmff(head):
        timeline, why = read_index_explained(path)
        if timeline is not None:
            return Extraction(timeline)
        notes.append(f"MP4 index not used: {why}")
    timeline, failure = ffprobe_reader.probe(path, ffprobe=ffprobe, timeout_s=timeout_s)
    if failure:
        notes.append(failure)
    return Extraction(timeline, tuple(notes))


def extract_timeline(path: Path) -> MediaTimeline | None:
    """The timeline or None when unreadable; use ``extract`` to learn why."""
    return extract(path).timeline
