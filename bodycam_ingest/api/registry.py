"""Handlers by method name, and ``dispatch``: authorize, validate, call. The one door.

A handler is a function ``(ctx, **params) -> JSON-able``, registered with ``@handler("name")``
under the authorization action it needs (by default its own name). ``dispatch`` asks the
authorization table (access.authz) for the caller's scope, validates the parameters against the
handler's signature (pydantic, so a wrong type is a clear usage error, never a traceback) and calls
it. Handlers raise ``BodycamError``s; the front door turns them into messages and exit codes.

A handler whose answer is too large to hold (``retention.plan_stream``) returns ``Streamed``: it
is authorized and validated as any other before anything is produced; the socket server then runs
``produce`` in the same worker thread and sends what it writes as it is written (protocol.py).
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from bodycam_ingest.access.authz import Scope, authorize
from bodycam_ingest.access.principal import Principal
from bodycam_ingest.errors import BadRequest, NotFound

if TYPE_CHECKING:
    from bodycam_ingest.station import Station

# Modules that register handlers; imported on the first dispatch (the CLI's client path never).
HANDLER_MODULES: tuple[str, ...] = (
    "bodycam_ingest.api.handlers.system",
    "bodycam_ingest.api.handlers.recordings",
    "bodycam_ingest.api.handlers.wall",
    "bodycam_ingest.api.handlers.console",
    "bodycam_ingest.api.handlers.statistics",
    "bodycam_ingest.api.handlers.users",
    "bodycam_ingest.api.handlers.custody",
    "bodycam_ingest.api.handlers.analysis",
    "bodycam_ingest.api.handlers.retention_reads",
    "bodycam_ingest.api.handlers.retention_acts",
    "bodycam_ingest.api.handlers.requests",
)


class TextSink(Protocol):
    """Where a streamed answer is written: anything with ``write(text)``."""

    def write(self, text: str, /) -> Any: ...


@dataclass(frozen=True)
class Streamed:
    """A handler's answer written as it is made, not held: ``produce(out)`` writes the text to
    ``out`` and returns when it is complete; it raises (a ``BodycamError``) if it cannot finish.
    It runs in the API worker thread that dispatched the call, so what it opens (a catalog read
    transaction) lives as long as the stream; ``out.write`` raises when the client has gone
    away, which unwinds it and closes what it opened (its ``with`` blocks)."""

    produce: Callable[[TextSink], None]

    def text(self) -> str:
        """The whole answer in memory (in-process callers that want a value)."""
        import io

        out = io.StringIO()
        self.produce(out)
        return out.getvalue()


@dataclass(frozen=True)
class Ctx:
    """What a handler gets besides its parameters: the station, who is calling, in what scope."""

    station: Station
    principal: Principal
    scope: Scope
    # Set only when an approved ``act_for`` request runs this call for another account: the
    # approver, recorded as ``approved_by`` of what the handler logs (access.requests).
    approved_by: str | None = None

    @property
    def actor(self) -> str:
        return self.principal.actor

    def now(self) -> datetime:
        return self.station.clock()

    def authorize(self, action: str) -> Scope:
        """A second action a handler needs (e.g. releasing another's hold)."""
        return authorize(self.principal, action, self.station.config.access.roles,
                         self.station.config.station.id)

    @property
    def own_only(self) -> bool:
        return self.scope is Scope.OWN


@dataclass(frozen=True)
class Handler:
    method: str
    action: str
    function: Callable[..., Any]
    validated: Callable[..., Any]


_HANDLERS: dict[str, Handler] = {}
_loaded = False


def handler(method: str, *, action: str | None = None) -> Callable[[Callable[..., Any]],
                                                                   Callable[..., Any]]:
    def register(function: Callable[..., Any]) -> Callable[..., Any]:
        if method in _HANDLERS:
            raise RuntimeError(f"API method {method} registered twice")
        _HANDLERS[method] = Handler(method, action or method, function, _validator(function))
        return function
    return register


def _validator(function: Callable[..., Any]) -> Callable[..., dict[str, Any]]:
    """A pydantic-validated function of the handler's parameters (all but ``ctx``) that returns
    them checked and converted: a wrong type or an unknown name is a clear error."""
    from pydantic import validate_call

    signature = inspect.signature(function)
    hints = typing.get_type_hints(function, include_extras=True)
    params = list(signature.parameters.values())[1:]

    def checked(**kwargs: Any) -> dict[str, Any]:
        return kwargs

    checked.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=params, return_annotation=dict)
    checked.__annotations__ = {p.name: hints[p.name] for p in params}
    return validate_call(checked)


def _load() -> None:
    global _loaded  # noqa: PLW0603 - import the handler modules once
    if not _loaded:
        for name in HANDLER_MODULES:
            importlib.import_module(name)
        _loaded = True


def methods() -> dict[str, Handler]:
    _load()
    return dict(_HANDLERS)


def dispatch(station: Station, principal: Principal, method: str,
             params: dict[str, Any] | None = None, *, approved_by: str | None = None) -> Any:
    """Call ``method`` for ``principal``; its result, or a ``BodycamError``."""
    from pydantic import ValidationError

    _load()
    entry = _HANDLERS.get(method)
    if entry is None:
        raise BadRequest(problem=f"unknown method {method!r}")
    scope = authorize(principal, entry.action, station.config.access.roles,
                      station.config.station.id)  # roles limited to stations (issue 12)
    ctx = Ctx(station=station, principal=principal, scope=scope, approved_by=approved_by)
    try:
        checked = entry.validated(**(params or {}))
    except ValidationError as exc:
        missing = _id_out_of_range(exc.errors())
        if missing is not None:
            raise missing from None
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                             for err in exc.errors())
        raise BadRequest(problem=f"{method}: {problems}") from None
    return entry.function(ctx, **checked)


# An id no catalog can hold (below 1, 2**31 and above: INTEGER keys are 32 bits on PostgreSQL)
# is an id that does not exist: exit 4 with the listing that shows the real ones, as for any
# unknown id (issue 9, D9 and item 6).
_ID_NOUNS: dict[str, tuple[str, str]] = {
    "recording_id": ("Recording", "List recordings with: bodycam list"),
    "ids": ("Recording", "List recordings with: bodycam list"),
    "recording": ("Recording", "List recordings with: bodycam list"),
    "recording_ids": ("Recording", "List recordings with: bodycam list"),
    "hold_id": ("Hold", "List holds with: bodycam hold list"),
    "request_id": ("Request", "List requests with: bodycam requests list"),
    "finding_id": ("Finding", "List findings with: bodycam findings"),
    "dock_id": ("Dock", "See docks with: bodycam status"),
    "export_id": ("Export", "See exports with: bodycam log"),
    "run_id": ("Retention run", "See runs with: bodycam retention runs"),
}
_RANGE_ERRORS = frozenset({"less_than_equal", "greater_than_equal", "greater_than", "less_than"})


def _id_out_of_range(errors: list[Any]) -> NotFound | None:
    """``NotFound`` when every validation error is an id outside the range of catalog keys."""
    found: NotFound | None = None
    for err in errors:
        name = next((str(p) for p in err["loc"] if isinstance(p, str)), "")
        noun = _ID_NOUNS.get(name)
        if noun is None and not name.endswith("_id"):
            return None
        if err["type"] not in _RANGE_ERRORS or not isinstance(err.get("input"), int):
            return None
        what, hint = noun or (name.removesuffix("_id").replace("_", " ").capitalize(),
                              "It is outside the range of ids (1 to 2**31-1).")
        found = found or NotFound(what=what, ident=err["input"], hint=hint)
    return found
