"""Progress of a long handler (an audit hashing the store), shown only where someone can see it.

A front door that can draw progress (the CLI in-process, on a terminal) installs a factory with
``shown_by``; a handler asks ``task(description, total)`` for an ``advance(n)`` function. Nobody
installs one in the daemon, so over the socket a handler's progress goes nowhere (the client
waits for the one response). A context variable, so concurrent requests never share a bar.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

Advance = Callable[[int], None]
Factory = Callable[[str, int], Advance]

_factory: ContextVar[Factory | None] = ContextVar("bodycam_progress", default=None)


def _ignore(_n: int) -> None:
    return None


def task(description: str, total: int) -> Advance:
    """``advance(n)`` for a task of ``total`` units: drawn if a front door shows progress."""
    factory = _factory.get()
    return _ignore if factory is None else factory(description, total)


@contextmanager
def shown_by(factory: Factory) -> Iterator[None]:
    token = _factory.set(factory)
    try:
        yield
    finally:
        _factory.reset(token)
