"""CLI commands of the analysis part; registered on the main app by cli.app.

Thin: parse, call ``analysis.service`` / ``analysis.views``, render, exit. Explained and
unexplained findings are always shown apart (R4: an explanation never hides a finding).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from bodycam_ingest.analysis import service, views
from bodycam_ingest.analysis.model import FindingKind
from bodycam_ingest.catalog.models import Recording
from bodycam_ingest.cli import common, render
from bodycam_ingest.errors import NotFound
from bodycam_ingest.station import Station

_station = common.open_station
ConfigOpt = common.ConfigOpt
JsonOpt = common.JsonOpt

devices_app = typer.Typer(no_args_is_help=True, help="Cameras as the continuity analysis knows "
                          "them: profiles, recordings, docks.")


def _after_command(station: Station) -> None:
    """Sign a custody checkpoint over what this command logged (never fails the command)."""
    from bodycam_ingest.custody import service as custody

    custody.after_command(station)


def _offset(value: float | None) -> str:
    return "whole file" if value is None else f"{value:.2f} s"


def _findings_table(title: str, items: list[views.FindingView], explained: bool) -> Table:
    table = Table(title=title)
    columns = ["finding", "recording", "kind", "severity", "at", "measured / limit", "what"]
    if explained:
        columns.append("explanation")
    for column in columns:
        table.add_column(column, overflow="fold")
    for f in items:
        row = [f.id, f.recording_id, f.kind, f.severity, _offset(f.offset_s),
               f"{f.measured} / {f.threshold}", f.message]
        if explained:
            row.append("; ".join(f"{e.reason} ({e.actor}, {e.explained_at:%Y-%m-%d %H:%M}Z)"
                                 for e in f.explanations))
        table.add_row(*map(render.plain, row))
    return table


def findings_cmd(
    unexplained: Annotated[bool, typer.Option("--unexplained", help="Only findings nobody has "
                                              "explained yet.")] = False,
    recording: Annotated[int | None, typer.Option("--recording", help="Only this recording.")
                         ] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only this kind (see "
                                             "analysis/FINDINGS.md).")] = None,
    history: Annotated[bool, typer.Option("--history", help="Also findings of superseded "
                                          "analysis versions.")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Continuity findings: unexplained and explained, listed apart."""
    known = [k.value for k in FindingKind]
    if kind is not None and kind not in known:
        raise typer.BadParameter(f"{kind!r} is not a finding kind; known: {', '.join(known)}",
                                 param_hint="--kind")
    with _station(config, read_only=True) as station, station.catalog.reading() as session:
        if recording is not None and session.get(Recording, recording) is None:
            raise NotFound(what="Recording", ident=recording,
                           hint="List recordings with: bodycam list")
        items = views.findings(session, recording_id=recording, kind=kind, history=history)
    open_ = [f for f in items if not f.explained]
    done = [] if unexplained else [f for f in items if f.explained]
    if as_json:
        render.emit_json({"unexplained": [f.as_json() for f in open_],
                          "explained": [f.as_json() for f in done]})
        return
    render.out.print(_findings_table(f"Unexplained findings ({len(open_)})", open_, False)
                     if open_ else "No unexplained finding.")
    if not unexplained:
        render.out.print(_findings_table(f"Explained findings ({len(done)})", done, True)
                         if done else "No explained finding.")


def explain_cmd(
    finding_id: Annotated[int, typer.Argument(help="Finding id (see bodycam findings).")],
    reason: Annotated[str, typer.Option("--reason", help="What happened: weather, device fault, "
                                        "battery... (recorded in the custody log).")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record the justification for a finding (R4). The finding stays, marked explained."""
    if not reason.strip():
        raise typer.BadParameter("say what happened (weather, device fault, battery...)",
                                 param_hint="--reason")
    with _station(config) as station:
        view = service.explain(station, finding_id, reason)
        _after_command(station)
    if as_json:
        render.emit_json(view.as_json())
        return
    render.out.print(render.plain(
        f"finding {view.id} ({view.kind} in recording {view.recording_id}) is explained: "
        f"{view.explanations[-1].reason}"))


def analyze_cmd(
    ids: Annotated[list[int] | None, typer.Argument(help="Recording ids to analyse again.",
                                                    show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every recording.")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Analyse recordings again (after a threshold or profile change): a new version each;
    earlier versions and their findings are kept."""
    if bool(ids) == all_:
        raise typer.BadParameter("give recording ids, or --all (not both)", param_hint="IDS")
    with _station(config) as station:
        results = service.analyze_recordings(station, None if all_ else ids)
        _after_command(station)
    if as_json:
        render.emit_json([vars(r) for r in results])
        return
    table = Table(title=f"Analysed ({len(results)})")
    for column in ("recording", "version", "verdict", "critical", "warning", "reader"):
        table.add_column(column)
    for r in results:
        table.add_row(*map(render.plain, (r.recording_id, r.version, r.verdict, r.critical,
                                          r.warning, r.reader or "unreadable")))
    render.out.print(table)


@devices_app.command("list")
def devices_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Every camera with recordings: how it was docked, its profile, open findings."""
    with _station(config, read_only=True) as station, station.catalog.reading() as session:
        cfg = station.config.analysis
        rows = [views.device_summary(session, d, d in cfg.profiles, cfg.learning.recordings)
                for d in views.devices(session)]
    if as_json:
        render.emit_json([vars(r) for r in rows])
        return
    table = Table(title=f"Devices ({len(rows)})")
    for column in ("device", "docked as", "recordings", "docks", "profile", "unexplained"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(*map(render.plain, (r.device, ", ".join(r.keys), r.recordings, r.docks,
                                          r.profile, r.unexplained)))
    render.out.print(table)


@devices_app.command("show")
def devices_show(device: Annotated[str, typer.Argument(help="Device id (see bodycam devices "
                                                       "list).")],
                 config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """One camera: the profile it is judged by, its recordings with verdicts, its docks."""
    with _station(config, read_only=True) as station, station.catalog.reading() as session:
        recs = views.device_recordings(session, device)
        if not recs:
            raise NotFound(what="Device", ident=device, hint="List devices with: bodycam "
                           "devices list")
        cfg = station.config.analysis
        summary = views.device_summary(session, device, device in cfg.profiles,
                                       cfg.learning.recordings)
        configured = cfg.profiles.get(device)
        stored = views.latest_profile(session, device, "learned")
        profile: dict[str, Any] | None = None
        if configured is not None:
            profile = {"source": "config", "fields": configured.model_dump()}
        elif stored is not None:
            profile = {"source": "learned", "id": stored.id, "updated_at": stored.updated_at,
                       "learned_from": json.loads(stored.learned_from),
                       "fields": json.loads(stored.profile)}
        recordings = [{"id": r.id, "seq": r.name_seq, "start_local": r.name_start_local,
                       "file": r.camera_path, "verdict": views.verdict(session, r.id).summary()}
                      for r in recs]
        docks = [{"id": d.id, "started_at": d.started_at, "outcome": d.outcome,
                  "source": d.source, "files": d.files_total}
                 for d in views.device_docks(session, recs)]
    if as_json:
        render.emit_json({**vars(summary), "profile_in_force": profile, "recordings": recordings,
                          "docks": docks})
        return
    pairs: list[tuple[str, Any]] = [("device", device), ("docked as", ", ".join(summary.keys)),
                                    ("profile", summary.profile)]
    if profile is not None:
        if "learned_from" in profile:
            pairs.append(("learned from recordings", " ".join(map(str, profile["learned_from"]))))
        pairs += [(f"  {key}", value if not isinstance(value, list) else
                   ", ".join(map(str, value)) or "-") for key, value in profile["fields"].items()]
    render.out.print(render.key_values(f"Device {device}", pairs))
    table = Table(title=f"Recordings ({len(recordings)})")
    for column in ("id", "seq", "start (camera local)", "file", "continuity"):
        table.add_column(column, overflow="fold")
    for r in recordings:
        table.add_row(*map(render.plain, (r["id"], r["seq"], r["start_local"], r["file"],
                                          r["verdict"])))
    render.out.print(table)
    table = Table(title=f"Docks ({len(docks)})")
    for column in ("dock", "started (UTC)", "outcome", "files", "source"):
        table.add_column(column, overflow="fold")
    for d in docks:
        table.add_row(*map(render.plain, (d["id"], f"{d['started_at']:%Y-%m-%d %H:%M:%S}",
                                          d["outcome"] or "running", d["files"], d["source"])))
    render.out.print(table)


def register(app: typer.Typer) -> None:
    """Add this part's commands to the main app."""
    app.command("findings")(findings_cmd)
    app.command("explain")(explain_cmd)
    app.command("analyze")(analyze_cmd)
    app.add_typer(devices_app, name="devices")


def _session_place(session: Session, recording: Recording) -> dict[str, Any]:
    """Where the recording sits among its camera's recordings (by start and sequence number)."""
    device = views.analysis_device_of(session, recording)
    recs = views.device_recordings(session, device)
    index = next((i for i, r in enumerate(recs) if r.id == recording.id), None)
    if index is None:
        return {"device": device}
    before = recs[index - 1] if index > 0 else None
    after = recs[index + 1] if index + 1 < len(recs) else None
    return {"device": device, "position": index + 1, "of": len(recs), "seq": recording.name_seq,
            "previous": None if before is None else {"id": before.id, "seq": before.name_seq},
            "next": None if after is None else {"id": after.id, "seq": after.name_seq}}


def show_pairs(session: Session, recording: Recording) -> list[tuple[str, Any]]:
    """Extra (field, value) rows for `bodycam show`."""
    verdict = views.verdict(session, recording.id)
    pairs: list[tuple[str, Any]] = [("continuity", verdict.summary())]
    for f in views.findings(session, recording_id=recording.id):
        note = "; ".join(f"explained by {e.actor}: {e.reason}" for e in f.explanations)
        pairs.append((f"finding {f.id}", f"{f.kind} ({f.severity}) at {_offset(f.offset_s)}: "
                      f"{f.message}" + (f" [{note}]" if note else " [unexplained]")))
    place = _session_place(session, recording)
    if "position" in place:
        around = ", ".join(f"{label} {p['id']} (seq {p['seq']})"
                           for label, p in (("after", place["previous"]),
                                            ("before", place["next"])) if p)
        pairs.append(("place in session", f"{place['position']} of {place['of']} recordings of "
                      f"{place['device']}" + (f"; {around}" if around else "")))
    return pairs


def show_json(session: Session, recording: Recording) -> dict[str, Any]:
    """Extra keys for `bodycam show --json`."""
    return {"continuity": views.verdict(session, recording.id).as_json(),
            "findings": [f.as_json() for f in views.findings(session,
                                                               recording_id=recording.id)],
            "session_place": _session_place(session, recording)}
