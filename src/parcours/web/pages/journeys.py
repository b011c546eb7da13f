"""The journeys pages: path explorer (Sankey), funnel builder, precursors, channel
transitions (heat map) and retention cohorts (triangle). Aggregates only: every role.

Parameters travel in the query string, so a page can be bookmarked and shared; the
same parameters give the same figures as the REST API and the CLI.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from parcours.errors import ParcoursError
from parcours.web.auth import Principal, allow
from parcours.web.pages import journeys_data as jd
from parcours.web.pages.base import ALL_ROLES, render, workspace

router = APIRouter(include_in_schema=False)

#: Funnel breakdowns the builder offers.
BREAKDOWNS = ("channel",)
DEFAULT_FUNNEL_STEPS = 3
#: Most steps the builder offers (the funnel analysis takes up to 30).
MAX_FUNNEL_STEPS = 30


def _page(request: Request, who: Principal, template: str, active: str, **ctx: Any) -> HTMLResponse:
    ws = workspace(request)
    names = jd.event_names(ws, who.tenant)
    return render(request, template, who, active, event_names=names, **ctx)


def _attempt(fn: Any, *args: Any) -> tuple[Any, str | None]:
    """Run an analysis; a user's mistake (unknown event, bad window) shows on the page."""
    try:
        return fn(*args), None
    except ParcoursError as exc:
        return None, exc.message


@router.get("/t/{tenant}/journeys/paths", response_class=HTMLResponse)
def paths(
    request: Request,
    tenant: str,
    event: str | None = None,
    direction: str = Query("next", pattern="^(next|previous)$"),
    steps: int = Query(3, ge=1, le=6),
    step_by: str = Query("event", pattern="^(event|page|channel_event)$"),
    who: Principal = Depends(allow(*ALL_ROLES)),
) -> HTMLResponse:
    ws = workspace(request)
    result, error = _attempt(jd.paths_view, ws, tenant, event or None, direction, steps, step_by)
    p = {"event": event, "direction": direction, "steps": steps, "step_by": step_by}
    return _page(request, who, "journeys_paths.html", "paths", p=p, result=result, error=error)


@router.get("/t/{tenant}/journeys/funnel", response_class=HTMLResponse)
def funnel(
    request: Request,
    tenant: str,
    step: list[str] = Query(default_factory=list),
    window_days: int = Query(30, ge=1, le=365),
    breakdown: str = Query("", pattern="^(|channel)$"),
    add: int = 0,
    who: Principal = Depends(allow(*ALL_ROLES)),
) -> HTMLResponse:
    ws = workspace(request)
    typed = [s.strip() for s in step]
    chosen = [s for s in typed if s]
    result, error = None, None
    if add:  # "Add a step": the same form with one more (empty) step, nothing computed
        form_steps = typed + [""] * max(DEFAULT_FUNNEL_STEPS - len(typed), 0)
        if len(form_steps) < MAX_FUNNEL_STEPS:
            form_steps.append("")
    else:
        if len(chosen) >= 2:
            result, error = _attempt(jd.funnel_view, ws, tenant, chosen, window_days,
                                     breakdown or None)
        elif step:  # the form was sent with fewer than two steps
            error = "A funnel needs at least two steps."
        form_steps = chosen + [""] * max(DEFAULT_FUNNEL_STEPS - len(chosen), 0)
    f = {"steps_form": form_steps, "window_days": window_days, "breakdown": breakdown,
         "breakdowns": BREAKDOWNS}
    return _page(request, who, "journeys_funnel.html", "funnel", f=f, result=result, error=error)


@router.get("/t/{tenant}/journeys/precursors", response_class=HTMLResponse)
def precursors(
    request: Request,
    tenant: str,
    target: str | None = None,
    lookback_days: int = Query(30, ge=1, le=365),
    max_length: int = Query(3, ge=1, le=3),
    who: Principal = Depends(allow(*ALL_ROLES)),
) -> HTMLResponse:
    ws = workspace(request)
    result, error = None, None
    if target:
        result, error = _attempt(jd.precursors_view, ws, tenant, target, lookback_days, max_length)
    p = {"target": target, "lookback_days": lookback_days, "max_length": max_length}
    return _page(request, who, "journeys_precursors.html", "precursors", p=p, result=result, error=error)


@router.get("/t/{tenant}/journeys/channels", response_class=HTMLResponse)
def channels(
    request: Request, tenant: str, who: Principal = Depends(allow(*ALL_ROLES))
) -> HTMLResponse:
    result, error = _attempt(jd.channels_view, workspace(request), tenant)
    return _page(request, who, "journeys_channels.html", "channels", result=result, error=error)


@router.get("/t/{tenant}/journeys/retention", response_class=HTMLResponse)
def retention(
    request: Request,
    tenant: str,
    by: str = Query("first_seen", pattern="^(first_seen|first_purchase)$"),
    who: Principal = Depends(allow(*ALL_ROLES)),
) -> HTMLResponse:
    result, error = _attempt(jd.retention_view, workspace(request), tenant, by)
    return _page(request, who, "journeys_retention.html", "retention", p={"by": by},
                 result=result, error=error)
