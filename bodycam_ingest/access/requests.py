"""Four-eyes requests: one account asks, another account approves, the station carries it out.

Every action that shortens protection or discloses evidence (lowering a retention tier, releasing
another's legal hold, an export, a shortening retention policy, acting for another account) is a
request. Creating one computes its **preview** (plain JSON: exactly what will happen, to which
objects as they are now) and the SHA-256 of its RFC 8785 canonical form, the **digest**.
``bodycam requests show`` prints both; the approver names the digest they were shown; at approval
the preview is computed again from the current catalog, and if it differs (a tier or label changed,
the hold was released meanwhile, a recording was deleted) nothing is done. Approved, the request is
carried out in the approver's call by the same service code as before, recording the requester as
actor and the approver in ``approved_by``.

Rules (``check_decider``): the approver holds a role of ``authz.APPROVERS[kind]``, is an account
(the system principal, root or the service account in-process, is not a person and approves
nothing) and is not the requester. Every state change is a custody-log entry: ``request_created``,
``request_approved``, ``request_rejected``, and a refused approval (``request_approval_refused``).

The lifecycle is here; what each kind previews and does is registered by the handler modules with
``@request_kind`` (api.handlers.retention_acts, api.handlers.requests).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.access.authz import APPROVERS, authorize, may_approve
from bodycam_ingest.access.principal import Principal, is_system_actor
from bodycam_ingest.catalog.access_models import AccountRow, RequestRow
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.custody.manifest import JsonValue, canonical_json, sha256_hex
from bodycam_ingest.custody.roles import Acting
from bodycam_ingest.errors import (
    BodycamError,
    NotAuthorized,
    NotFound,
    Refused,
    RequestChanged,
    RequestDigestMismatch,
    RequestNotPending,
    RequestSelfApproval,
    SystemCannotApprove,
)

if TYPE_CHECKING:
    from bodycam_ingest.station import Station

PENDING, APPROVED, DONE, REJECTED, FAILED = "pending", "approved", "done", "rejected", "failed"
STATES = (PENDING, APPROVED, DONE, REJECTED, FAILED)

Preview = dict[str, Any]
AfterCommit = Callable[[], None]


@dataclass(frozen=True)
class KindSpec:
    """What a request kind needs: the action that may create it, its preview (read from the
    catalog in the caller's session) and its execution. ``execute`` runs in the approver's write
    transaction (``in_transaction``) and may return work to do after the commit (renaming an
    export into place); a kind that must open its own transactions (acting for another account
    through the API) runs after the approval is committed."""

    kind: str
    action: str
    preview: Callable[[Station, Session, Mapping[str, Any], str], Preview]
    execute: Callable[[Station, Session | None, RequestRow, Acting],
                      tuple[dict[str, Any], AfterCommit | None]]
    in_transaction: bool = True
    prepare: Callable[[Station, RequestRow, Acting], Prepared] | None = None


class Prepared:
    """Long work of a request kind done before the approval's transaction, with no transaction
    open (an export's copy, issue 9 D5): ``finish`` then runs briefly in that transaction in
    place of ``execute``; ``discard`` undoes the work when the approval is refused or fails."""

    def finish(self, session: Session) -> tuple[dict[str, Any], AfterCommit | None]:
        raise NotImplementedError

    def discard(self) -> None:
        raise NotImplementedError


KINDS: dict[str, KindSpec] = {}


def request_kind(kind: str, *, action: str, in_transaction: bool = True
                 ) -> Callable[[type[Any]], type[Any]]:
    """Register a kind from a class with static ``preview`` and ``execute`` methods (and
    optionally ``prepare``, see ``Prepared``)."""
    def register(cls: type[Any]) -> type[Any]:
        if kind not in APPROVERS:
            raise RuntimeError(f"request kind {kind} has no approvers in authz.APPROVERS")
        KINDS[kind] = KindSpec(kind, action, cls.preview, cls.execute, in_transaction,
                               getattr(cls, "prepare", None))
        return cls
    return register


# --------------------------------------------------------------------------- pure core


def canonical(preview: Preview) -> bytes:
    """The bytes the digest is over: RFC 8785 canonical JSON of the preview."""
    return canonical_json(json.loads(json.dumps(preview, default=str)))


def digest(preview: Preview) -> str:
    return sha256_hex(canonical(preview))


def differences(shown: JsonValue, now: JsonValue, path: str = "") -> list[str]:
    """Where two previews differ, as readable paths (``targets[0].tier: 'evidence' ->
    'standard'``), at most 5: what the refusal of a changed request names."""
    if isinstance(shown, dict) and isinstance(now, dict):
        out: list[str] = []
        for key in sorted(set(shown) | set(now)):
            out += differences(shown.get(key), now.get(key), f"{path}.{key}" if path else key)
        return out[:5]
    if isinstance(shown, list) and isinstance(now, list) and len(shown) == len(now):
        out = []
        for i, (a, b) in enumerate(zip(shown, now, strict=True)):
            out += differences(a, b, f"{path}[{i}]")
        return out[:5]
    if shown == now:
        return []
    return [f"{path or 'preview'}: {_short(shown)} -> {_short(now)}"]


def _short(value: JsonValue) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def needed_roles(kind: str) -> str:
    return " or ".join(sorted(APPROVERS.get(kind, frozenset()))) or "(none)"


def check_decider(principal: Principal, *, kind: str, requested_by: str, ident: int) -> None:
    """May ``principal`` approve request ``ident`` of ``kind`` asked by ``requested_by``? Pure.

    The system principal is refused first (it is not a person), then the requester (four eyes:
    even a supervisor cannot approve their own request), then anyone without an approving role."""
    if principal.system:
        raise SystemCannotApprove(who=principal.actor, ident=ident, need=needed_roles(kind))
    if principal.actor == requested_by:
        raise RequestSelfApproval(who=principal.actor, ident=ident, need=needed_roles(kind))
    if not may_approve(principal, kind):
        raise NotAuthorized(action=f"approve a {kind} request", need=needed_roles(kind),
                            who=f"{principal.login} (roles: "
                            f"{', '.join(sorted(principal.roles)) or 'none'})")


def summary(kind: str, preview: Mapping[str, Any]) -> str:
    """One line for ``requests list``."""
    if kind == "tier_lower":
        targets = [t.get("target", "?") for t in preview.get("targets", [])]
        shown = ", ".join(targets[:3]) + (f" and {len(targets) - 3} more" if len(targets) > 3
                                          else "")
        return f"{shown} -> {preview.get('tier')}"
    if kind == "hold_release":
        hold = preview.get("hold", {})
        return f"release hold {hold.get('id')} on {hold.get('target')} (owner {hold.get('owner')})"
    if kind == "export":
        ids = [r.get("id") for r in preview.get("recordings", [])]
        return (f"export {len(ids)} recording(s) to {preview.get('recipient')}"
                + (f" {preview['recipient_name']}" if preview.get("recipient_name") else ""))
    if kind == "retention_policy":
        return (f"policy {str(preview.get('plan_digest'))[:16]}: "
                + "; ".join(preview.get("shortened", [])))
    if kind == "act_for":
        return (f"{preview.get('method')} for {preview.get('on_behalf_of', {}).get('login')}")
    return kind


def params_of(row: RequestRow) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(row.params)
    return value


def preview_of(row: RequestRow) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(row.preview)
    return value


def request_json(row: RequestRow) -> dict[str, Any]:
    """A request as the API shows it: ``preview`` (the object) and ``preview_text`` (the exact
    bytes its digest is over)."""
    preview = json.loads(row.preview)
    return {"id": row.id, "kind": row.kind, "state": row.state, "summary": summary(row.kind,
                                                                                  preview),
            "params": json.loads(row.params), "preview": preview, "preview_text": row.preview,
            "digest": row.preview_digest, "reason": row.reason,
            "requested_by": row.requested_by, "requested_at": row.requested_at,
            "decided_by": row.decided_by, "decided_at": row.decided_at,
            "decision_reason": row.decision_reason,
            "result": json.loads(row.result) if row.result else None,
            "approvers": sorted(APPROVERS.get(row.kind, frozenset()))}


# --------------------------------------------------------------------------- lifecycle


def _spec(kind: str) -> KindSpec:
    try:
        return KINDS[kind]
    except KeyError:
        raise Refused(reason=f"unknown request kind {kind!r}") from None


def create(station: Station, session: Session, principal: Principal, kind: str,
           params: Mapping[str, Any], reason: str, *, approved_by: str | None = None
           ) -> RequestRow:
    """A pending request of ``kind`` by ``principal``, its preview computed now, and its
    ``request_created`` entry, in the caller's write transaction."""
    spec = _spec(kind)
    if approved_by is not None:
        raise Refused(reason="an action carried out for another account cannot itself need "
                      "approval; ask that account to make the request in its own session")
    if not reason.strip():
        raise Refused(reason=f"a {kind} request needs --reason TEXT (why; recorded)")
    preview = _preview(spec, station, session, params, principal.actor)
    text = canonical(preview).decode()
    now = station.clock()
    row = RequestRow(kind=kind, params=json.dumps(dict(params), sort_keys=True,
                                                  ensure_ascii=False, default=str),
                     preview=text, preview_digest=sha256_hex(text.encode()), reason=reason,
                     state=PENDING, requested_by=principal.actor, requested_at=now)
    session.add(row)
    session.flush()
    record_event(session, at=now, actor=principal.actor, action="request_created",
                 subject=f"request {row.id}", reason=reason,
                 details={"request_id": row.id, "kind": kind, "digest": row.preview_digest,
                          "summary": summary(kind, preview)})
    return row


def _preview(spec: KindSpec, station: Station, session: Session, params: Mapping[str, Any],
             requester: str) -> Preview:
    return {"kind": spec.kind, "requested_by": requester,
            **spec.preview(station, session, params, requester)}


def _pending(session: Session, request_id: int) -> RequestRow:
    row = session.get(RequestRow, request_id)
    if row is None:
        raise NotFound(what="Request", ident=request_id, hint="List them with: bodycam requests "
                       "list --all")
    if row.state != PENDING:
        raise RequestNotPending(ident=request_id, state=row.state,
                                detail=f"by {row.decided_by} at {row.decided_at:%Y-%m-%d %H:%M}Z"
                                if row.decided_at else "not decided")
    return row


def _requester_still_may(station: Station, session: Session, row: RequestRow) -> None:
    """The requester must still be an enabled account allowed to ask for this (a custodian who
    lost the role since cannot have it carried out in their name)."""
    if is_system_actor(row.requested_by):
        return
    from bodycam_ingest.access.identity import principal_of

    account = session.scalar(select(AccountRow).where(AccountRow.login == row.requested_by))
    if account is None or not account.enabled:
        raise Refused(reason=f"request {row.id} was made by {row.requested_by}, whose account is "
                      "disabled or gone; nothing was done. Reject it (bodycam requests reject "
                      f"{row.id} --reason ...)")
    authorize(principal_of(account), _spec(row.kind).action, station.config.access.roles,
              station.config.station.id)


def approve(station: Station, principal: Principal, request_id: int, shown_digest: str,
            reason: str | None = None) -> tuple[RequestRow, dict[str, Any]]:
    """Approve and carry out request ``request_id`` if ``principal`` may, ``shown_digest`` is its
    digest and its preview computed again now still has that digest; otherwise refuse, change
    nothing, and log the refused attempt."""
    after: AfterCommit | None = None
    result: dict[str, Any] = {}
    kind = "?"
    prepared: Prepared | None = None
    try:
        kind, prepared = _prepare(station, principal, request_id, shown_digest)
        with station.catalog.session() as session:
            row = _pending(session, request_id)
            kind = row.kind
            spec = _spec(row.kind)
            check_decider(principal, kind=row.kind, requested_by=row.requested_by,
                          ident=row.id)
            given = shown_digest.strip().lower()
            if given != row.preview_digest:
                raise RequestDigestMismatch(ident=row.id, digest=row.preview_digest,
                                            given=shown_digest)
            _requester_still_may(station, session, row)
            params = json.loads(row.params)
            now_preview = _preview(spec, station, session, params, row.requested_by)
            now_digest = digest(now_preview)
            if now_digest != row.preview_digest:
                changed = differences(json.loads(row.preview), json.loads(canonical(now_preview)))
                raise RequestChanged(ident=row.id, what="; ".join(changed) or "its content",
                                     shown=row.preview_digest[:16], now=now_digest[:16])
            at = station.clock()
            row.decided_by, row.decided_at, row.decision_reason = principal.actor, at, reason
            record_event(session, at=at, actor=principal.actor, action="request_approved",
                         subject=f"request {row.id}", reason=reason, approved_by=principal.actor,
                         details={"request_id": row.id, "kind": row.kind,
                                  "digest": row.preview_digest,
                                  "requested_by": row.requested_by})
            acting = Acting(actor=row.requested_by, approved_by=principal.actor)
            if prepared is not None or spec.in_transaction:
                result, after = (prepared.finish(session) if prepared is not None
                                 else spec.execute(station, session, row, acting))
                row.state, row.result = DONE, json.dumps(result, default=str, sort_keys=True)
                _record_outcome(station, session, row, acting, None)
            else:
                row.state = APPROVED
            session.flush()
            session.expunge(row)
    except BaseException as exc:
        if prepared is not None:
            prepared.discard()
        if isinstance(exc, BodycamError) and not isinstance(exc, NotFound):
            _log_refusal(station, principal, request_id, kind, exc)
        raise
    if after is not None:
        after()
    if not spec.in_transaction:
        row = _execute_after(station, row, acting)
        result = json.loads(row.result) if row.result else {}
    return row, result


def _prepare(station: Station, principal: Principal, request_id: int, shown_digest: str
             ) -> tuple[str, Prepared | None]:
    """(kind, the kind's long work) done before the approval's transaction and outside any:
    only for a kind with ``prepare``, and only once a read shows this approver may approve
    this digest (no one else can start it). Everything is checked again in the transaction,
    which also gives any refusal."""
    with station.catalog.reading() as session:
        row = session.get(RequestRow, request_id)
        if row is None or row.state != PENDING:
            return "?", None
        spec = _spec(row.kind)
        if spec.prepare is None or shown_digest.strip().lower() != row.preview_digest:
            return row.kind, None
        try:
            check_decider(principal, kind=row.kind, requested_by=row.requested_by, ident=row.id)
            _requester_still_may(station, session, row)
        except BodycamError:
            return row.kind, None
        session.expunge(row)
    return row.kind, spec.prepare(station, row, Acting(actor=row.requested_by,
                                                       approved_by=principal.actor))


def _execute_after(station: Station, row: RequestRow, acting: Acting) -> RequestRow:
    """Carry out an approved request that opens its own transactions; record done or failed."""
    spec = _spec(row.kind)
    try:
        result, after = spec.execute(station, None, row, acting)
        if after is not None:
            after()
        state, text, error = DONE, json.dumps(result, default=str, sort_keys=True), None
    except BodycamError as exc:
        state, text, error = FAILED, json.dumps({"error": exc.message()}), exc
    with station.catalog.session() as session:
        stored = session.get_one(RequestRow, row.id)
        stored.state, stored.result = state, text
        _record_outcome(station, session, stored, acting, error)
        session.flush()
        session.expunge(stored)
    if error is not None:
        raise error
    return stored


def _record_outcome(station: Station, session: Session, row: RequestRow, acting: Acting,
                    error: BodycamError | None) -> None:
    """The custody entry saying an approved request was carried out (or failed), in the
    transaction that records its state, whether the kind ran inside the approval or after it."""
    # the approver carrying out what they approved is their own act (its approval is the
    # request_approved entry): an approved_by equal to the actor would read as self-approval
    record_event(session, at=station.clock(), actor=acting.approved_by or acting.actor,
                 action="request_failed" if error else "request_done",
                 subject=f"request {row.id}", approved_by=None,
                 reason=error.message() if error else None,
                 details={"request_id": row.id, "kind": row.kind,
                          "requested_by": row.requested_by})


def _log_refusal(station: Station, principal: Principal, request_id: int, kind: str,
                 exc: BodycamError) -> None:
    with station.catalog.session() as session:
        record_event(session, at=station.clock(), actor=principal.actor,
                     action="request_approval_refused", subject=f"request {request_id}",
                     reason=exc.message(), details={"request_id": request_id, "kind": kind})


def reject(station: Station, principal: Principal, request_id: int, reason: str) -> RequestRow:
    """Reject (or, by its requester, withdraw) a pending request; a reason is required."""
    if not (reason or "").strip():
        raise Refused(reason=f"rejecting request {request_id} needs --reason TEXT (why; it is "
                      "recorded and shown to the requester)")
    with station.catalog.session() as session:
        row = _pending(session, request_id)
        if principal.actor != row.requested_by:
            if principal.system:
                raise SystemCannotApprove(who=principal.actor, ident=row.id,
                                          need=needed_roles(row.kind))
            if not may_approve(principal, row.kind):
                raise NotAuthorized(action=f"reject a {row.kind} request",
                                    need=needed_roles(row.kind) + " (or be its requester)",
                                    who=f"{principal.login} (roles: "
                                    f"{', '.join(sorted(principal.roles)) or 'none'})")
        at = station.clock()
        row.state, row.decided_by, row.decided_at, row.decision_reason = (
            REJECTED, principal.actor, at, reason)
        record_event(session, at=at, actor=principal.actor, action="request_rejected",
                     subject=f"request {row.id}", reason=reason,
                     details={"request_id": row.id, "kind": row.kind,
                              "requested_by": row.requested_by,
                              "withdrawn": principal.actor == row.requested_by})
        session.flush()
        session.expunge(row)
        return row


def visible_request(session: Session, request_id: int, *, actor: str, own_only: bool
                    ) -> RequestRow:
    """Request ``request_id`` if the caller may see it (own scope: only their own requests)."""
    row = session.get(RequestRow, request_id)
    if row is None or (own_only and row.requested_by != actor):
        raise NotFound(what="Request", ident=request_id,
                       hint="List them with: bodycam requests list --all")
    return row


def find(session: Session, *, state: str | None, kind: str | None, actor: str | None,
         limit: int = 1000) -> list[RequestRow]:
    """Requests, newest first (``actor``: only theirs)."""
    query = select(RequestRow).order_by(RequestRow.id.desc()).limit(limit)
    if state is not None:
        query = query.where(RequestRow.state == state)
    if kind is not None:
        query = query.where(RequestRow.kind == kind)
    if actor is not None:
        query = query.where(RequestRow.requested_by == actor)
    return list(session.scalars(query))


def decided_at_text(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M}Z"
