"""CLI commands of the analysis part; registered on the main app by cli.app.

Thin. ``findings``, ``explain`` and ``devices`` call the local API (officers: their own
recordings) and render its JSON; ``analyze`` works on the station's files in-process, as the
service account only. Explained and unexplained findings are always shown apart (R4: an
explanation never hides a finding).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import typer
from rich.table import Table

from bodycam_ingest.cli import common, render
from bodycam_ingest.cli.ids import checked, recording_ids

_station = common.open_station
ConfigOpt = common.ConfigOpt
JsonOpt = common.JsonOpt

devices_app = typer.Typer(no_args_is_help=True, help="Cameras as the continuity analysis knows "
                          "them: profiles, recordings, docks.")


def _offset(value: float | None) -> str:
    return "whole file" if value is None else f"{value:.2f} s"


def _findings_table(title: str, items: list[Mapping[str, Any]], explained: bool) -> Table:
    columns = ["finding", "recording", "kind", "severity", "at", "measured / limit", "what"]
    if explained:
        columns.append("explanation")
    rows = []
    for f in items:
        row = [f["id"], f["recording_id"], f["kind"], f["severity"], _offset(f["offset_s"]),
               f"{f['measured']} / {f['threshold']}", f["message"]]
        if explained:
            row.append("; ".join(f"{e['reason']} ({e['actor']}, {render.when_z(e['explained_at'])})"
                                 for e in f["explanations"]))
        rows.append(row)
    return render.table(title, columns, rows)


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
    """Continuity findings, newest first: unexplained and explained, listed apart (officers:
    their own recordings)."""
    params: dict[str, Any] = {"unexplained": unexplained, "history": history}
    if recording is not None:
        params["recording"] = recording_ids([recording])[0]
    if kind is not None:
        params["kind"] = kind
    data = common.call(config, "findings.list", params)
    open_, done = data["unexplained"], data["explained"]
    if as_json:
        render.emit_json({"unexplained": open_, "explained": done})
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
    checked([finding_id], "Finding", "List findings with: bodycam findings")
    view = common.call(config, "findings.explain", {"finding_id": finding_id, "reason": reason},
                       read_only=False)
    if as_json:
        render.emit_json(view)
        return
    render.out.print(render.plain(
        f"finding {view['id']} ({view['kind']} in recording {view['recording_id']}) is explained: "
        f"{view['explanations'][-1]['reason']}"))


def analyze_cmd(
    ids: Annotated[list[int] | None, typer.Argument(help="Recording ids to analyse again.",
                                                    show_default=False)] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every recording.")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Analyse recordings again (after a threshold or profile change): a new version each;
    earlier versions and their findings are kept. Runs as the service account."""
    from bodycam_ingest.analysis import service
    from bodycam_ingest.custody import service as custody

    if bool(ids) == all_:
        raise typer.BadParameter("give recording ids, or --all (not both)", param_hint="IDS")
    common.require_system(config, "analyze")
    recording_ids(ids)
    with _station(config) as station:
        results = service.analyze_recordings(station, None if all_ else ids)
        custody.after_command(station)
    if as_json:
        render.emit_json([vars(r) for r in results])
        return
    render.out.print(render.table(
        f"Analysed ({len(results)})",
        ("recording", "version", "verdict", "critical", "warning", "reader"),
        [(r.recording_id, r.version, r.verdict, r.critical, r.warning, r.reader or "unreadable")
         for r in results]))


@devices_app.command("list")
def devices_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Every camera with recordings: how it was docked, its profile, open findings."""
    rows = common.call(config, "devices.list")
    if as_json:
        render.emit_json(rows)
        return
    render.out.print(render.table(
        f"Devices ({len(rows)})",
        ("device", "docked as", "recordings", "docks", "profile", "unexplained"),
        [(r["device"], ", ".join(r["keys"]), r["recordings"], r["docks"], r["profile"],
          r["unexplained"]) for r in rows]))


@devices_app.command("show")
def devices_show(device: Annotated[str, typer.Argument(help="Device id (see bodycam devices "
                                                       "list).")],
                 config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """One camera: the profile it is judged by, its recordings with verdicts, its docks."""
    data = common.call(config, "devices.show", {"device": device})
    if as_json:
        render.emit_json(data)
        return
    profile, recordings, docks = data["profile_in_force"], data["recordings"], data["docks"]
    pairs: list[tuple[str, Any]] = [("device", device), ("docked as", ", ".join(data["keys"])),
                                    ("profile", data["profile"])]
    if profile is not None:
        if "learned_from" in profile:
            pairs.append(("learned from recordings", " ".join(map(str, profile["learned_from"]))))
        pairs += [(f"  {key}", value if not isinstance(value, list) else
                   ", ".join(map(str, value)) or "-") for key, value in profile["fields"].items()]
    render.out.print(render.key_values(f"Device {device}", pairs))
    render.out.print(render.table(
        f"Recordings ({len(recordings)})", ("id", "seq", "start (camera local)", "file",
                                            "continuity"),
        [(r["id"], r["seq"], render.when(r["start_local"]), r["file"], r["verdict"])
         for r in recordings]))
    render.out.print(render.table(
        f"Docks ({len(docks)})", ("dock", "started (UTC)", "outcome", "files", "source"),
        [(d["id"], render.when(d["started_at"]), d["outcome"] or "running", d["files"],
          d["source"]) for d in docks]))


def register(app: typer.Typer) -> None:
    """Add this part's commands to the main app."""
    app.command("findings")(findings_cmd)
    app.command("explain")(explain_cmd)
    app.command("analyze")(analyze_cmd)
    app.add_typer(devices_app, name="devices")
