"""What every journey analysis shares: its input table, steps, durations and results.

Every analysis reads a *journey events* table: one row per event with a known profile,

=============  =========================================================
``profile_id`` the person (through the identity map; see parcours.identity)
``ts``         the event's timestamp (UTC)
``event``      the event name (track), page or screen name, else the call type
``channel``    web, app, email, call_center, ...
``type``       track, page, screen, identify, alias, group
``properties`` the event's properties as a JSON object (text)
=============  =========================================================

:func:`journey_events` builds it from a workspace; tests and notebooks may pass any
Ibis table with these columns (on DuckDB or Spark) to the analysis functions.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ibis

from parcours.journeys.errors import InvalidDurationError, JourneysError
from parcours.values import jsonable

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd
    import pyarrow as pa

    from parcours.workspace import Workspace

#: Columns of a journey events table.
COLUMNS = ("profile_id", "ts", "event", "channel", "type", "properties")

#: How a step is named: the event name, a page/screen name, or channel and event.
STEP_BY = ("event", "page", "channel_event")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(value: str | int | float | dt.timedelta, name: str = "window") -> dt.timedelta:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"45s"``, ``"2w"``, seconds or a timedelta.

    Example:
        >>> parse_duration("30d")
        datetime.timedelta(days=30)
    """
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise InvalidDurationError(name, value)
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        m = _DURATION.match(value)
        if not m:
            raise InvalidDurationError(name, value)
        seconds = float(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise InvalidDurationError(name, value)
    if not seconds > 0:
        raise InvalidDurationError(name, value)
    return dt.timedelta(seconds=seconds)


def duration_text(td: dt.timedelta) -> str:
    """The shortest ``30d`` / ``12h`` / ``90m`` / ``45s`` spelling of a duration."""
    s = int(td.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if s % _UNITS[unit] == 0:
            return f"{s // _UNITS[unit]}{unit}"
    return f"{s}s"


def check_int(value: Any, name: str, low: int, high: int | None = None) -> int:
    """``value`` as a whole number from ``low`` to ``high`` (no upper bound when None)."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise JourneysError(f"invalid {name} {value!r}: give a whole number {bound}",
                            parameter=name, value=str(value))
    return int(value)


def check_step_by(step_by: str) -> str:
    if step_by not in STEP_BY:
        raise JourneysError(
            f"invalid step_by {step_by!r}: use one of {', '.join(STEP_BY)}", parameter="step_by"
        )
    return step_by


def with_steps(t: ir.Table, step_by: str = "event") -> ir.Table:
    """``t`` plus a ``step`` column naming each event as a journey step.

    ``event``: the event name (page and screen names for views); ``page``: page and
    screen views only (other events are left out); ``channel_event``: channel and event,
    as in ``web:page_viewed``.
    """
    check_step_by(step_by)
    if step_by == "page":
        t = t.filter(t.type.isin(["page", "screen"]))
    if step_by == "channel_event":
        return t.mutate(step=t.channel.concat(":", t.event))
    return t.mutate(step=t.event)


def _as_ts(value: str | dt.date | dt.datetime | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        raise JourneysError(
            f"invalid {name} {value!r}: give a date or time such as 2025-03-01", parameter=name
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def date_range(
    start: str | dt.date | None, end: str | dt.date | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``start`` inclusive, ``end`` exclusive (a date as end means up to that day's start)."""
    s, e = _as_ts(start, "start"), _as_ts(end, "end")
    if s and e and e <= s:
        raise JourneysError(f"end {e.isoformat()} is not after start {s.isoformat()}",
                            parameter="end")
    return s, e


def in_range(t: ir.Table, start: dt.datetime | None, end: dt.datetime | None) -> ir.Table:
    if start is not None:
        t = t.filter(t.ts >= ibis.literal(start))
    if end is not None:
        t = t.filter(t.ts < ibis.literal(end))
    return t


def journey_events(ws: Workspace, tenant: str, zone: str = "analytics", *,
                   stored: bool = True) -> ir.Table:
    """The tenant's events with a profile, as a journey events table (see module doc).

    Events whose identifiers are unknown or shared (no profile) are left out: a journey
    is a person's. Raises ``NotResolvedError`` before identity resolution has run.

    On the embedded engine the table comes from the journey store
    (:mod:`parcours.journeys.store`: built once per version of the events and the
    identity map, event names as dictionary codes, plus an order key ``_order``);
    ``stored=False`` gives the plain join, as on Spark.
    """
    plain = _plain_journey_events(ws, tenant, zone)
    if not stored:
        return plain
    from parcours.journeys.store import stored_events

    return stored_events(ws, tenant, zone, plain)


def _plain_journey_events(ws: Workspace, tenant: str, zone: str) -> ir.Table:
    from parcours.identity import events_with_profiles

    ev = events_with_profiles(ws, tenant, zone)
    ev = ev.filter(ev.profile_id.notnull())
    return ev.select(
        profile_id=ev.profile_id,
        ts=ev.timestamp,
        event=ev.event.fill_null(ev.type),
        channel=ev.channel,
        type=ev.type,
        properties=ev.properties,
    )


def check_events(t: ir.Table) -> ir.Table:
    """Check that ``t`` is a journey events table (the columns the analyses read)."""
    missing = [c for c in ("profile_id", "ts", "event", "channel") if c not in t.columns]
    if missing:
        raise JourneysError(
            f"a journey events table needs the columns {', '.join(COLUMNS)}; "
            f"missing: {', '.join(missing)}",
            missing=missing,
        )
    return t


@dataclass
class JourneyResult:
    """A journey analysis' answer: a table plus what it was asked.

    ``table`` is a pyarrow table; ``params`` the parameters after defaults.
    """

    analysis: str
    params: dict[str, Any]
    table: pa.Table
    extra: dict[str, Any] = field(default_factory=dict)

    def to_arrow(self) -> pa.Table:
        return self.table

    def to_pandas(self) -> pd.DataFrame:
        return self.table.to_pandas()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"analysis", "params", "rows": [...], **extra}``."""
        return {
            "analysis": self.analysis,
            "params": jsonable(self.params),
            "rows": jsonable(self.table.to_pylist()),
            **jsonable(self.extra),
        }

    def __len__(self) -> int:
        return self.table.num_rows
