"""What every page shares: templates, the signed-in principal, the page frame.

Pages authenticate exactly like API routes, with ``Depends(allow(...))`` from
:mod:`parcours.web.auth` (the web session cookie); when that refuses, the app's
error handler answers a page request with an HTML page (:func:`html_error`) —
a redirect to the sign-in page for 401 — instead of the API's JSON error.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from parcours import __version__

if TYPE_CHECKING:
    from parcours.web.auth import Principal
    from parcours.workspace import Workspace

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))

#: Pages of the hub: (key, label, path under /t/{tenant}/, roles that may open it).
ALL_ROLES = ("admin", "data_manager", "data_scientist", "advisor", "manager")
NOMINATIVE_OR_ANALYST = ("admin", "data_manager", "data_scientist", "advisor")
SOURCES_ROLES = ("admin", "data_manager")
NAV: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("overview", "Overview", "overview", ALL_ROLES),
    ("sources", "Sources", "sources", SOURCES_ROLES),
    ("customers", "Customer 360°", "customers", NOMINATIVE_OR_ANALYST),
    ("paths", "Paths", "journeys/paths", ALL_ROLES),
    ("funnel", "Funnel", "journeys/funnel", ALL_ROLES),
    ("precursors", "Precursors", "journeys/precursors", ALL_ROLES),
    ("channels", "Channels", "journeys/channels", ALL_ROLES),
    ("retention", "Retention", "journeys/retention", ALL_ROLES),
]


#: Page keys served by this build (journeys pages need the journeys package).
AVAILABLE: set[str] = {"overview", "sources", "customers"}


def fmt_int(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{int(value):,}".replace(",", "\u202f")


def fmt_num(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{float(value):,.{digits}f}".replace(",", "\u202f")


def fmt_pct(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{100 * float(value):.{digits}f}\u202f%"


def fmt_ts(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def fmt_duration(seconds: Any) -> str:
    """Seconds as a short human duration: 45 s, 12 min, 3.5 h, 2.0 d."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "—"
    s = float(seconds)
    if s < 90:
        return f"{s:.0f}\u202fs"
    if s < 5400:
        return f"{s / 60:.0f}\u202fmin"
    if s < 172800:
        return f"{s / 3600:.1f}\u202fh"
    return f"{s / 86400:.1f}\u202fd"


templates.env.filters.update(
    int=fmt_int, num=fmt_num, pct=fmt_pct, ts=fmt_ts, duration=fmt_duration
)
templates.env.globals["version"] = __version__


def workspace(request: Request) -> Workspace:
    ws: Workspace = request.app.state.workspace
    return ws


def user_tenants(ws: Workspace, who: Principal) -> dict[str, str]:
    """Tenants the signed-in user may switch to, with their role in each."""
    from parcours.web.pages.session import tenants_of

    roles = tenants_of(ws, who)
    return roles or {who.tenant: who.role}


def render(
    request: Request,
    template: str,
    who: Principal,
    active: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a page inside the frame: navigation for the principal's role, the
    tenant switch, the signed-in user and the sign-out button."""
    ws = workspace(request)
    tenant = who.tenant
    nav = [
        {"key": key, "label": label, "href": f"/t/{tenant}/{path}", "active": key == active}
        for key, label, path, roles in NAV
        if who.role in roles and key in AVAILABLE
    ]
    sub = request.url.path.split(f"/t/{tenant}/", 1)[-1] if f"/t/{tenant}/" in request.url.path else "overview"
    ctx = {
        "request": request,
        "who": who,
        "tenant": tenant,
        "tenants": user_tenants(ws, who),
        "nav": nav,
        "active": active,
        "subpath": sub,
        **context,
    }
    return templates.TemplateResponse(request, template, ctx, status_code=status_code)


#: The hub's pages may load nothing from another origin and run no inline script: the
#: browser itself enforces that no request leaves the server. Styles may be inline
#: (plotly.js sets them on the elements it draws).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def is_page_request(request: Request) -> bool:
    """Pages live under /t/…, /login, /logout and /; the API answers JSON."""
    path = request.url.path
    return path == "/" or path.startswith(("/t/", "/login", "/logout", "/switch"))


def html_error(request: Request, status_code: int, message: str) -> Response:
    """The HTML answer for a refused or failed page request."""
    if status_code == 401:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        from urllib.parse import quote

        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    titles = {403: "Not allowed", 404: "Not found"}
    return templates.TemplateResponse(
        request,
        "error.html",
        {"request": request, "status": status_code, "title": titles.get(status_code, "Error"),
         "message": message},
        status_code=status_code,
    )
