"""Four-eyes requests over the API: list, show, approve, reject, act for another account, and
download an approved export package in bounded chunks.

The download is two methods so that it works the same over the daemon's socket (one small
request and one bounded response per connection) and in-process: ``exports.files`` lists the
package's files with their SHA-256 (from the bag's own manifests) and logs the fetch;
``exports.chunk`` returns at most ``MAX_CHUNK`` bytes of one of those files, base64, from an
offset. Neither side ever holds more than one chunk in memory.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from bodycam_ingest.access import requests
from bodycam_ingest.access.identity import principal_of
from bodycam_ingest.access.requests import AfterCommit, request_kind
from bodycam_ingest.api.handlers.retention_acts import exports_dir
from bodycam_ingest.api.protocol import roundtrip
from bodycam_ingest.api.registry import Ctx, dispatch, handler, methods
from bodycam_ingest.catalog.access_models import AccountRow, RequestRow
from bodycam_ingest.catalog.events import record_event
from bodycam_ingest.custody.fixity import hash_file
from bodycam_ingest.custody.roles import Acting
from bodycam_ingest.errors import BadRequest, NotFound, Refused
from bodycam_ingest.station import Station

Ident = Annotated[int, Field(ge=1, le=2**31 - 1)]  # INTEGER keys: 32 bits on PostgreSQL
Text = Annotated[str, Field(max_length=4000)]
MAX_CHUNK = 4 * 2**20  # bytes of one exports.chunk answer (before base64)
DEFAULT_CHUNK = 2**20


@handler("requests.list")
def list_requests(ctx: Ctx, state: str | None = "pending", kind: str | None = None,
                  limit: Annotated[int, Field(ge=1, le=100_000)] = 1000) -> list[dict[str, Any]]:
    """Requests, newest first (``state`` None: all); someone without a wider role sees only
    their own."""
    if state is not None and state not in requests.STATES:
        raise BadRequest(problem=f"state {state!r}: one of {', '.join(requests.STATES)}")
    with ctx.station.catalog.reading() as session:
        rows = requests.find(session, state=state, kind=kind,
                             actor=ctx.actor if ctx.own_only else None, limit=limit)
        return [requests.request_json(row) for row in rows]


@handler("requests.show", action="requests.list")
def show_request(ctx: Ctx, request_id: Ident) -> dict[str, Any]:
    """One request with its preview (exactly what will happen) and the digest to approve."""
    with ctx.station.catalog.reading() as session:
        return requests.request_json(requests.visible_request(
            session, request_id, actor=ctx.actor, own_only=ctx.own_only))


@handler("requests.approve", action="requests.decide")
def approve_request(ctx: Ctx, request_id: Ident, digest: str,
                    reason: Text | None = None) -> dict[str, Any]:
    """Approve and carry out a request whose preview still has ``digest``."""
    row, result = requests.approve(ctx.station, ctx.principal, request_id, digest, reason)
    return {"request": requests.request_json(row), "result": result}


@handler("requests.reject", action="requests.decide")
def reject_request(ctx: Ctx, request_id: Ident, reason: Text = "") -> dict[str, Any]:
    """Reject (an approver) or withdraw (its requester) a pending request, with a reason."""
    row = requests.reject(ctx.station, ctx.principal, request_id, reason)
    return {"request": requests.request_json(row)}


# --------------------------------------------------------------------------- acting for others

NOT_FOR_OTHERS = ("requests.", "exports.", "users.", "whoami")


@handler("requests.act_for")
def act_for(ctx: Ctx, login: str, method: str, reason: Text,
            params: dict[str, Any] | None = None) -> dict[str, Any]:
    """An ``act_for`` request: call ``method`` with ``params`` as account ``login`` once a
    supervisor approves (what they may do is what ``login`` may do)."""
    with ctx.station.catalog.session() as session:
        request = requests.create(ctx.station, session, ctx.principal, "act_for",
                                  {"login": login, "method": method, "params": params or {}},
                                  reason, approved_by=ctx.approved_by)
        return {"request": requests.request_json(request)}


@request_kind("act_for", action="requests.act_for", in_transaction=False)
class ActFor:
    @staticmethod
    def preview(station: Station, session: Session, params: Mapping[str, Any],
                requester: str) -> dict[str, Any]:
        """The account acted for as it is now (roles, enabled) and the call."""
        login, method = str(params["login"]), str(params["method"])
        entry = methods().get(method)
        if entry is None:
            raise BadRequest(problem=f"unknown method {method!r}")
        if method.startswith(NOT_FOR_OTHERS):
            raise Refused(reason=f"{method} cannot be done for another account (requests, "
                          "exports, accounts and identity are each person's own)")
        if login == requester:
            raise Refused(reason=f"{login} is you; act in your own name")
        account = session.scalar(select(AccountRow).where(AccountRow.login == login))
        if account is None:
            raise NotFound(what="Account", ident=login, hint="List accounts with: bodycam "
                           "users list")
        principal = principal_of(account)
        return {"on_behalf_of": {"login": account.login, "display_name": account.display_name,
                                 "officer_number": account.officer_number,
                                 "roles": sorted(principal.roles), "enabled": account.enabled},
                "method": method, "action": entry.action, "params": params.get("params") or {}}

    @staticmethod
    def execute(station: Station, session: Session | None, row: RequestRow, act: Acting
                ) -> tuple[dict[str, Any], AfterCommit | None]:
        params = requests.params_of(row)
        with station.catalog.reading() as reading:
            account = reading.scalar(select(AccountRow).where(
                AccountRow.login == params["login"]))
            if account is None or not account.enabled:
                raise Refused(reason=f"account {params['login']} is disabled or gone")
            principal = principal_of(account)
        result = dispatch(station, principal, params["method"], params.get("params") or {},
                          approved_by=act.approved_by)
        return {"result": roundtrip(result)}, None


# --------------------------------------------------------------------------- export download


def _package(ctx: Ctx, session: Session, request_id: int) -> Path:
    row = requests.visible_request(session, request_id, actor=ctx.actor, own_only=ctx.own_only)
    if row.kind != "export":
        raise Refused(reason=f"request {request_id} is a {row.kind} request, not an export")
    if row.state != requests.DONE:
        raise Refused(reason=f"request {request_id} is {row.state}; its package exists once a "
                      "supervisor has approved it (bodycam requests show "
                      f"{request_id})")
    folder = exports_dir(ctx.station) / str(request_id)
    if not folder.is_dir():
        raise NotFound(what="Export package", ident=str(folder),
                       hint="It was removed from the station; make a new export request.")
    return folder


def _manifest_digests(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 from the bag's manifest and tag manifest (RFC 8493 encoding)."""
    known: dict[str, str] = {}
    for name in ("manifest-sha256.txt", "tagmanifest-sha256.txt"):
        path = folder / name
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            value, _, relative = line.partition("  ")
            if relative:
                relative = (relative.replace("%0A", "\n").replace("%0D", "\r")
                            .replace("%25", "%"))
                known[relative] = value
    return known


@handler("exports.files", action="exports.fetch")
def export_files(ctx: Ctx, request_id: Ident) -> dict[str, Any]:
    """The files of an approved export's package (path, size, SHA-256); the fetch is logged."""
    with ctx.station.catalog.reading() as session:
        folder = _package(ctx, session, request_id)
    known = _manifest_digests(folder)
    files: list[dict[str, Any]] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        sha256 = known.get(relative) or hash_file(path).sha256
        files.append({"path": relative, "size": path.stat().st_size, "sha256": sha256})
    with ctx.station.catalog.session() as session:
        record_event(session, at=ctx.now(), actor=ctx.actor, action="export_fetched",
                     subject=f"request {request_id}",
                     details={"request_id": request_id, "files": len(files),
                              "bytes": sum(f["size"] for f in files)})
    return {"request_id": request_id, "files": files, "chunk": DEFAULT_CHUNK}


@handler("exports.chunk", action="exports.fetch")
def export_chunk(ctx: Ctx, request_id: Ident, path: str,
                 offset: Annotated[int, Field(ge=0)] = 0,
                 size: Annotated[int, Field(ge=1, le=MAX_CHUNK)] = DEFAULT_CHUNK
                 ) -> dict[str, Any]:
    """At most ``size`` bytes of one package file from ``offset``, base64."""
    with ctx.station.catalog.reading() as session:
        folder = _package(ctx, session, request_id)
    relative = PurePosixPath(path)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise BadRequest(problem=f"path {path!r} is not a file of the package")
    target = folder.joinpath(*relative.parts)
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        raise NotFound(what="Package file", ident=path, hint="List them with exports.files"
                       ) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise BadRequest(problem=f"path {path!r} is not a file of the package")
        handle.seek(offset)
        data = handle.read(size)
    return {"path": path, "offset": offset, "data": base64.b64encode(data).decode("ascii"),
            "size": info.st_size, "eof": offset + len(data) >= info.st_size}
