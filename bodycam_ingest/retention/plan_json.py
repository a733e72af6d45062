"""``bodycam retention plan --json``, written as it is decided (``service.PlanStream``).

The document is the one object the CLI always printed (the same keys and values; ``json.loads``
of both is equal), laid out for streaming: the header first, then each list with one decision per
line, then what is known only at the end (``examined``, ``counts``, the pending change). Memory
is one decision at a time, not the answer: a 1,000,000-recording plan lists ~120,000 decisions
(~90 MB of JSON).

``plan_document`` yields the pieces as JSON-able values for a caller that re-renders them;
``write_plan_json`` writes the text to a file object.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from json.encoder import encode_basestring as _quote  # json.dumps(s, ensure_ascii=False), in C
from typing import Any, TextIO

from bodycam_ingest.retention.plan import Impact
from bodycam_ingest.retention.policy import RetentionPolicy
from bodycam_ingest.retention.rules import Decision, utc_iso
from bodycam_ingest.retention.tiers import TIER_ORDER

LISTS = ("delete_now", "upcoming", "attention")


def policy_text(policy: RetentionPolicy) -> str:
    tiers = ", ".join(f"{t.value} {policy.tiers.get(t) if policy.tiers.get(t) is not None else 'never'}"
                      + (" days" if policy.tiers.get(t) is not None else "") for t in TIER_ORDER)
    floor = "below-floor allowed" if policy.allow_below_floor else f"floor {policy.floor_days} days"
    return f"{tiers}; grace {policy.grace_days} days; {floor}"


def _when(value: datetime | None) -> str | None:
    if value is None:
        return None
    return utc_iso(value) if value.tzinfo is UTC else value.isoformat()  # rule texts share it


def _when_shared(value: datetime | None) -> str | None:
    """``_when`` for values many decisions share (a sweep's due mark, the end of its grace),
    remembered; only UTC ones, since equal instants in other zones are written differently."""
    if value is None or value.tzinfo is not UTC:
        return _when(value)
    return _utc_text(value)


@functools.lru_cache(maxsize=1024)
def _utc_text(value: datetime) -> str:
    return value.isoformat()


def decision_json(decision: Decision) -> dict[str, Any]:
    """One decision as the CLI prints it (datetimes as ISO 8601 text). The enums are ``StrEnum``:
    JSON writes them as their text, without the cost of ``.value``."""
    return {"recording_id": decision.recording_id, "kind": decision.kind,
            "why": decision.why, "tier": decision.tier,
            "tier_source": decision.tier_source, "clock_start": _when(decision.clock_start),
            "expires_at": _when(decision.expires_at), "due_since": _when_shared(decision.due_since),
            "deletable_at": _when_shared(decision.deletable_at),
            "active_holds": decision.active_holds, "alerts": decision.alerts,  # JSON arrays
            "rule": decision.rule}


def _text(value: datetime | None) -> str:
    """``_string(_when(value))``: an ISO 8601 text needs no escaping, only its quotes."""
    if value is None:
        return "null"
    return f'"{utc_iso(value) if value.tzinfo is UTC else value.isoformat()}"'


def _text_shared(value: datetime | None) -> str:
    """``_string(_when_shared(value))``."""
    if value is None:
        return "null"
    return f'"{_utc_text(value) if value.tzinfo is UTC else value.isoformat()}"'


def decision_line(decision: Decision) -> str:
    """``_dumps(decision_json(decision))``, written without the dict and the encoder's key sort:
    the keys in sorted order, the strings quoted by the encoder's own function, a datetime's ISO
    text between quotes (it has nothing to escape), in one f-string (a plan writes ~120,000 of
    these; ``test_retention_plan_stream`` checks it against ``_dumps`` on every decision of a plan
    and on generated ones)."""
    holds = decision.active_holds
    alerts = decision.alerts
    return (f'{{"active_holds": [{", ".join(map(str, holds)) if holds else ""}], "alerts": ['
            f'{", ".join(map(_quote, alerts)) if alerts else ""}], "clock_start": '
            f'{_text(decision.clock_start)}, "deletable_at": {_text_shared(decision.deletable_at)}'
            f', "due_since": {_text_shared(decision.due_since)}, "expires_at": '
            f'{_text(decision.expires_at)}'
            f', "kind": "{decision.kind}", "recording_id": {int(decision.recording_id)}'
            f', "rule": {_quote(str(decision.rule_text))}, "tier": "{decision.tier}"'
            f', "tier_source": {_quote(decision.tier_source)}, "why": "{decision.why}"}}')


def impact_json(impact: Impact) -> dict[str, Any]:
    return {"recording_id": impact.recording_id, "now": decision_json(impact.old),
            "after": decision_json(impact.new)}


def plan_document(stream: Any, render: Callable[[Decision], Any] = decision_json
                  ) -> Iterator[tuple[str, Any]]:
    """``(key, value)`` in document order; the value of each of ``LISTS`` is an iterator of
    decisions as ``render`` gives them (dicts), to be consumed before the next pair is asked
    for. ``stream`` is a ``service.PlanStream``."""
    from bodycam_ingest.retention.service import policy_digest

    state = stream.policy
    yield "now", _when(stream.now)
    yield "horizon_days", stream.horizon_days
    yield "horizon_end", _when(stream.horizon_end)
    yield "live_recordings", stream.live
    yield "policy_in_force", {"digest": state.digest, "text": policy_text(state.effective)}
    yield "policy_configured", {"digest": policy_digest(state.configured),
                                "text": policy_text(state.configured)}
    yield "delete_now", map(render, stream.delete_now())
    yield "upcoming", map(render, stream.upcoming())
    yield "attention", map(render, stream.attention())
    yield "examined", stream.examined
    yield "counts", {why.value: n for why, n in sorted(stream.counts.items())}
    pending = stream.pending
    yield "pending_policy_change", None if pending is None else {
        "shortened": list(pending.shortened), "plan_digest": pending.digest,
        "approve_command": pending.command(),
        "impacted": [impact_json(i) for i in pending.impacts]}


# one encoder for every line: json.dumps with options builds a new one per call
_dumps = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str).encode


def write_plan_json(stream: Any, out: TextIO, *, lines_per_write: int = 256) -> None:
    """Write the plan of ``stream`` (a ``service.PlanStream``) to ``out`` as one JSON object."""
    out.write("{")
    first = True
    for key, value in plan_document(stream, decision_line):
        out.write(("\n" if first else ",\n") + f"  {_dumps(key)}: ")
        first = False
        if key in LISTS:
            _write_list(value, out, lines_per_write)
        else:
            out.write(_dumps(value))
    out.write("\n}\n")


def _write_list(lines: Iterable[str], out: TextIO, lines_per_write: int) -> None:
    out.write("[")
    buffer: list[str] = []
    separator = "\n    "
    for line in lines:
        buffer.append(separator + line)
        separator = ",\n    "
        if len(buffer) >= lines_per_write:
            out.write("".join(buffer))
            buffer.clear()
    out.write("".join(buffer))
    out.write("\n  ]" if separator != "\n    " else "]")
