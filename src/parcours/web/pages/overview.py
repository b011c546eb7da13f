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
    """Events per channel per day, stacked bars (click a legend entry to hide a channel)."""
    per: dict[str, tuple[list[object], list[int]]] = defaultdict(lambda: ([], []))
    for day, channel, n in ov.daily:
        per[channel][0].append(day)
        per[channel][1].append(n)
    order = [c["channel"] for c in ov.channels]
    data = [
        {"type": "bar", "name": ch, "x": per[ch][0], "y": per[ch][1],
         "marker": {"color": colour(i)}}
        for i, ch in enumerate(order) if ch in per
    ]
    return figure(data, barmode="stack", bargap=0.05, xaxis={"type": "date"},
                  yaxis={"title": {"text": "events per day"}})


@router.get("/t/{tenant}/overview", response_class=HTMLResponse)
def overview_page(
    request: Request, tenant: str, who: Principal = Depends(allow(*ALL_ROLES))
) -> HTMLResponse:
    ov = overview(workspace(request), tenant)
    return render(request, "overview.html", who, "overview", ov=ov, chart=volume_chart(ov))
