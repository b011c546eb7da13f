"""The Customer 360° page: search by any identifier, then one customer on one
screen. Nominative (raw zone) for admin, data_manager and advisor, pseudonymized
(analytics zone) for data_scientist, closed to manager. Every view is audited."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from parcours.errors import NotFoundError
from parcours.identity.errors import AmbiguousKeyError
from parcours.web.auth import Principal, allow
from parcours.web.pages.base import NOMINATIVE_OR_ANALYST, render, workspace
from parcours.web.pages.customer_data import TIMELINE_PAGE, customer_view, find_profile

router = APIRouter(include_in_schema=False)


def zone_of(who: Principal) -> str:
    """Nominative roles read the raw zone; the data scientist the pseudonymized one."""
    return "raw" if who.nominative else "analytics"


@router.get("/t/{tenant}/customers", response_class=HTMLResponse)
def search(
    request: Request,
    tenant: str,
    q: str | None = None,
    who: Principal = Depends(allow(*NOMINATIVE_OR_ANALYST)),
) -> Response:
    ctx: dict[str, Any] = {"q": q, "pseudonymized": zone_of(who) == "analytics"}
    if q and q.strip():
        key = q.strip()
        try:
            find_profile(workspace(request), tenant, key, zone_of(who))
        except AmbiguousKeyError as exc:
            ctx["candidates"] = exc.details["profiles"]
        except NotFoundError as exc:
            ctx["error"] = exc.message
        else:
            return RedirectResponse(f"/t/{tenant}/customers/{quote(key, safe='')}", status_code=303)
    return render(request, "customers.html", who, "customers", **ctx)


@router.get("/t/{tenant}/customers/{key}", response_class=HTMLResponse)
def customer(
    request: Request,
    tenant: str,
    key: str,
    channel: list[str] = Query(default_factory=list),
    offset: int = Query(0, ge=0),
    limit: int = Query(TIMELINE_PAGE, ge=1, le=200),
    who: Principal = Depends(allow(*NOMINATIVE_OR_ANALYST)),
) -> HTMLResponse:
    from parcours.privacy.audit import record

    ws = workspace(request)
    view = customer_view(ws, tenant, key, zone_of(who), channels=channel or None, offset=offset,
                         limit=limit)
    record(ws, cast(Any, who), action="view_360", customer=view.profile_id,
           detail={"key": key, "zone": view.zone, "page": "hub"})
    return render(request, "customer.html", who, "customers", c=view, channels=channel)
