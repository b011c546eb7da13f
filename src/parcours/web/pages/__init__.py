"""The web data hub: server-rendered pages over the lake and the analytics.

One router module per page group (overview, sources, customers, journeys), the
sign-in pages, and the locally served assets (CSS, the hub's JS, plotly.js from the
installed ``plotly`` package, Swagger UI from ``fastapi-offline``). Nothing a page
loads comes from another host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

JOURNEY_PAGES = ("paths", "funnel", "precursors", "channels", "retention")


def install(app: FastAPI) -> None:
    """Add the data hub's pages, assets and the local API docs to ``app``."""
    from parcours.web.pages import assets, base, customers, overview, signin, sources

    assets.install(app)

    @app.middleware("http")
    async def _page_headers(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        if base.is_page_request(request):
            for name, value in base.SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
        return response

    for module in (signin, overview, sources, customers):
        app.include_router(module.router)
    try:  # the journeys pages need the journeys package (ws.journeys)
        import parcours.journeys  # noqa: F401
    except ImportError:
        base.AVAILABLE.difference_update(JOURNEY_PAGES)
    else:
        from parcours.web.pages import journeys

        app.include_router(journeys.router)
        base.AVAILABLE.update(JOURNEY_PAGES)
    from parcours.web.pages import overview_data, warmup
    from parcours.web.pages.customer_domains import warm_views

    warmup.WARMERS[:] = [overview_data.overview, warm_views]
    if set(JOURNEY_PAGES) <= base.AVAILABLE:
        from parcours.web.pages.journeys_data import warm_journeys

        warmup.WARMERS.append(warm_journeys)
    warmup.install(app)
