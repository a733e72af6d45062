"""The analysis part's services on the station (catalog + files), called by the ingest pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bodycam_ingest.station import Station


def after_dock(station: Station, dock_id: int) -> None:
    """Runs once every file of a dock is stored and probed, before any camera wipe.

    Raising stops the dock short of wiping: it is then marked incomplete with the error.
    """
