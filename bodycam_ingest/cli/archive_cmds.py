"""CLI commands: ``bodycam archive --tier long_term --to DIR``, ``archive verify``, ``archive
list`` (issue 5); registered on the main app by cli.app.

Thin: parse, call ``retention.archive`` / ``retention.replica_audit``, render, exit. Writing and
verifying an archive work on the station's files in-process, as the service account only;
``archive list`` calls the local API and renders its JSON.

Exit status of ``archive``: 0 archived (or nothing to archive), 1 archived but some recordings
were skipped (their stored copy is damaged), 4 the folder does not exist, 5 refused (not
writable, on the store's filesystem without --same-device-ok, no station key), 8 no space or the
medium failed. ``archive verify``: 0 every replica reads back as catalogued, 1 an archive was not
reachable (not checked), 9 a replica or package is damaged.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TransferSpeedColumn
from rich.table import Table
from sqlalchemy import func, select

from bodycam_ingest.catalog.retention_models import Replica
from bodycam_ingest.cli import common, render
from bodycam_ingest.cli.ids import checked
from bodycam_ingest.custody import service
from bodycam_ingest.custody.roles import Acting
from bodycam_ingest.errors import ExitCode
from bodycam_ingest.retention import archive as archiving
from bodycam_ingest.retention.replica_audit import ArchiveVerification, verify_archives
from bodycam_ingest.retention.tiers import Tier

archive_app = typer.Typer(invoke_without_command=True, help="Long-term copies on a second "
                          "medium (R2: a burned disc or a dedicated disk).")


def register(app: typer.Typer) -> None:
    """Add this part's commands to the main app."""
    app.add_typer(archive_app, name="archive")


def _progress() -> Progress:
    return Progress(*Progress.get_default_columns()[:-1], BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), console=render.err, transient=True,
                    disable=not render.err.is_terminal)


@archive_app.callback()
def archive(
    ctx: typer.Context,
    tier: Annotated[str | None, typer.Option(help="long_term, evidence or standard: the "
                                             "recordings whose effective tier (own or case) "
                                             "this is.")] = None,
    all_tiers: Annotated[bool, typer.Option("--all", help="Every live recording, whatever its "
                                            "tier.")] = False,
    to: Annotated[Path | None, typer.Option("--to", help="A folder on the second medium; the "
                                            "package is written in a new folder inside it.")
                  ] = None,
    label: Annotated[str | None, typer.Option(help="The medium's label (what is written on "
                                              "the disc or disk), recorded with the archive.")
                     ] = None,
    same_device_ok: Annotated[bool, typer.Option(
        "--same-device-ok", help="Write even if --to is on the evidence store's filesystem "
        "(logged as a warning; such a copy does not count as a second medium).")] = False,
    config: common.ConfigOpt = None, as_json: common.JsonOpt = False,
) -> None:
    """Copy the recordings of a tier that have no verified replica yet to a second medium, as a
    signed BagIt package, verify the copies from the medium, and record them as replicas."""
    if ctx.invoked_subcommand is not None:
        if tier or all_tiers or to or label or same_device_ok:
            raise typer.BadParameter(f"options of `bodycam archive` do not apply to "
                                     f"`archive {ctx.invoked_subcommand}`")
        return
    if tier is not None and all_tiers:
        raise typer.BadParameter("give --tier or --all, not both", param_hint="--tier")
    if (tier is None and not all_tiers) or to is None:
        render.out.print(ctx.get_help())
        raise typer.Exit(int(ExitCode.USAGE) if (tier or all_tiers or to) else 0)
    chosen: Tier | None = None
    if tier is not None:
        try:
            chosen = Tier(tier)
        except ValueError:
            chosen = None
        if chosen not in archiving.ARCHIVABLE:
            raise typer.BadParameter("use long_term, evidence or standard", param_hint="--tier")
    common.require_system(config, "archive")
    with common.open_station(config) as station:
        acting = Acting(station.actor, None)
        request = archiving.ArchiveRequest(tier=chosen, directory=to.absolute(), label=label,
                                           actor=acting.actor, approved_by=acting.approved_by,
                                           same_device_ok=same_device_ok)
        with _progress() as progress:
            tasks: dict[str, TaskID] = {}

            def advance(phase: str, n: int, total: int) -> None:
                if phase not in tasks:
                    tasks[phase] = progress.add_task("copying" if phase == "copy" else
                                                     "verifying from the medium", total=total)
                progress.advance(tasks[phase], n)

            result = archiving.run(station, request, progress=advance)
        service.after_command(station)
    _render_result(result, request, as_json)
    raise typer.Exit(int(ExitCode.WARNING if result.skipped else ExitCode.OK))


def _render_result(result: archiving.ArchiveResult, request: archiving.ArchiveRequest,
                   as_json: bool) -> None:
    rate = result.bytes_copied / 1e6 / result.seconds if result.seconds > 0 else 0.0
    if as_json:
        render.emit_json({
            "archive_id": result.archive_id, "target": result.target, "tier": request.scope,
            "recordings": [o.recording_id for o in result.copied],
            "skipped": [{"recording_id": i, "reason": why} for i, why in result.skipped],
            "bytes": result.bytes_copied, "seconds": round(result.seconds, 3),
            "mb_per_s": round(rate, 1), "direct_io": result.direct_io,
            "same_device": result.same_device, "manifest_sha256": result.manifest_digest,
            "notes": result.notes})
        return
    for note in result.notes:
        render.err.print(render.plain(f"note: {note}"))
    if result.same_device and result.archive_id is not None:
        render.err.print(render.plain(
            f"WARNING: {request.directory} is on the evidence store's filesystem: this copy is "
            "not on a second medium and the audit does not count it as one"), style="bold red")
    if result.archive_id is None:
        render.out.print(f"nothing to archive: every live {request.scope} recording already has "
                         "a verified replica on a second medium")
        return
    render.out.print(render.key_values(f"Archive {result.archive_id}", [
        ("package", result.target), ("tier", request.scope),
        ("medium label", request.label), ("recordings", " ".join(
            str(o.recording_id) for o in result.copied)),
        ("size", render.human_size(result.bytes_copied)),
        ("time", f"{result.seconds:.1f} s ({rate:.0f} MB/s, copy and verify)"),
        ("verified", "re-read from the medium with O_DIRECT" if result.direct_io else
         "re-read after dropping the page cache (no O_DIRECT on this filesystem)"),
        ("signed manifest", f"tagmanifest-sha256.txt sha256 {result.manifest_digest}")]))
    for recording_id, why in result.skipped:
        render.out.print(render.plain(f"skipped recording {recording_id}: {why}"), style="red")
    render.out.print(render.plain(f"check it anywhere with: cd {result.target} && "
                                  "sha256sum -c manifest-sha256.txt (README.txt explains the "
                                  "signature)"))


@archive_app.command("verify")
def verify(
    archive_id: Annotated[int | None, typer.Argument(help="Archive id (see archive list).")
                          ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every finished archive.")] = False,
    config: common.ConfigOpt = None, as_json: common.JsonOpt = False,
) -> None:
    """Re-read an archive's package from its medium (bypassing the page cache) and compare every
    replica with the catalog; each outcome is logged (replica_verified / replica_damaged)."""
    if (archive_id is None) == (not all_):
        raise typer.BadParameter("give an archive id or --all, not both")
    common.require_system(config, "archive verify")
    if archive_id is not None:
        checked([archive_id], "Archive", "List archives with: bodycam archive list")
    with common.open_station(config) as station:
        acting = Acting(station.actor, None)
        with station.catalog.reading() as session:
            query = select(func.coalesce(func.sum(Replica.size), 0))
            if archive_id is not None:
                query = query.where(Replica.archive_id == archive_id)
            total = int(session.scalar(query) or 0)
        started = time.monotonic()
        with _progress() as progress:
            task = progress.add_task("re-reading replicas", total=total)
            results = verify_archives(station, None if all_ else [archive_id or 0],
                                      actor=acting.actor, approved_by=acting.approved_by,
                                      on_bytes=lambda n: progress.advance(task, n))
        elapsed = time.monotonic() - started
        service.after_command(station)
    _render_verify(results, elapsed, as_json)
    if any(r.reachable and not r.ok for r in results):
        raise typer.Exit(int(ExitCode.FINDINGS))
    raise typer.Exit(int(ExitCode.WARNING if any(not r.reachable for r in results)
                         else ExitCode.OK))


def _render_verify(results: list[ArchiveVerification], elapsed: float, as_json: bool) -> None:
    if as_json:
        render.emit_json({"seconds": round(elapsed, 3), "archives": [{
            "archive_id": r.archive_id, "target": r.target, "label": r.label,
            "reachable": r.reachable, "ok": r.ok, "direct_io": r.direct_io,
            "package_problems": r.package_problems,
            "replicas": [vars(x) for x in r.replicas]} for r in results]})
        return
    table = Table(title=f"Archive verification ({elapsed:.1f} s)")
    for column in ("archive", "package", "replicas", "result"):
        table.add_column(column, overflow="fold")
    for r in results:
        damaged = [x for x in r.replicas if x.problem]
        outcome = ("not reachable: not checked" if not r.reachable else
                   "ok" if r.ok else f"{len(damaged) + len(r.package_problems)} problem(s)")
        table.add_row(*map(render.plain, (r.archive_id, r.target, len(r.replicas), outcome)))
    render.out.print(table)
    for r in results:
        for problem in r.package_problems:
            render.out.print(render.plain(f"archive {r.archive_id}: {problem}"), style="red")
        for x in r.replicas:
            if x.problem:
                render.out.print(render.plain(f"archive {r.archive_id}: recording "
                                              f"{x.recording_id} ({x.file}): {x.problem}"),
                                 style="red")


@archive_app.command("list")
def list_cmd(config: common.ConfigOpt = None, as_json: common.JsonOpt = False) -> None:
    """Archives, newest first: where, which medium, how many replicas, when and by whom."""
    data = common.call(config, "archives.list")
    if as_json:
        render.emit_json(data)
        return
    render.out.print(render.table(
        f"Archives ({len(data)})",
        ("id", "package", "label", "tier", "recordings", "finished (UTC)", "by", "reachable"),
        [(d["archive_id"], d["target"], d["label"], d["tier"], d["entries"],
          render.when(d["finished_at"])[:16] if d["finished_at"] else d["status"],
          d["actor"], "yes" if d["reachable"] else "no") for d in data]))
