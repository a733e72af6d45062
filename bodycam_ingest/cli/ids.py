"""Ids as a person types them. An id no catalog can hold (below 1, or 2**31 and above) is
answered like any id that does not exist: one sentence and exit 4, never a traceback."""

from __future__ import annotations

from collections.abc import Iterable

from bodycam_ingest.errors import NotFound

MAX_ID = 2**31 - 1  # the catalog's INTEGER keys are 32 bits on PostgreSQL (SQLite: 64)


def checked(values: Iterable[int], what: str, hint: str) -> list[int]:
    out = list(values)
    for value in out:
        if not 1 <= value <= MAX_ID:
            raise NotFound(what=what, ident=value, hint=hint)
    return out


def recording_ids(values: Iterable[int] | None) -> list[int]:
    return checked(values or [], "Recording", "List recordings with: bodycam list")


def recording(value: int | None) -> int | None:
    return None if value is None else recording_ids([value])[0]
