"""Sign-in, sign-out, the tenant switch and the front door."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from parcours.errors import ParcoursError
from parcours.lake import check_name
from parcours.web.pages.base import NAV, templates, workspace
from parcours.web.pages.session import sign_in, sign_out, signed_in

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str | None:
    """Only local page paths: never redirect to another host after sign-in."""
    if target and target.startswith("/t/") and "//" not in target and "\\" not in target:
        return target
    return None


def _home(tenant_roles: dict[str, str]) -> str:
    tenant = sorted(tenant_roles)[0]
    return f"/t/{tenant}/overview"


@router.get("/", response_class=HTMLResponse)
def front(request: Request) -> Response:
    who = signed_in(request)
    if who is None or not who[1]:
        return RedirectResponse("/login", status_code=303)
    _, roles, chosen = who
    tenant = chosen if chosen in roles else sorted(roles)[0]
    return RedirectResponse(f"/t/{tenant}/overview", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "login.html", {"request": request, "who": None, "next": _safe_next(next)}
    )


@router.post("/login", response_class=HTMLResponse)
def login_post(
    request: Request,
    user: str = Form(...),
    password: str = Form(...),
    next: str | None = Form(None),
) -> Response:
    ws = workspace(request)
    target = _safe_next(next)
    response = RedirectResponse("/", status_code=303)
    try:
        tenant_roles = sign_in(ws, response, user, password)
    except ParcoursError:
        # one message for unknown users and wrong passwords: no user enumeration
        return templates.TemplateResponse(
            request,
            "login.html",
            {"request": request, "who": None, "next": target, "user": user,
             "error": "Unknown user or wrong password."},
            status_code=401,
        )
    if not tenant_roles:
        return templates.TemplateResponse(
            request, "login.html",
            {"request": request, "who": None, "error": "This user has no tenant."},
            status_code=403,
        )
    response.headers["location"] = target or _home(tenant_roles)
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    sign_out(response)
    return response


@router.get("/switch")
def switch(request: Request, tenant: str, page: str = "overview") -> Response:
    """Go to the same page of another tenant; the page itself checks access."""
    check_name("tenant", tenant)
    known = {path for _, _, path, _ in NAV}
    base = page.split("?", 1)[0].split("/")
    # keep the page kind, drop a customer key or other per-tenant parts
    sub = "/".join(base[:2]) if "/".join(base[:2]) in known else base[0]
    if sub not in known:
        sub = "overview"
    return RedirectResponse(f"/t/{quote(tenant)}/{sub}", status_code=303)
