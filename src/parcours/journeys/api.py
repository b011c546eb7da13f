"""``workspace.journeys``: every journey analysis on a workspace's tenant.

The same parameters as the CLI (``parcours journeys ...``) and the REST API
(``/api/v1/tenants/{t}/journeys/...``). Each method reads the tenant's events with their
profiles (:func:`parcours.journeys.base.journey_events`), restricted to ``start`` ..
``end`` when given, and returns a :class:`~parcours.journeys.base.JourneyResult`. On
DuckDB those events come from the journey store (:mod:`parcours.journeys.store`), built
once per version of the events and identity map; ``Journeys(ws, stored=False)`` reads
the plain join (the CLI does: it runs one analysis per process).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from parcours.journeys.base import JourneyResult, date_range, in_range, journey_events

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from parcours.workspace import Workspace

Date = str | dt.date | None


class Journeys:
    """The journey analyses of one workspace (``ws.journeys``).

    Example:
        >>> ws.journeys.funnel("energie", steps=["home", "offers", "subscribe"],
        ...                    window="30d").to_pandas()                  # doctest: +SKIP
    """

    def __init__(self, ws: Workspace, zone: str = "analytics", *, stored: bool = True) -> None:
        self.ws = ws
        self.zone = zone
        #: read the journey store (built once per version; DuckDB) or the plain join
        self.stored = stored

    def events(self, tenant: str, start: Date = None, end: Date = None) -> ir.Table:
        """The journey events table of ``tenant`` between ``start`` and ``end``."""
        s, e = date_range(start, end)
        return in_range(journey_events(self.ws, tenant, self.zone, stored=self.stored), s, e)

    def paths(self, tenant: str, *, event: str | None = None, direction: str = "next",
              steps: int = 3, step_by: str = "event", collapse_repeats: bool = True,
              top: int = 8, start: Date = None, end: Date = None) -> JourneyResult:
        """Most frequent next (or previous) ``steps`` steps from ``event``."""
        from parcours.journeys.paths import paths

        return paths(self.events(tenant, start, end), event=event, direction=direction,
                     steps=steps, step_by=step_by, collapse_repeats=collapse_repeats, top=top)

    def funnel(self, tenant: str, *, steps: list[str], window: Any = "30d",
               breakdown: str | None = None, step_by: str = "event", start: Date = None,
               end: Date = None) -> JourneyResult:
        """Profiles reaching each of ``steps`` in order within ``window``."""
        from parcours.journeys.funnel import funnel

        # Spark checkpoints the funnel's passes as Parquet in the workspace's state folder
        return funnel(self.events(tenant, start, end), steps=steps, window=window,
                      breakdown=breakdown, step_by=step_by,
                      scratch_dir=self.ws.state_dir / "journeys-scratch")

    def precursors(self, tenant: str, *, target: str, lookback: Any = "30d",
                   max_length: int = 3, min_support: int = 20, step_by: str = "event",
                   top: int | None = None, sort: str = "p_value", start: Date = None,
                   end: Date = None) -> JourneyResult:
        """Events and ordered sequences over-represented before ``target``."""
        from parcours.journeys.precursors import precursors

        return precursors(self.events(tenant, start, end), target=target, lookback=lookback,
                          max_length=max_length, min_support=min_support, step_by=step_by,
                          top=top, sort=sort)

    def channels(self, tenant: str, *, start: Date = None, end: Date = None) -> JourneyResult:
        """Channel-to-channel transitions (consecutive events of a profile)."""
        from parcours.journeys.channels import channels

        return channels(self.events(tenant, start, end))

    def before_call(self, tenant: str, *, call_event: str | None = None, days: int = 7,
                    top: int = 10, start: Date = None, end: Date = None) -> JourneyResult:
        """The digital steps most often seen in the ``days`` before a call-center call,
        per call reason."""
        from parcours.journeys.channels import before_call

        return before_call(self.events(tenant, start, end), call_event=call_event, days=days,
                           top=top)

    def retention(self, tenant: str, *, by: str = "first_seen",
                  purchase_event: str | None = None, start: Date = None,
                  end: Date = None) -> JourneyResult:
        """Monthly cohorts (by first seen or first purchase) and their return rates."""
        from parcours.journeys.retention import retention

        return retention(self.events(tenant, start, end), by=by, purchase_event=purchase_event)
