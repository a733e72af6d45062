"""Scoping that cannot be forgotten (issue 12): on a catalog shared by a bureau's stations, a
station's session sees and writes only its own rows.

SQLAlchemy's documented global-filter recipe: every ORM SELECT, UPDATE and DELETE of a session
opened for a station gets ``with_loader_criteria(StationScoped, station_id == <its id>)`` (also
for aliases, subqueries and ``Session.get``), an ORM bulk INSERT gets the id in every row, and
new objects get it on flush. A session opened for the whole bureau (the bureau-wide audit) sees
everything; a session opened for neither refuses its first statement (fail closed).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, true
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria

from bodycam_ingest.catalog.models import StationScoped

STATION = "bodycam_station_id"
BUREAU = "bodycam_bureau"


class UnscopedSession(RuntimeError):
    """A catalog session opened neither for one station nor for the whole bureau (a bug)."""


class ForeignStationRow(RuntimeError):
    """A station's session was given a row of another station to write (a bug)."""


def info_for(station_id: str | None, *, bureau: bool) -> dict[str, Any]:
    if bureau:
        return {BUREAU: True}
    return {STATION: station_id} if station_id else {}


def station_of(session: Session) -> str | None:
    """The station a session is scoped to; None for a bureau-wide session; raises for neither."""
    if session.info.get(BUREAU):
        return None
    station = session.info.get(STATION)
    if not station:
        raise UnscopedSession("a catalog session must be opened for one station (storage's "
                              "station.id) or explicitly for the whole bureau")
    return str(station)


def own(session: Session, column: Any) -> Any:
    """The condition a Core statement (which the ORM scope does not reach: rows streamed from
    ``session.connection()``, ``Table`` columns) adds by hand: ``column`` is the session's
    station (no condition in a bureau-wide session)."""
    station = station_of(session)
    return true() if station is None else column == station


def _scope_statement(state: ORMExecuteState) -> None:
    station = station_of(state.session)
    if station is None:
        return
    if state.is_insert:
        if getattr(state.statement, "select", None) is not None:  # INSERT ... SELECT
            # the column names given to from_select (SQLAlchemy keeps them as _select_names)
            names = {getattr(c, "key", c) for c in getattr(state.statement, "_select_names", ())}
            if "station_id" not in names:
                raise UnscopedSession("an INSERT ... SELECT into a station's table must name "
                                      "station_id (and select only the station's rows)")
            return
        params = state.parameters
        if isinstance(params, list) and params:
            state.parameters = [{**row, "station_id": station} for row in params]
        else:
            state.statement = state.statement.values(station_id=station)  # type: ignore[attr-defined]
        return
    if (state.is_select and not state.is_column_load and not state.is_relationship_load) or \
            state.is_update or state.is_delete:
        state.statement = state.statement.options(with_loader_criteria(
            StationScoped, lambda cls: cls.station_id == station, include_aliases=True))


def _stamp_new_rows(session: Session, _context: Any, _instances: Any) -> None:
    station = None
    for row in session.new:
        if not isinstance(row, StationScoped):
            continue
        if station is None:
            station = station_of(session)
            if station is None:
                if not row.station_id:
                    raise UnscopedSession("a bureau-wide session cannot add a station's row "
                                          "without its station_id")
                continue
        if not row.station_id:
            row.station_id = station
        elif row.station_id != station:
            raise ForeignStationRow(f"{type(row).__name__} of station {row.station_id} "
                                    f"written by station {station}")


def install(maker: sessionmaker[Session]) -> None:
    """Scope every session ``maker`` makes (they carry their scope in ``Session.info``)."""
    event.listen(maker, "do_orm_execute", _scope_statement)
    event.listen(maker, "before_flush", _stamp_new_rows)



def rows_by_station(session: Session) -> dict[str, list[str]]:
    """station id -> the per-station tables holding rows of it, over every ``StationScoped``
    table (the custody log, its chain head, recordings, ...), read across the whole catalog
    whatever the session's scope (Core reads of each table's distinct ``station_id``)."""
    from sqlalchemy import select

    from bodycam_ingest.catalog.models import Base

    tables: list[Any] = [mapper.local_table for mapper in Base.registry.mappers
                         if issubclass(mapper.class_, StationScoped)]
    found: dict[str, list[str]] = {}
    connection = session.connection()
    for table in sorted(tables, key=lambda t: str(t.name)):
        for (sid,) in connection.execute(select(table.c.station_id).distinct()):
            found.setdefault(str(sid), []).append(str(table.name))
    return found
