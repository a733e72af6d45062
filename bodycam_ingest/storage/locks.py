"""How long an object must stay locked, and whether under legal hold (pure).

The retain-until date is the end of the recording's retention period as ``retention.policy``
computes it from its effective tier (the strongest of its own and its cases'): the retention sweep
deletes only after that instant plus the grace period, so the server's lock never outlives what
retention allows, and never ends before it. A tier without an end (``long_term``, a ``permanent``
period) gets a date ``open_ended_days`` ahead, which the worker keeps extending. A lock is only
ever extended: ``merge`` never returns an earlier date than the one already on the server.
Active holds map to the S3 legal hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bodycam_ingest.retention.policy import RetentionPolicy, expires_at
from bodycam_ingest.retention.rules import RecordingState

# An open-ended lock is re-extended once less than this fraction of its window is left.
_REFRESH_FRACTION = 0.5


@dataclass(frozen=True)
class Lock:
    retain_until: datetime
    legal_hold: bool
    # the recording's period has no end: the date is a window ahead, re-extended while kept
    open_ended: bool = field(default=False, compare=False)


def desired_lock(state: RecordingState, policy: RetentionPolicy, now: datetime,
                 open_ended_days: int) -> Lock:
    """The lock ``state``'s object should carry at ``now`` (before merging with the server's)."""
    tier, _source, _reason = state.effective_tier()
    end = expires_at(policy, tier, state.clock_start)
    held = any(hold.active_at(now) for hold in state.holds)
    if end is None:
        return Lock(now.astimezone(UTC) + timedelta(days=open_ended_days), held, open_ended=True)
    return Lock(retain_until=end.astimezone(UTC), legal_hold=held)


def merge(current: Lock | None, wanted: Lock, now: datetime, open_ended_days: int) -> Lock | None:
    """The lock to put on the server, or None when ``current`` already does.

    Never shortens: a later ``retain_until`` on the server stays. An open-ended lock (one far in
    the future) is not pushed on every pass: only once less than half its window is left.
    """
    if current is None:
        return wanted
    until = current.retain_until
    if wanted.retain_until > until:
        window = timedelta(days=open_ended_days)
        if not wanted.open_ended or until - now < window * _REFRESH_FRACTION:
            until = wanted.retain_until
    if until == current.retain_until and wanted.legal_hold == current.legal_hold:
        return None
    return Lock(retain_until=until, legal_hold=wanted.legal_hold)


def backoff(attempts: int, base: float = 5.0, cap: float = 900.0) -> timedelta:
    """Wait before attempt ``attempts + 1`` of a failing upload: doubling from ``base``, at most
    ``cap`` seconds (deterministic: a station's replication is one worker, no herd to spread)."""
    seconds = min(cap, base * (2 ** max(0, min(attempts - 1, 30))))
    return timedelta(seconds=seconds)
