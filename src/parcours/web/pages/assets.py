"""Assets served by parcours itself: the hub's CSS/JS, plotly.js and the API docs.

Third-party files are read from the installed packages at run time (plotly.js from
the ``plotly`` wheel, Swagger UI and ReDoc from ``fastapi-offline``), never copied
into the repository, and never fetched from a CDN.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from parcours.errors import MissingDependencyError

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
#: Third-party assets are immutable for a given installed version: cache them a day.
CACHE = {"Cache-Control": "public, max-age=86400"}


@lru_cache(maxsize=1)
def plotly_js() -> Path:
    """The plotly.js bundle shipped inside the ``plotly`` Python package."""
    try:
        import plotly
    except ImportError as exc:  # pragma: no cover - plotly is a core dependency
        raise MissingDependencyError("plotly", "web") from exc
    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():  # pragma: no cover - a broken install
        raise MissingDependencyError("plotly", "web")
    return path


@lru_cache(maxsize=1)
def docs_assets() -> Path:
    """Swagger UI and ReDoc files shipped inside ``fastapi-offline``."""
    try:
        import fastapi_offline
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise MissingDependencyError("fastapi-offline", "web") from exc
    return Path(fastapi_offline.__file__).resolve().parent / "static"


_DOC_FILES = {"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"}


def install(app: FastAPI) -> None:
    """Mount /static, /assets/plotly.min.js and the local /docs and /redoc pages."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/assets/plotly.min.js", include_in_schema=False)
    def _plotly() -> FileResponse:
        return FileResponse(plotly_js(), media_type="text/javascript", headers=CACHE)

    @app.get("/assets/docs/{name}", include_in_schema=False)
    def _docs_asset(name: str) -> FileResponse:
        if name not in _DOC_FILES:
            from parcours.errors import NotFoundError

            raise NotFoundError(f"no asset {name!r}", asset=name)
        return FileResponse(docs_assets() / name, headers=CACHE)

    @app.get("/docs", include_in_schema=False)
    def _swagger(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url="/assets/docs/swagger-ui-bundle.js",
            swagger_css_url="/assets/docs/swagger-ui.css",
            swagger_favicon_url="/assets/docs/favicon.png",
            # validatorUrl None: Swagger UI would otherwise call validator.swagger.io
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    def _redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API",
            redoc_js_url="/assets/docs/redoc.standalone.js",
            redoc_favicon_url="/assets/docs/favicon.png",
            with_google_fonts=False,
        )
