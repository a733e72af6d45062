"""Who is acting (``Acting``: the actor the custody log records and, when a second person
approved it, the approver), passed from the API handlers and approved requests to the services.
Acting for another account is an ``act_for`` request (access.requests, ``bodycam requests
act-for``), never a name typed on a command line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Acting:
    actor: str  # recorded as the event's actor
    approved_by: str | None  # the account that approved it (a four-eyes request), if any
