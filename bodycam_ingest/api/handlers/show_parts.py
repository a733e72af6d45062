"""What each part of the station adds to ``bodycam show`` and ``bodycam list``: plain data read
from the catalog (no CLI here), used by ``handlers.recordings``.

``*_pairs`` give (field, value) rows of the human view; ``*_json`` the keys of ``show --json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.analysis import views
from bodycam_ingest.catalog.models import Recording, row_dict
from bodycam_ingest.catalog.retention_models import DeletionManifestRow, HoldRow, Tombstone
from bodycam_ingest.custody import labels
from bodycam_ingest.retention import tiering


def when(value: datetime | None) -> str:
    return "-" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") + "Z"


def offset_text(value: float | None) -> str:
    return "whole file" if value is None else f"{value:.2f} s"


def pairs(session: Session, recording: Recording, now: datetime,
          place: dict[str, Any] | None = None) -> list[tuple[str, Any]]:
    """Every part's rows, in the order `bodycam show` prints them (``place``: session_place's
    answer when the caller has it already)."""
    return [*analysis_pairs(session, recording, place), *label_pairs(session, recording),
            *hold_pairs(session, recording), *retention_pairs(session, recording, now)]


def json_parts(session: Session, recording: Recording,
               place: dict[str, Any] | None = None) -> dict[str, Any]:
    return {**analysis_json(session, recording, place), **label_json(session, recording),
            **hold_json(session, recording)}


# --- analysis: continuity verdict, findings, place in the camera's session --------------------
def session_place(session: Session, recording: Recording) -> dict[str, Any]:
    """Where the recording sits among its camera's recordings (by start and sequence number)."""
    device = views.analysis_device_of(session, recording)
    recs = views.device_order(session, device)  # (id, seq) in camera order: no ORM objects
    index = next((i for i, r in enumerate(recs) if r.id == recording.id), None)
    if index is None:
        return {"device": device}
    before = recs[index - 1] if index > 0 else None
    after = recs[index + 1] if index + 1 < len(recs) else None
    return {"device": device, "position": index + 1, "of": len(recs), "seq": recording.name_seq,
            "previous": None if before is None else {"id": before.id, "seq": before.name_seq},
            "next": None if after is None else {"id": after.id, "seq": after.name_seq}}


def analysis_pairs(session: Session, recording: Recording,
                   place: dict[str, Any] | None = None) -> list[tuple[str, Any]]:
    verdict = views.verdict(session, recording.id)
    out: list[tuple[str, Any]] = [("continuity", verdict.summary())]
    for f in views.findings(session, recording_id=recording.id):
        note = "; ".join(f"explained by {e.actor}: {e.reason}" for e in f.explanations)
        out.append((f"finding {f.id}", f"{f.kind} ({f.severity}) at {offset_text(f.offset_s)}: "
                    f"{f.message}" + (f" [{note}]" if note else " [unexplained]")))
    place = place if place is not None else session_place(session, recording)
    if "position" in place:
        around = ", ".join(f"{label} {p['id']} (seq {p['seq']})"
                           for label, p in (("after", place["previous"]),
                                            ("before", place["next"])) if p)
        out.append(("place in session", f"{place['position']} of {place['of']} recordings of "
                    f"{place['device']}" + (f"; {around}" if around else "")))
    return out


def analysis_json(session: Session, recording: Recording,
                  place: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"continuity": views.verdict(session, recording.id).as_json(),
            "findings": [f.as_json() for f in views.findings(session,
                                                               recording_id=recording.id)],
            "session_place": place if place is not None else session_place(session, recording)}


# --- custody: the current label and its history -----------------------------------------------
def label_pairs(session: Session, recording: Recording) -> list[tuple[str, Any]]:
    label = labels.current(session, recording.id)
    if label is None:
        return [("label", "-")]
    officers = ", ".join(f"{o['name']}" + (f" ({o['certificate']})" if o.get("certificate") else "")
                         for o in labels.officers_of(label) if o.get("name"))
    return [("case number", label.case_number), ("party", label.party),
            ("officers", officers or None), ("matter", label.matter),
            ("location", label.location), ("note", label.note),
            ("labelled by", f"{label.actor} at {label.created_at:%Y-%m-%d %H:%M:%S}Z"
             + (f", approved by {label.approved_by}" if label.approved_by else "")),
            ("earlier labels", len(labels.history(session, recording.id)) - 1)]


def label_json(session: Session, recording: Recording) -> dict[str, Any]:
    """The label history, oldest first."""
    return {"labels": [{**row_dict(row), "officers": labels.officers_of(row)}
                       for row in labels.history(session, recording.id)]}


# --- retention tiers and holds ------------------------------------------------------------------
def _hold_text(hold: HoldRow) -> str:
    where = "this recording" if hold.recording_id is not None else f"case {hold.case_number}"
    return (f"#{hold.id} on {where}, owner {hold.owner}: {hold.reason}"
            + (f" (review by {hold.until})" if hold.until else ""))


def hold_pairs(session: Session, recording: Recording) -> list[tuple[str, Any]]:
    """Tier, holds, retention state, fixity."""
    view = tiering.views(session, [recording])[recording.id]
    own = view.own.value + (f" ({recording.tier_reason})" if recording.tier_reason else "")
    case_tier = (f"{view.case_tier.tier} (case {view.case_number}"
                 + (f": {view.case_tier.reason})" if view.case_tier.reason else ")")
                 if view.case_tier is not None else None)
    source = "its own" if view.effective is view.own else f"from case {view.case_number}"
    if recording.deleted_at is not None:
        state = f"deleted {recording.deleted_at:%Y-%m-%d %H:%M}Z (tombstone kept)"
    elif recording.due_since is not None:
        state = (f"due since {recording.due_since:%Y-%m-%d %H:%M}Z (deleted after the grace "
                 "period unless held or its tier is raised)")
    else:
        state = "kept (not due)"
    fixity = ("never checked" if recording.fixity_ok is None else
              ("ok" if recording.fixity_ok else "FAILED")
              + (f", {recording.fixity_checked_at:%Y-%m-%d %H:%M}Z"
                 if recording.fixity_checked_at else ""))
    return [("retention tier", own), ("case tier", case_tier),
            ("effective tier", f"{view.effective.value} ({source})"),
            ("holds", "; ".join(_hold_text(h) for h in view.holds) or "none"),
            ("retention state", state), ("fixity", fixity)]


def hold_json(session: Session, recording: Recording) -> dict[str, Any]:
    """The effective tier and the holds that keep it."""
    view = tiering.views(session, [recording])[recording.id]
    return {"retention": {**view.as_json(), "holds": [row_dict(h) for h in view.holds]}}


def list_retention(session: Session, rows: Sequence[Recording]) -> dict[int, dict[str, Any]]:
    """Retention of the listed recordings for `bodycam list`, loaded in bulk (not per row)."""
    return {rid: view.as_json() for rid, view in tiering.views(session, rows).items()}


# --- retention decision, or deletion and tombstone ----------------------------------------------
def retention_pairs(session: Session, recording: Recording, now: datetime | None = None
                    ) -> list[tuple[str, Any]]:
    """Deletion and tombstone, or the retention decision under the policy in force (``now``: the
    station's clock; default the wall clock)."""
    from bodycam_ingest.retention.service import recording_status

    if recording.deleted_at is not None:
        found = session.execute(select(Tombstone, DeletionManifestRow.file_name).outerjoin(
            DeletionManifestRow, DeletionManifestRow.id == Tombstone.manifest_id).where(
            Tombstone.recording_id == recording.id)).first()
        out: list[tuple[str, Any]] = [("deleted", f"{when(recording.deleted_at)} by retention; "
                                       "only its tombstone remains")]
        if found is None:
            return [*out, ("tombstone", "MISSING (run bodycam audit)")]
        tombstone, manifest = found
        return [*out,
                ("tombstone", f"run {tombstone.run_id} by {tombstone.actor}; tier "
                 f"{tombstone.tier}; due since {when(tombstone.due_since)}"),
                ("deletion rule", tombstone.rule),
                ("deletion manifest", f"deletions/{manifest}.json" if manifest
                 else "not yet signed (the next retention run signs it)")]
    decision, _state = recording_status(session, recording, now or datetime.now(UTC))
    out = [("due since", when(recording.due_since))]
    if decision is None:
        return [*out, ("retention", "no retention run yet")]
    return [*out, ("retention", f"{decision.kind} ({decision.why}); tier {decision.tier} from "
                   f"{decision.tier_source}"),
            ("retention period ends", when(decision.expires_at) if decision.expires_at
             else "never"),
            ("deletable from", when(decision.deletable_at) if decision.deletable_at
             else "not foreseeable (kept)"),
            ("retention rule", decision.rule)]
