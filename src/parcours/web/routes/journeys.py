"""Journey analyses over the API: paths, funnel, precursors, channels, before-call,
retention.

Query parameters are named like the Python API (``ws.journeys``) and the CLI
(``parcours journeys ...``); the funnel's steps repeat: ``?steps=a&steps=b``. Every
answer is the result's ``to_dict()`` — ``analysis``, ``params``, ``rows`` and the
analysis' extras — so the API, the CLI's ``--json`` and Python give the same numbers;
the funnel adds ``steps``, its overall rows. Answers are cached per parameters and
versions of the tables read, as the journeys pages' are (``web/pages/cache.py``).
Journeys are aggregates: every role of the tenant may read them. A parameter the
analysis cannot take (an unknown direction, a window such as ``30x``, a target no
profile has) answers 400 with the JSON error shape.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from parcours.privacy.roles import ROLES
from parcours.web.auth import Principal, allow
from parcours.web.deps import get_workspace
from parcours.workspace import Workspace

if TYPE_CHECKING:
    from parcours.journeys.base import JourneyResult

router = APIRouter(prefix="/api/v1", tags=["journeys"])

_START = "Only events from this date or time (inclusive), e.g. 2025-03-01."
_END = "Only events before this date or time (exclusive)."
_STEP_BY = "How a step is named: event, page or channel_event."


class JourneyOut(BaseModel):
    analysis: str
    params: dict[str, Any]
    message: str | None = None


class PathRow(BaseModel):
    path: list[str]
    profiles: int
    share: float


class PathLevel(BaseModel):
    level: int
    profiles: int
    drop_off: int
    drop_off_rate: float | None


class SankeyNode(BaseModel):
    label: str
    level: int


class SankeyLink(BaseModel):
    source: int
    target: int
    value: int


class PathsOut(JourneyOut):
    rows: list[PathRow]
    anchored: int
    levels: list[PathLevel]
    nodes: list[SankeyNode]
    links: list[SankeyLink]


class FunnelRow(BaseModel):
    step: str
    step_index: int
    profiles: int
    conversion_from_previous: float | None
    conversion_from_first: float | None
    median_seconds_from_previous: float | None
    breakdown: str | None


class FunnelOut(JourneyOut):
    rows: list[FunnelRow]
    #: the overall rows (``breakdown`` null), one per step
    steps: list[FunnelRow]


class PrecursorRow(BaseModel):
    sequence: list[str]
    length: int
    support_target: int
    support_control: int
    targets: int
    controls: int
    rate_target: float
    rate_control: float | None
    lift: float | None
    odds_ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float


class PrecursorsOut(JourneyOut):
    rows: list[PrecursorRow]
    targets: int
    controls: int
    tested: int
    candidates: dict[str, int]


class ChannelRow(BaseModel):
    from_channel: str
    to_channel: str
    transitions: int
    share_of_from: float


class ChannelsOut(JourneyOut):
    rows: list[ChannelRow]
    channels: list[str]
    transitions: int


class BeforeCallRow(BaseModel):
    reason: str
    step: str
    calls: int
    share: float
    calls_with_reason: int


class CallReason(BaseModel):
    reason: str
    calls: int


class BeforeCallOut(JourneyOut):
    rows: list[BeforeCallRow]
    call_event: str | None
    calls: int
    reasons: list[CallReason]


class RetentionRow(BaseModel):
    cohort: dt.date
    month: int
    cohort_size: int
    returning: int
    rate: float


class RetentionOut(JourneyOut):
    rows: list[RetentionRow]
    purchase_events: list[str] | None = None


def _run(ws: Workspace, tenant: str, analysis: str, **params: Any) -> dict[str, Any]:
    """The analysis' ``to_dict()``, cached like the journeys pages: per parameters and
    versions of the tables it reads (a new load or merge is seen on the next call)."""
    from parcours.web.pages.cache import cached
    from parcours.web.pages.journeys_data import DEPS

    ws.require_tenant(tenant)

    def compute() -> dict[str, Any]:
        result: JourneyResult = getattr(ws.journeys, analysis)(tenant, **params)
        return result.to_dict()

    key = ("api", analysis, *sorted((k, tuple(v) if isinstance(v, list) else v)
                                    for k, v in params.items()))
    return dict(cached(ws, tenant, key, DEPS, compute))  # a copy: callers add keys


#: Every role of the tenant: journeys are aggregates.
_anyone = allow(*ROLES)


@router.get("/tenants/{tenant}/journeys/paths", response_model=PathsOut)
def paths(
    tenant: str,
    event: str | None = Query(None, description="Start (or end) the paths at this step."),
    direction: str = Query("next", description="next (after event) or previous (before it)."),
    steps: int = Query(3, description="Steps per path (1 to 10)."),
    step_by: str = Query("event", description=_STEP_BY),
    collapse_repeats: bool = Query(True, description="Count a step repeated in a row once."),
    top: int = Query(8, description="Step names kept per level; the others are 'other'."),
    start: str | None = Query(None, description=_START),
    end: str | None = Query(None, description=_END),
    who: Principal = Depends(_anyone),
    ws: Workspace = Depends(get_workspace),
) -> PathsOut:
    """The most frequent next (or previous) steps from an event, and their Sankey."""
    return PathsOut.model_validate(_run(
        ws, tenant, "paths", event=event, direction=direction, steps=steps, step_by=step_by,
        collapse_repeats=collapse_repeats, top=top, start=start, end=end))


@router.get("/tenants/{tenant}/journeys/funnel", response_model=FunnelOut)
def funnel(
    tenant: str,
    steps: list[str] = Query(..., description="The funnel's steps in order: steps=a&steps=b."),
    window: str = Query("30d", description="Longest time from step 1 to the last (30d, 12h…)."),
    breakdown: str | None = Query(
        None, description="Rows per value of channel, property:NAME or another column, "
                          "read on each profile's step-1 event."),
    step_by: str = Query("event", description=_STEP_BY),
    start: str | None = Query(None, description=_START),
    end: str | None = Query(None, description=_END),
    who: Principal = Depends(_anyone),
    ws: Workspace = Depends(get_workspace),
) -> FunnelOut:
    """Profiles reaching each step in order within the window (the best attempt counts)."""
    body = _run(ws, tenant, "funnel", steps=steps, window=window, breakdown=breakdown,
                step_by=step_by, start=start, end=end)
    body["steps"] = [r for r in body["rows"] if r["breakdown"] is None]
    return FunnelOut.model_validate(body)


@router.get("/tenants/{tenant}/journeys/precursors", response_model=PrecursorsOut)
def precursors(
    tenant: str,
    target: str = Query(..., description="The event to explain, e.g. contract_terminated."),
    lookback: str = Query("30d", description="How far before the target to look."),
    max_length: int = Query(3, description="Longest sequence (1 to 3 steps)."),
    min_support: int = Query(20, description="Only sequences held before this many targets."),
    step_by: str = Query("event", description=_STEP_BY),
    top: int | None = Query(None, description="Only the first rows (default: all)."),
    sort: str = Query("p_value", description="p_value (strongest evidence first) or lift."),
    start: str | None = Query(None, description=_START),
    end: str | None = Query(None, description=_END),
    who: Principal = Depends(_anyone),
    ws: Workspace = Depends(get_workspace),
) -> PrecursorsOut:
    """Steps and ordered sequences over-represented before a target event."""
    return PrecursorsOut.model_validate(_run(
        ws, tenant, "precursors", target=target, lookback=lookback, max_length=max_length,
        min_support=min_support, step_by=step_by, top=top, sort=sort, start=start, end=end))


@router.get("/tenants/{tenant}/journeys/channels", response_model=ChannelsOut)
def channels(
    tenant: str,
    start: str | None = Query(None, description=_START),
    end: str | None = Query(None, description=_END),
    who: Principal = Depends(_anyone),
    ws: Workspace = Depends(get_workspace),
) -> ChannelsOut:
    """Channel-to-channel transitions between a profile's consecutive events."""
    return ChannelsOut.model_validate(_run(ws, tenant, "channels", start=start, end=end))


@router.get("/tenants/{tenant}/journeys/before-call", response_model=BeforeCallOut)
def before_call(
    tenant: str,
    call_event: str | None = Query(None, description="The call event (default: the "
                                                     "call center's most frequent)."),
    days: int = Query(7, description="Days before each call to look at."),
    top: int = Query(10, description="Steps per call reason."),
    start: str | None = Query(None, description=_START),
    end: str | None = Query(None, description=_END),
    who: Principal = Depends(_anyone),
    ws: Workspace = Depends(get_workspace),
) -> BeforeCallOut:
    """The digital steps most often seen in the days before a call, per call reason."""
    return BeforeCallOut.model_validate(_run(
        ws, tenant, "before_call", call_event=call_event, days=days, top=top, start=start,
        end=end))


@router.get("/tenants/{tenant}/journeys/retention", response_model=RetentionOut)
def retention(
    tenant: str,
    by: str = Query("first_seen", description="Cohorts by first_seen or first_purchase."),
    purchase_event: str | None = Query(None, description="The purchase event "
                                                         "(by=first_purchase)."),
    start: str | None = Query(None, description=_START),
    end: str | None = Query(None, description=_END),
    who: Principal = Depends(_anyone),
    ws: Workspace = Depends(get_workspace),
) -> RetentionOut:
    """Monthly cohorts and the share of each that comes back month after month."""
    return RetentionOut.model_validate(_run(
        ws, tenant, "retention", by=by, purchase_event=purchase_event, start=start, end=end))
