"""Work on a recording after it is safely stored, off the camera-read path (probe now; continuity
analysis plugs in here)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bodycam_ingest.catalog.db import Catalog
from bodycam_ingest.catalog.models import Recording
from bodycam_ingest.ingest.probe import ProbeSummary
from bodycam_ingest.ingest.store import EvidenceStore

Prober = Callable[[Path], ProbeSummary]


def apply_probe(catalog: Catalog, store: EvidenceStore, prober: Prober, recording_id: int) -> str:
    """Probe a stored recording and keep the summary; returns the resulting status."""
    with catalog.reading() as session:
        path = store.root / session.get_one(Recording, recording_id).store_path
    summary = prober(path)
    with catalog.session() as session:
        recording = session.get_one(Recording, recording_id)
        recording.status = summary.status
        recording.probe_error = summary.error
        recording.duration_s = summary.duration_s
        recording.container = summary.container
        recording.video_codec = summary.video_codec
        recording.width = summary.width
        recording.height = summary.height
        recording.frame_rate = summary.frame_rate
        recording.audio_codec = summary.audio_codec
        recording.sample_rate = summary.sample_rate
        recording.creation_time = summary.creation_time
        recording.probe_json = summary.raw_json
    return summary.status
