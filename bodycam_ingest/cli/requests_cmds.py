"""CLI commands: ``bodycam requests list | show | approve | reject | fetch | act-for`` (issue 8).

Thin: parameters -> the local API (``common.call``: in-process for root and the service account,
the daemon's socket for everyone else) -> rendered result. ``fetch`` downloads an approved
export package chunk by chunk into ``DIR.partial``, checks every file's SHA-256 as it is written,
and renames it onto ``DIR`` only when all are complete.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import typer
from rich.table import Table

from bodycam_ingest.cli import common, render
from bodycam_ingest.errors import Refused, StorageError

requests_app = typer.Typer(no_args_is_help=True, help="Four-eyes requests: what waits for a "
                           "second person's approval, and approving or rejecting it.")
IdArg = Annotated[int, typer.Argument(help="Request id (see bodycam requests list).",
                                      min=1)]


def register(app: typer.Typer) -> None:
    """Add this part's commands to the main app."""
    app.add_typer(requests_app, name="requests")


def _approvers(request: Mapping[str, Any]) -> str:
    return " or ".join(request.get("approvers") or []) or "an approver"


def print_created(request: Mapping[str, Any]) -> None:
    """What a command that made a request prints: what it is and how it is approved."""
    ident = request["id"]
    render.out.print(render.key_values(f"Request {ident} created: waits for approval", [
        ("kind", request["kind"]), ("what", request["summary"]),
        ("requested by", request["requested_by"]), ("reason", request["reason"]),
        ("digest", request["digest"]),
        ("review", f"bodycam requests show {ident}"),
        ("approve (another person: " + _approvers(request) + ")",
         f"bodycam requests approve {ident} --digest {request['digest']}")]))


@requests_app.command("list")
def list_cmd(all_: Annotated[bool, typer.Option("--all", help="Every state, not only "
                                                "pending.")] = False,
             kind: Annotated[str | None, typer.Option(help="Only this kind (tier_lower, "
                                                      "hold_release, export, retention_policy, "
                                                      "act_for).")] = None,
             config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """Requests, newest first: pending ones (all with --all)."""
    rows = common.call(config, "requests.list", {"state": None if all_ else "pending",
                                                 "kind": kind})
    if as_json:
        render.emit_json(rows)
        return
    table = Table(title=f"{'Requests' if all_ else 'Pending requests'} ({len(rows)})")
    for column in ("id", "kind", "state", "what", "requested", "decided"):
        table.add_column(column, overflow="fold")
    for r in rows:
        decided = (f"{r['decided_by']} {render.when(r['decided_at'])}" if r["decided_by"]
                   else f"needs {_approvers(r)}")
        table.add_row(*map(render.plain, (r["id"], r["kind"], r["state"], r["summary"],
                                          f"{r['requested_by']} {render.when(r['requested_at'])}",
                                          decided)))
    render.out.print(table)


@requests_app.command("show")
def show_cmd(request_id: IdArg, config: common.ConfigOpt = None,
             as_json: common.JsonOpt = False) -> None:
    """A request, and exactly what approving it will do: its preview and the preview's SHA-256
    (the digest to approve)."""
    r = common.call(config, "requests.show", {"request_id": request_id})
    if as_json:
        render.emit_json(r)
        return
    pairs: list[tuple[str, Any]] = [
        ("kind", r["kind"]), ("state", r["state"]), ("what", r["summary"]),
        ("requested by", f"{r['requested_by']} at {render.when(r['requested_at'])}"),
        ("reason", r["reason"]), ("approved by one of", _approvers(r))]
    if r["decided_by"]:
        pairs.append(("decided by", f"{r['decided_by']} at {render.when(r['decided_at'])}"
                      + (f": {r['decision_reason']}" if r["decision_reason"] else "")))
    if r["result"] is not None:
        pairs.append(("result", json.dumps(r["result"], ensure_ascii=False)))
    render.out.print(render.key_values(f"Request {r['id']}", pairs))
    render.out.print(render.plain("Preview (what approving it does; the digest is SHA-256 of "
                                  "this canonical JSON):"))
    render.out.print(render.plain(r["preview_text"], lines=True), soft_wrap=True)  # exactly, unwrapped
    render.out.print(render.plain(f"digest: {r['digest']}"))
    if r["state"] == "pending":
        render.out.print(render.plain(f"approve: bodycam requests approve {r['id']} --digest "
                                      f"{r['digest']}"))


@requests_app.command("approve")
def approve_cmd(request_id: IdArg,
                digest: Annotated[str, typer.Option("--digest", help="The digest `bodycam "
                                                    "requests show` printed: you approve what "
                                                    "you were shown.", show_default=False)],
                reason: Annotated[str | None, typer.Option("--reason", help="A note (recorded)."
                                                           )] = None,
                config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """Approve a request and carry it out now, if its preview still has this digest (refused,
    changing nothing, if what it would do changed since it was shown)."""
    answer = common.call(config, "requests.approve", {"request_id": request_id, "digest": digest,
                                                      "reason": reason}, read_only=False)
    if as_json:
        render.emit_json(answer)
        return
    r = answer["request"]
    pairs: list[tuple[str, Any]] = [("what", r["summary"]), ("requested by", r["requested_by"]),
                                    ("approved by", r["decided_by"]), ("state", r["state"])]
    if r["kind"] == "export":
        pairs.append(("fetch", f"bodycam requests fetch {r['id']} --to DIR"))
    render.out.print(render.key_values(f"Request {r['id']} approved", pairs))


@requests_app.command("reject")
def reject_cmd(request_id: IdArg,
               reason: Annotated[str | None, typer.Option("--reason", help="Why (required; "
                                                          "recorded).")] = None,
               config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """Reject a pending request (an approver), or withdraw your own; a reason is required."""
    answer = common.call(config, "requests.reject", {"request_id": request_id,
                                                     "reason": reason or ""}, read_only=False)
    if as_json:
        render.emit_json(answer)
        return
    r = answer["request"]
    render.out.print(render.plain(f"request {r['id']} rejected by {r['decided_by']}: "
                                  f"{r['decision_reason']}"))


@requests_app.command("act-for")
def act_for_cmd(login: Annotated[str, typer.Argument(help="The account to act for.")],
                method: Annotated[str, typer.Argument(help="API method, e.g. labels.add, "
                                                      "holds.add, tiers.set.")],
                reason: Annotated[str, typer.Option("--reason", help="Why (recorded).",
                                                    show_default=False)],
                params: Annotated[str, typer.Option("--params", help="The method's parameters "
                                                    "as a JSON object.")] = "{}",
                config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """Ask to do something as another account (replaces the old --as NAME): carried out, in
    that account's name and within what it may do, once a supervisor approves it."""
    try:
        parsed = json.loads(params)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--params") from None
    if not isinstance(parsed, dict):
        raise typer.BadParameter("give a JSON object", param_hint="--params")
    answer = common.call(config, "requests.act_for", {"login": login, "method": method,
                                                      "params": parsed, "reason": reason},
                         read_only=False)
    if as_json:
        render.emit_json(answer)
        return
    print_created(answer["request"])


# --------------------------------------------------------------------------- fetch


@contextmanager
def _caller(config: Path | None) -> Iterator[Callable[[str, dict[str, Any]], Any]]:
    """One callable for many API calls: root and the service account keep one station open
    in-process (the same dispatch as ``common.call``), everyone else goes through the socket."""
    from bodycam_ingest.access.identity import current_system_principal, is_system_uid
    from bodycam_ingest.config import resolve_config_path

    path = resolve_config_path(config)
    if os.geteuid() == 0 or os.access(path, os.R_OK):
        loaded = common.load(path)
        if is_system_uid(os.geteuid(), loaded.storage.state_dir):
            from bodycam_ingest.api.protocol import roundtrip
            from bodycam_ingest.api.registry import dispatch
            from bodycam_ingest.custody import service

            with common.open_station(loaded) as station:
                principal = current_system_principal()
                yield lambda method, params: roundtrip(dispatch(station, principal, method,
                                                                params))
                service.after_command(station)
            return
    yield lambda method, params: common.call(config, method, params)


def _safe(relative: str) -> PurePosixPath:
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise Refused(reason=f"the station listed {relative!r} in the package; refusing to "
                      "write outside the target folder")
    return path


def station_places(config: Path | None) -> list[tuple[str, Path]]:
    """The station's own folders when this user can read the configuration (root, the service
    account); [] otherwise: a person's account cannot write into them anyway."""
    from bodycam_ingest.config import load_config, resolve_config_path
    from bodycam_ingest.custody import destinations
    from bodycam_ingest.errors import BodycamError

    try:
        return destinations.station_places(load_config(resolve_config_path(config)))
    except (BodycamError, OSError):
        return []


def fetch_package(call: Callable[[str, dict[str, Any]], Any], request_id: int,
                  dest: Path, places: Iterable[tuple[str, Path]] = ()) -> tuple[int, int]:
    """Download the package of export request ``request_id`` into ``dest`` (which must not
    exist or be an empty folder, and not be inside the station's ``places``); returns (files,
    bytes). Nothing this run did not create is ever removed (issue 9 D8)."""
    from bodycam_ingest.custody import destinations

    destinations.refuse_inside_station(dest, places)
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise Refused(reason=f"{dest} is not an empty folder; fetch into a new folder")
    listing = call("exports.files", {"request_id": request_id})
    # a new folder is written beside as .DEST.TOKEN.partial (created by this run, with its
    # marker) and renamed when complete; an existing empty folder (perhaps the only place the
    # caller may write) is filled, and what this run put in it is removed on failure
    in_place = dest.exists()
    work, token, created = dest, "", set()
    total = 0
    try:
        if not in_place:
            work, token = destinations.make_workdir(dest.parent, dest.name)
        for entry in listing["files"]:
            created.add(_safe(entry["path"]).parts[0])
            total += _fetch_file(call, request_id, entry, work, listing["chunk"])
        if not in_place:
            destinations.unmark(work)
            os.replace(work, dest)
    except BaseException as exc:
        if in_place:
            for name in created:
                child = work / name
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        elif token:
            if work.is_dir() and not (work / destinations.MARKER).exists():
                destinations.mark(work, token)  # unmarked just before a failed rename
            destinations.discard(work, token)
        if isinstance(exc, OSError):
            raise StorageError(path=str(dest), reason=f"writing the package failed ({exc}); "
                               "nothing was kept") from None
        raise
    return len(listing["files"]), total


def _fetch_file(call: Callable[[str, dict[str, Any]], Any], request_id: int,
                entry: Mapping[str, Any], work: Path, chunk: int) -> int:
    target = work.joinpath(*_safe(entry["path"]).parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, offset = hashlib.sha256(), 0
    with target.open("wb") as handle:
        while True:
            part = call("exports.chunk", {"request_id": request_id, "path": entry["path"],
                                          "offset": offset, "size": chunk})
            data = base64.b64decode(part["data"])
            handle.write(data)
            digest.update(data)
            offset += len(data)
            if part["eof"] or not data:
                break
    if offset != entry["size"] or digest.hexdigest() != entry["sha256"]:
        raise StorageError(path=str(target), reason=f"received {offset} bytes with SHA-256 "
                           f"{digest.hexdigest()}, the station lists {entry['size']} bytes "
                           f"with {entry['sha256']}; fetch again")
    return offset


@requests_app.command("fetch")
def fetch_cmd(request_id: IdArg,
              to: Annotated[Path, typer.Option("--to", help="New folder for the package.",
                                               show_default=False)],
              config: common.ConfigOpt = None) -> None:
    """Download the package of an approved export request (you asked for it, or you are a
    supervisor); every file's SHA-256 is checked as it arrives."""
    dest = to.absolute()
    places = station_places(config)
    with _caller(config) as call:
        files, size = fetch_package(call, request_id, dest, places)
    render.out.print(render.plain(f"fetched {files} file(s), {render.human_size(size)} to "
                                  f"{dest}; verify with: cd {dest} && sha256sum -c "
                                  "manifest-sha256.txt"))
