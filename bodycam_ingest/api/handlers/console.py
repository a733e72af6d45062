"""What the console's pages need beyond the CLI's: an overview row per recording (verdict,
R1 deadlines, label), a recording's timeline, and authorizing playback (a logged viewing)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from itertools import pairwise
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import func, select

from bodycam_ingest.api.handlers.recordings import RecordingId, list_recordings, visible
from bodycam_ingest.api.registry import Ctx, handler
from bodycam_ingest.catalog.analysis_models import AnalysisRun, FindingRow
from bodycam_ingest.catalog.custody_models import LabelRow
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.catalog.models import Recording
from bodycam_ingest.custody import deadlines, reports

# what a browser plays as is: H.264/AAC/MP3 in MP4/MOV, audio-only AAC/MP3; anything else (H.265,
# MJPEG in AVI, PCM) gets an H.264 viewing copy made by ffmpeg
PLAYABLE_VIDEO = frozenset({"h264", None})
PLAYABLE_AUDIO = frozenset({"aac", "mp3", None})
PLAYABLE_CONTAINERS = (".mp4", ".mov", ".m4a", ".m4v")


@handler("recordings.overview", action="recordings.list")
def overview(ctx: Ctx, limit: Annotated[int, Field(ge=1, le=1000)] = 100,
             page: Annotated[int, Field(ge=0, le=100_000)] = 0,
             officer: str | None = None, since: str | None = None,
             until: str | None = None) -> dict[str, Any]:
    """One page of recordings, newest first (officers: their own), each with its continuity
    verdict, R1 deadlines and label state; ``total`` counts them all."""
    listed = dict(list_recordings(ctx, officer=officer, since=since, until=until,
                                  limit=(page + 1) * limit))
    listed["items"] = listed["items"][page * limit:]
    listed["page"], listed["limit"] = page, limit
    ids = [item["id"] for item in listed["items"]]
    policy = reports.policy_of(ctx.station.config)
    now = ctx.now()
    with ctx.station.catalog.reading() as session:
        analysed = set(session.scalars(select(AnalysisRun.recording_id).where(
            AnalysisRun.recording_id.in_(ids), AnalysisRun.current.is_(True))))
        counts: dict[int, dict[str, int]] = defaultdict(dict)
        for rid, severity, n in session.execute(
                select(FindingRow.recording_id, FindingRow.severity, func.count())
                .where(FindingRow.recording_id.in_(ids), FindingRow.current.is_(True))
                .group_by(FindingRow.recording_id, FindingRow.severity)):
            counts[rid][severity] = n
        labels: dict[int, list[LabelRow]] = defaultdict(list)
        for label in session.scalars(select(LabelRow).where(LabelRow.recording_id.in_(ids))
                                     .order_by(LabelRow.id)):
            labels[label.recording_id].append(label)
        rows = {r.id: r for r in session.scalars(select(Recording).where(Recording.id.in_(ids)))}
    for item in listed["items"]:
        rid = item["id"]
        row = rows[rid]
        labelled = reports.labelled_at(labels.get(rid, []))
        result = deadlines.assess(reports.recording_end(row), now=now,
                                  exported_at=row.ingested_at, labelled_at=labelled, policy=policy)
        current = labels[rid][-1] if labels.get(rid) else None
        item["continuity"] = ("not analyzed" if rid not in analysed
                              else "findings" if counts.get(rid) else "clean")
        item["findings"] = counts.get(rid, {})
        item["labelled_at"] = labelled
        item["case_number"] = current.case_number if current else None
        item["deadlines"] = {
            "export": {"due": result.export_deadline, "status": str(result.export_status)},
            "labelling": {"due": result.labelling_deadline,
                          "status": str(result.labelling_status)}}
    return listed


@handler("recordings.timeline", action="recordings.show")
def timeline(ctx: Ctx, recording_id: RecordingId) -> dict[str, Any]:
    """The recording's session: its segments in order (start offset, duration), the seams
    between them, and every current finding at its offset, for the player's timeline."""
    from bodycam_ingest.catalog.queries import session_neighbours

    with ctx.station.catalog.reading() as session:
        row = visible(ctx, session, recording_id)
        rows = session_neighbours(session, row) or [row]
        segments = [{"id": n.id, "seq": n.name_seq, "start_utc": n.start_utc,
                     "duration_s": n.duration_s, "current": n.id == row.id} for n in rows]
        findings = [{"id": f.id, "kind": f.kind, "severity": f.severity, "offset_s": f.offset_s,
                     "message": f.message} for f in session.scalars(
            select(FindingRow).where(FindingRow.recording_id == recording_id,
                                     FindingRow.current.is_(True)).order_by(FindingRow.offset_s))]
    seams = []
    for before, after in pairwise(rows):
        if before.start_utc and after.start_utc and before.duration_s is not None:
            end = before.start_utc + timedelta(seconds=before.duration_s)
            seams.append({"after": before.id, "before": after.id,
                          "gap_s": round((after.start_utc - end).total_seconds(), 3)})
    return {"recording_id": recording_id, "duration_s": row.duration_s, "segments": segments,
            "seams": seams, "findings": findings}


@handler("recordings.play")
def play(ctx: Ctx, recording_id: RecordingId, purpose: str = "review") -> dict[str, Any]:
    """Authorize playback: the viewing is a custody-log entry (R6); the answer says which file
    the browser gets (the original, or an H.264 viewing copy for codecs it cannot play)."""
    with ctx.station.catalog.reading() as session:
        row = visible(ctx, session, recording_id)
        if row.deleted_at is not None:
            from bodycam_ingest.errors import Refused

            raise Refused(reason=f"recording {recording_id} was deleted by retention; only its "
                          "tombstone remains")
        info = {"recording_id": row.id, "sha256": row.sha256, "size": row.size,
                "store_path": row.store_path, "camera_path": row.camera_path,
                "video_codec": row.video_codec, "audio_codec": row.audio_codec,
                "viewing_copy": needs_viewing_copy(row.camera_path, row.video_codec,
                                                   row.audio_codec)}
    from bodycam_ingest.storage.cache import ensure_local_for

    ensure_local_for(ctx.station, [recording_id])  # an evicted one comes back, verified
    with ctx.station.catalog.session() as session:
        record_event(session, at=ctx.now(), actor=ctx.actor, action="recording_played",
                     recording_id=recording_id, reason=purpose[:200],
                     details={"viewing_copy": info["viewing_copy"]})
    return info


def needs_viewing_copy(camera_path: str, video: str | None, audio: str | None) -> bool:
    if video is None and audio is None:
        return True  # unknown: let ffmpeg make something a browser plays
    return not (camera_path.lower().endswith(PLAYABLE_CONTAINERS) and video in PLAYABLE_VIDEO
                and audio in PLAYABLE_AUDIO)
