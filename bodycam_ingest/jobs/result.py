"""What a station job returns: the outcome, a one-line summary, and the alerts to raise.

Jobs (the retention sweep, the fixity scrub, the deadline check, the catalog backup) return this
and never raise alerts themselves: the runner (``jobs.registry``) records the run, logs the
alerts and hands them to the configured alert command, the same way for the daemon's scheduler
and for the one-shot CLI command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Outcome = Literal["ok", "alert", "failed"]


@dataclass(frozen=True)
class JobResult:
    outcome: Outcome  # ok: nothing to report; alert: done, but someone must act; failed: not done
    summary: str  # one line for `bodycam status` and the custody log
    alerts: tuple[str, ...] = ()  # each one sentence naming the object, the problem and the fix

    @classmethod
    def from_alerts(cls, summary: str, alerts: list[str] | tuple[str, ...]) -> JobResult:
        return cls("alert" if alerts else "ok", summary, tuple(alerts))
