"""The FastAPI application factory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from parcours import __version__
from parcours.errors import ParcoursError

if TYPE_CHECKING:
    from parcours.workspace import Workspace


def error_body(type_: str, message: str, **extra: object) -> dict[str, object]:
    """The one JSON error shape of the API."""
    return {"error": {"type": type_, "message": message, **extra}}


def create_app(workspace: Workspace) -> FastAPI:
    """Build the app for one workspace. Settings and workspace reach routes through
    ``request.app.state`` (see :mod:`parcours.web.deps`)."""
    from parcours.web import pages
    from parcours.web.pages.base import html_error, is_page_request
    from parcours.web.routes import audit, customers, gdpr, health, journeys, sql, tables

    app = FastAPI(
        title="parcours",
        version=__version__,
        description="Customer data and customer journeys: collector, REST API and data hub.",
        # the default /docs and /redoc load Swagger UI from a CDN: pages.assets serves them locally
        docs_url=None,
        redoc_url=None,
    )
    app.state.workspace = workspace

    @app.exception_handler(ParcoursError)
    async def _parcours_error(request: Request, exc: ParcoursError) -> Response:
        if is_page_request(request):
            return html_error(request, exc.status_code, exc.message)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if is_page_request(request):
            return html_error(request, exc.status_code, str(exc.detail))
        return JSONResponse(
            error_body("HTTPError", str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in exc.errors()
        ]
        return JSONResponse(
            error_body("ValidationError", "invalid request", problems=problems), status_code=422
        )

    app.include_router(health.router)
    app.include_router(tables.router)
    app.include_router(sql.router)
    app.include_router(gdpr.router)
    app.include_router(audit.router)
    app.include_router(customers.router)
    app.include_router(journeys.router)
    pages.install(app)
    return app
