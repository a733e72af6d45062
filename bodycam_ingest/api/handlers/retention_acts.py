"""Acts on retention and disclosure: set tiers, add and release holds, request an export or a
shortening policy. What needs a second person becomes a four-eyes request (access.requests); the
request kinds' previews and executions are here too, next to the code they call.

* ``tiers.set``: raising (or the same tier with a new reason) is done at once; a selection that
  lowers anything becomes one ``tier_lower`` request for the whole selection.
* ``holds.release``: the hold's owner releases it at once; anyone else makes a ``hold_release``
  request.
* ``exports.request`` always makes an ``export`` request; approved, the daemon builds the package
  in ``<state_dir>/exports/<request id>/`` and ``bodycam requests fetch`` downloads it.
* ``retention.approve`` makes a ``retention_policy`` request for the plan digest shown.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.access import requests
from bodycam_ingest.access.requests import AfterCommit, request_kind
from bodycam_ingest.api.handlers.recordings import local_time
from bodycam_ingest.api.registry import Ctx, handler
from bodycam_ingest.catalog.access_models import RequestRow
from bodycam_ingest.catalog.custody_models import LabelRow
from bodycam_ingest.catalog.queries import RecordingFilter, recordings_query
from bodycam_ingest.catalog.retention_models import CaseTierRow, HoldRow
from bodycam_ingest.custody.roles import Acting
from bodycam_ingest.errors import (
    BadRequest,
    HoldAlreadyReleased,
    NotFound,
    Refused,
    RetentionPlanChanged,
    StorageError,
)
from bodycam_ingest.retention import holds, tiering
from bodycam_ingest.retention.state import current_cases
from bodycam_ingest.retention.tiers import Tier, parse_tier, tier_change_requires_approval
from bodycam_ingest.station import Station

Ident = Annotated[int, Field(ge=1, le=2**31 - 1)]  # INTEGER keys: 32 bits on PostgreSQL
Text = Annotated[str, Field(max_length=4000)]


def acting(ctx: Ctx) -> Acting:
    return Acting(actor=ctx.actor, approved_by=ctx.approved_by)


def _tier(value: str) -> Tier:
    try:
        return parse_tier(value)
    except ValueError as exc:
        raise BadRequest(problem=f"--tier: {exc}") from None


def select_recordings(ctx: Ctx, session: Session, ids: list[int] | None, device: str | None,
                      officer: str | None, since: str | None, until: str | None) -> list[int]:
    """Recording ids given (they must exist and not be deleted), or the live recordings of a
    device/officer in a time range (station-local)."""
    if ids:
        return [r.id for r in tiering.live_recordings(session, ids)]
    if not (device or officer or since or until):
        raise BadRequest(problem="give recording ids, --case, or --device/--by-officer with a "
                         "time range")
    zone = ctx.station.config.station.zone
    flt = RecordingFilter(device=device, officer=officer, since=local_time(since, zone, "since"),
                          until=local_time(until, zone, "until"), limit=100000)
    chosen = [row.id for row in session.scalars(recordings_query(flt)) if row.deleted_at is None]
    if not chosen:
        raise NotFound(what="Recordings matching", ident="the selection", hint="Check with: "
                       "bodycam list --device ... --since ...")
    return chosen


def case_warning(session: Session, case: str) -> str | None:
    if tiering.case_recordings(session, case):
        return None
    return (f"no recording is labelled with case {case} yet; it applies to the recordings "
            f"labelled into it later (bodycam tag IDS --case {case})")


def tier_json(outcome: tiering.TierOutcome, approved_by: str | None) -> dict[str, Any]:
    return {"target": outcome.target, "recording_id": outcome.recording_id,
            "case_number": outcome.case_number, "old_tier": outcome.old,
            "new_tier": outcome.new, "reason": outcome.reason, "changed": outcome.changed,
            "change_id": outcome.change_id, "approved_by": approved_by}


def hold_json(hold: HoldRow, today: date) -> dict[str, Any]:
    from bodycam_ingest.catalog.models import row_dict

    return {**row_dict(hold), "target": holds.target_of(hold), "active": hold.released_at is None,
            "review_overdue": holds.review_overdue(hold, today)}


def _today(station: Station) -> date:
    return holds.station_today(station.clock(), station.config.station.zone)


# --------------------------------------------------------------------------- tiers


@handler("tiers.set", action="tiers.raise")
def set_tier(ctx: Ctx, tier: str, reason: Text, ids: list[Ident] | None = None,
             case: str | None = None, device: str | None = None, officer: str | None = None,
             since: str | None = None, until: str | None = None,
             note: Text | None = None) -> dict[str, Any]:
    """Set the tier of recordings or of a case. A selection that lowers anything is not changed:
    it becomes one ``tier_lower`` request (``request`` in the result)."""
    wanted = _tier(tier)
    if case is not None and (ids or device or officer or since or until):
        raise BadRequest(problem="give recording ids (or a device/time selection) or --case, "
                         "not both")
    station = ctx.station
    warnings: list[str] = []
    with station.catalog.session() as session:
        if case is not None:
            if not case.strip():
                raise Refused(reason="--case needs a case number")
            row = session.scalar(select(CaseTierRow).where(CaseTierRow.case_number == case))
            olds = [parse_tier(row.tier) if row is not None else Tier.STANDARD]
            params: dict[str, Any] = {"case": case}
            warning = case_warning(session, case)
            warnings += [warning] if warning else []
        else:
            targets = select_recordings(ctx, session, ids, device, officer, since, until)
            olds = [parse_tier(r.tier) for r in tiering.live_recordings(session, targets)]
            params = {"recording_ids": targets}
        if any(tier_change_requires_approval(old, wanted) for old in olds):
            ctx.authorize("tiers.lower")
            request = requests.create(station, session, ctx.principal, "tier_lower",
                                      {**params, "tier": wanted.value, "reason": reason,
                                       "note": note}, reason, approved_by=ctx.approved_by)
            return {"changes": [], "warnings": warnings,
                    "request": requests.request_json(request)}
        if case is not None:
            outcomes = [tiering.set_case_tier(session, case, wanted, reason=reason, note=note,
                                              acting=acting(ctx), approved_by=ctx.approved_by,
                                              at=station.clock())]
        else:
            outcomes = tiering.set_recording_tiers(session, params["recording_ids"], wanted,
                                                   reason=reason, note=note, acting=acting(ctx),
                                                   approved_by=ctx.approved_by,
                                                   at=station.clock())
        return {"changes": [tier_json(o, ctx.approved_by) for o in outcomes],
                "warnings": warnings, "request": None}


@request_kind("tier_lower", action="tiers.lower")
class TierLowering:
    @staticmethod
    def preview(station: Station, session: Session, params: Mapping[str, Any],
                requester: str) -> dict[str, Any]:
        """Each target as it is now (tier, its reason, its current case) and the new tier."""
        new = parse_tier(params["tier"])
        reason, note = str(params["reason"]), params.get("note")
        targets: list[dict[str, Any]] = []
        if params.get("case") is not None:
            case = str(params["case"])
            row = session.scalar(select(CaseTierRow).where(CaseTierRow.case_number == case))
            targets.append({"target": f"case {case}", "case_number": case,
                            "tier": row.tier if row else None,
                            "tier_reason": row.reason if row else None,
                            "recordings": tiering.case_recordings(session, case)})
        else:
            recordings = tiering.live_recordings(session, params["recording_ids"])
            cases = current_cases(session, [r.id for r in recordings])
            targets += [{"target": f"recording {r.id}", "recording_id": r.id, "tier": r.tier,
                         "tier_reason": r.tier_reason, "case_number": cases.get(r.id)}
                        for r in recordings]
        for target in targets:
            tiering.check_reason(target["target"], new, reason=reason, note=note)
        return {"tier": new.value, "reason": reason, "note": note, "targets": targets}

    @staticmethod
    def execute(station: Station, session: Session | None, row: RequestRow, act: Acting
                ) -> tuple[dict[str, Any], AfterCommit | None]:
        assert session is not None
        params = requests.params_of(row)
        new = parse_tier(params["tier"])
        common = {"reason": params["reason"], "note": params.get("note"), "acting": act,
                  "approved_by": act.approved_by, "at": station.clock()}
        if params.get("case") is not None:
            outcomes = [tiering.set_case_tier(session, params["case"], new, **common)]
        else:
            outcomes = tiering.set_recording_tiers(session, params["recording_ids"], new,
                                                   **common)
        return {"changes": [tier_json(o, act.approved_by) for o in outcomes]}, None


# --------------------------------------------------------------------------- holds


@handler("holds.add")
def add_hold(ctx: Ctx, reason: Text, owner: Text, ids: list[Ident] | None = None,
             case: str | None = None, until: str | None = None) -> dict[str, Any]:
    """A legal hold on recordings or on a case (review date ``until``: YYYY-MM-DD)."""
    if (case is None) == (not ids):
        raise BadRequest(problem="give recording ids or --case, not both")
    station = ctx.station
    today = _today(station)
    review = None
    if until is not None:
        try:
            review = date.fromisoformat(until)
        except ValueError:
            raise BadRequest(problem=f"--until: {until!r} is not a date; use YYYY-MM-DD"
                             ) from None
        if review < today:
            raise BadRequest(problem=f"--until: the review date {review} has already passed "
                             f"(today is {today})")
    warnings: list[str] = []
    with station.catalog.session() as session:
        if case is not None:
            added = [holds.add_case_hold(session, case, reason=reason, owner=owner, until=review,
                                         acting=acting(ctx), at=station.clock())]
            warning = case_warning(session, case)
            warnings += [warning] if warning else []
        else:
            targets = [r.id for r in tiering.live_recordings(session, ids or [])]
            added = holds.add_recording_holds(session, targets, reason=reason, owner=owner,
                                              until=review, acting=acting(ctx),
                                              at=station.clock())
        return {"holds": [hold_json(h, today) for h in added], "warnings": warnings}


def _active_hold(session: Session, hold_id: int) -> HoldRow:
    row = session.get(HoldRow, hold_id)
    if row is None:
        raise NotFound(what="Hold", ident=hold_id, hint="List holds with: bodycam hold list --all")
    if row.released_at is not None:
        raise HoldAlreadyReleased(hold=hold_id, when=f"{row.released_at:%Y-%m-%d %H:%M}Z",
                                  who=row.released_by, reason=row.release_reason)
    return row


@handler("holds.release")
def release_hold(ctx: Ctx, hold_id: Ident, reason: Text) -> dict[str, Any]:
    """Release a hold: at once by its owner; by anyone else, a ``hold_release`` request."""
    station = ctx.station
    if not reason.strip():
        raise Refused(reason="releasing a hold needs --reason TEXT")
    with station.catalog.session() as session:
        row = _active_hold(session, hold_id)
        if row.owner != ctx.actor:
            request = requests.create(station, session, ctx.principal, "hold_release",
                                      {"hold_id": hold_id, "reason": reason}, reason,
                                      approved_by=ctx.approved_by)
            return {"hold": None, "request": requests.request_json(request)}
        released = holds.release(session, hold_id, reason=reason, approved_by=None,
                                 acting=acting(ctx), at=station.clock())
        return {"hold": hold_json(released, _today(station)), "request": None}


@request_kind("hold_release", action="holds.release")
class HoldRelease:
    @staticmethod
    def preview(station: Station, session: Session, params: Mapping[str, Any],
                requester: str) -> dict[str, Any]:
        """The hold as it is now (active or not) and the release reason."""
        row = session.get(HoldRow, int(params["hold_id"]))
        if row is None:
            raise NotFound(what="Hold", ident=params["hold_id"],
                           hint="List holds with: bodycam hold list --all")
        hold = {"id": row.id, "target": holds.target_of(row), "recording_id": row.recording_id,
                "case_number": row.case_number, "owner": row.owner, "reason": row.reason,
                "until": row.until.isoformat() if row.until else None,
                "added_by": row.actor, "active": row.released_at is None}
        return {"hold": hold, "release_reason": str(params["reason"])}

    @staticmethod
    def execute(station: Station, session: Session | None, row: RequestRow, act: Acting
                ) -> tuple[dict[str, Any], AfterCommit | None]:
        assert session is not None
        params = requests.params_of(row)
        released = holds.release(session, int(params["hold_id"]), reason=params["reason"],
                                 approved_by=act.approved_by, acting=Acting(act.actor, None),
                                 at=station.clock())
        return {"hold": hold_json(released, _today(station))}, None


# --------------------------------------------------------------------------- exports


def exports_dir(station: Station) -> Path:
    """Where approved export packages are built (the service account's, like the store)."""
    return station.config.storage.state_dir / "exports"


@handler("exports.request")
def request_export(ctx: Ctx, recipient: Text, reason: Text, ids: list[Ident] | None = None,
                   case: str | None = None, recipient_name: Text | None = None
                   ) -> dict[str, Any]:
    """An ``export`` request for recordings (or every recording ever labelled with ``case``)."""
    if not recipient.strip():
        raise Refused(reason="an export needs --recipient KIND (court, procuratorate, lawyer, "
                      "party, supervision, audit, ...): for whom is recorded")
    station = ctx.station
    with station.catalog.session() as session:
        chosen = set(ids or [])
        if case is not None:
            chosen.update(session.scalars(select(LabelRow.recording_id)
                                          .where(LabelRow.case_number == case)))
        if not chosen:
            raise BadRequest(problem="give recording ids or a --case with recordings")
        request = requests.create(station, session, ctx.principal, "export", {
            "recording_ids": sorted(chosen), "recipient": recipient,
            "recipient_name": recipient_name}, reason, approved_by=ctx.approved_by)
        return {"request": requests.request_json(request)}


def _export_request(station: Station, row: RequestRow, act: Acting) -> Any:
    from bodycam_ingest.custody import export

    params = requests.params_of(row)
    return export.ExportRequest(
        recording_ids=list(params["recording_ids"]), dest=exports_dir(station) / str(row.id),
        recipient=params["recipient"], recipient_name=params.get("recipient_name"),
        requested_by=act.actor, approved_by=act.approved_by, reason=row.reason,
        request_id=row.id)


class _PreparedExport(requests.Prepared):
    """The originals copied and hashed (no transaction open); ``finish`` logs the export in the
    approval's transaction and returns the rename onto ``exports/<id>`` for after its commit."""

    def __init__(self, station: Station, request: Any, sources: list[Any], work: Path,
                 token: str, act: Acting) -> None:
        self.station, self.request, self.sources = station, request, sources
        self.work, self.token, self.act = work, token, act

    def finish(self, session: Session) -> tuple[dict[str, Any], AfterCommit | None]:
        from bodycam_ingest.custody import export
        from bodycam_ingest.custody import service as custody

        station, request = self.station, self.request
        export.finish(session, request, self.sources, self.work,
                      station_id=station.config.station.id,
                      manifest_dir=custody.manifest_dir(station.config),
                      key_dir=custody.key_dir(station.config), actor=self.act.actor,
                      at=station.clock())

        def publish() -> None:
            export.publish(self.work, self.token, request.dest)

        return {"package": str(request.dest), "recordings": request.recording_ids}, publish

    def discard(self) -> None:
        from bodycam_ingest.custody import export

        export.discard(self.work, self.token)


@request_kind("export", action="exports.request")
class Export:
    """The package's originals are copied and hashed before the approval's transaction, with
    none open (``prepare``, issue 9 D5): docks during a long export commit as usual. The
    approval's transaction then checks everything again and logs the export briefly. A crash
    mid-copy leaves the request pending (approve it again) and a marked temporary folder that
    the next attempt at the same request removes."""

    @staticmethod
    def preview(station: Station, session: Session, params: Mapping[str, Any],
                requester: str) -> dict[str, Any]:
        """Each recording as it is now (its digest, file, officer, current case) and for whom."""
        recordings = tiering.live_recordings(session, params["recording_ids"])
        cases = current_cases(session, [r.id for r in recordings])
        return {"recordings": [{"id": r.id, "camera_path": r.camera_path, "sha256": r.sha256,
                                "size": r.size, "officer": r.name_officer,
                                "case_number": cases.get(r.id)} for r in recordings],
                "recipient": params["recipient"], "recipient_name": params.get("recipient_name")}

    @staticmethod
    def prepare(station: Station, row: RequestRow, act: Acting) -> requests.Prepared:
        from bodycam_ingest.custody import destinations, export

        request = _export_request(station, row, act)
        folder = request.dest.parent
        with station.catalog.reading() as reading:
            sources = export.plan(reading, request)
        from bodycam_ingest.storage.cache import ensure_local_for

        ensure_local_for(station, [source.recording_id for source in sources])  # evicted ones
        try:
            folder.mkdir(mode=0o750, parents=True, exist_ok=True)
            for earlier in folder.glob(f".{row.id}.*.partial"):  # this request, a crashed run
                if not earlier.is_symlink() and (earlier / destinations.MARKER).is_file():
                    shutil.rmtree(earlier, ignore_errors=True)
            work, token = destinations.make_workdir(folder, str(row.id))
        except OSError as exc:
            raise StorageError(path=str(folder), reason=f"the package folder cannot be created "
                               f"({exc.strerror})") from None
        try:
            export.copy_payload(sources, work, station.store.root)
        except BaseException as exc:
            export.discard(work, token)
            if isinstance(exc, OSError):
                raise StorageError(path=str(work), reason=f"writing the package failed ({exc}); "
                                   "nothing was disclosed") from None
            raise
        return _PreparedExport(station, request, sources, work, token, act)

    @staticmethod
    def execute(station: Station, session: Session | None, row: RequestRow, act: Acting
                ) -> tuple[dict[str, Any], AfterCommit | None]:
        """Reached only when ``prepare`` did not run (the approver's account changed between
        its check and the transaction): never copy inside the transaction."""
        raise Refused(reason=f"request {row.id}'s package was not built (what approving it "
                      "checks changed meanwhile); nothing was done: approve it again")


# --------------------------------------------------------------------------- retention policy


@handler("retention.approve")
def approve_policy(ctx: Ctx, plan: str, reason: Text) -> dict[str, Any]:
    """A ``retention_policy`` request to put the configured shortening in force, exactly as the
    plan with digest ``plan`` showed it (refused now if the plan already differs)."""
    station = ctx.station
    with station.catalog.session() as session:
        request = requests.create(station, session, ctx.principal, "retention_policy",
                                  {"plan": plan.strip().lower()}, reason,
                                  approved_by=ctx.approved_by)
        shown = requests.preview_of(request)["plan_digest"]
        if shown != plan.strip().lower():
            raise RetentionPlanChanged(shown=plan, now=shown)
        return {"request": requests.request_json(request)}


@request_kind("retention_policy", action="retention.approve")
class RetentionPolicy:
    @staticmethod
    def preview(station: Station, session: Session, params: Mapping[str, Any],
                requester: str) -> dict[str, Any]:
        from bodycam_ingest.retention.service import policy_preview

        return policy_preview(station, session)

    @staticmethod
    def execute(station: Station, session: Session | None, row: RequestRow, act: Acting
                ) -> tuple[dict[str, Any], AfterCommit | None]:
        from bodycam_ingest.retention.service import approve_in

        assert session is not None and act.approved_by is not None
        params = requests.params_of(row)
        done = approve_in(station, session, plan=params["plan"], approved_by=act.approved_by,
                          reason=row.reason, actor=act.actor)
        return {"policy_digest": done.policy_digest, "plan_digest": done.plan_digest,
                "shortened": list(done.shortened), "impacted": done.impacted}, None
