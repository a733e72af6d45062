"""Who am I, and what is the station doing (docks, jobs)."""

from __future__ import annotations

from typing import Any

from bodycam_ingest.access.authz import actions_for
from bodycam_ingest.api.registry import Ctx, handler
from bodycam_ingest.catalog.models import Dock, row_dict
from bodycam_ingest.catalog.queries import recent_docks, running_docks


def principal_json(ctx: Ctx) -> dict[str, Any]:
    p = ctx.principal
    return {"login": p.login, "actor": p.actor, "display_name": p.display_name,
            "officer_number": p.officer_number, "unit": p.unit, "roles": sorted(p.roles),
            "system": p.system, "os_user": p.os_user, "uid": p.uid}


@handler("whoami")
def whoami(ctx: Ctx) -> dict[str, Any]:
    """The caller as the station knows them, and every action they may take (with its scope)."""
    return {**principal_json(ctx),
            "actions": actions_for(ctx.principal, ctx.station.config.access.roles)}


def dock_json(dock: Dock) -> dict[str, Any]:
    data = row_dict(dock)
    data.pop("lock_token", None)
    return data


@handler("status", action="status.view")
def status(ctx: Ctx) -> dict[str, Any]:
    from bodycam_ingest.jobs.registry import job_statuses, status_json

    with ctx.station.catalog.reading() as session:
        running, recent = running_docks(session), recent_docks(session)
        jobs = job_statuses(session, ctx.station.config)
        from bodycam_ingest.storage.status import object_store_json

        return {"running": [dock_json(d) for d in running],
                "recent": [dock_json(d) for d in recent],
                "jobs": [status_json(j) for j in jobs],
                "object_store": object_store_json(session, ctx.station.config,
                                                  ctx.station.clock())}


@handler("jobs.list")
def jobs_list(ctx: Ctx) -> list[dict[str, Any]]:
    """Each job: schedule, enabled, next run, and the outcome of its last run."""
    from bodycam_ingest.jobs.registry import job_statuses, status_json

    with ctx.station.catalog.reading() as session:
        return [status_json(j) for j in job_statuses(session, ctx.station.config)]
