"""Journey analytics: paths, funnels, precursors, cross-channel, retention.

Every analysis is an Ibis expression over a *journey events* table (profile, time,
event, channel; see :mod:`parcours.journeys.base`), so it runs on DuckDB and on Spark.
Use them through ``workspace.journeys`` (:class:`Journeys`), the CLI
(``parcours journeys ...``) or the REST API (``/api/v1/tenants/{t}/journeys/...``).
"""

from __future__ import annotations

from parcours.journeys.api import Journeys
from parcours.journeys.base import JourneyResult, journey_events, parse_duration
from parcours.journeys.errors import JourneysError

__all__ = ["JourneyResult", "Journeys", "JourneysError", "journey_events", "parse_duration"]
