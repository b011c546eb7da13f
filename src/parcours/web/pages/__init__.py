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


class _PageHeaders:
    """Security headers on every page response, as a plain ASGI middleware: an
    ``@app.middleware("http")`` function costs ~1 ms of CPU on every request (the API's
    included) for its task group and response streaming."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from starlette.datastructures import MutableHeaders
        from starlette.requests import Request

        from parcours.web.pages.base import SECURITY_HEADERS, is_page_request

        if scope["type"] != "http" or not is_page_request(Request(scope)):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    """Add the data hub's pages, assets and the local API docs to ``app``."""
    from parcours.web.pages import assets, base, customers, overview, signin, sources

    assets.install(app)

    app.add_middleware(_PageHeaders)

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
