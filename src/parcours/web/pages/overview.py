"""The Overview page: volumes per channel per day, customers, profiles, loads,
quarantine and freshness — aggregates only, open to every role."""

from __future__ import annotations

from collections import defaultdict

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from parcours.web.auth import Principal, allow
from parcours.web.pages.base import ALL_ROLES, render, workspace
from parcours.web.pages.charts import colour, figure
from parcours.web.pages.overview_data import Overview, overview

router = APIRouter(include_in_schema=False)


def volume_chart(ov: Overview) -> str:
    """Events per channel per day, stacked areas (click a legend entry to hide a channel).

    Areas, not bars: one SVG path per channel draws in a few milliseconds where a year
    of stacked bars (thousands of rectangles) takes a visible fraction of a second."""
    per: dict[str, dict[object, int]] = defaultdict(dict)
    for day, channel, n in ov.daily:
        per[channel][day] = n
    days = sorted({day for day, _, _ in ov.daily})
    order = [c["channel"] for c in ov.channels]
    data = [
        {"type": "scatter", "mode": "lines", "stackgroup": "all", "name": ch,
         "x": days, "y": [per[ch].get(d, 0) for d in days], "line": {"width": 0.5, "color": colour(i)}}
        for i, ch in enumerate(order) if ch in per
    ]
    return figure(data, xaxis={"type": "date"},
                  yaxis={"title": {"text": "events per day"}})


@router.get("/t/{tenant}/overview", response_class=HTMLResponse)
def overview_page(
    request: Request, tenant: str, who: Principal = Depends(allow(*ALL_ROLES))
) -> HTMLResponse:
    ov = overview(workspace(request), tenant)
    return render(request, "overview.html", who, "overview", ov=ov, chart=volume_chart(ov))
