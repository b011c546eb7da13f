"""The customer 360° view over the API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from parcours.web.auth import Principal, allow
from parcours.web.deps import get_workspace
from parcours.workspace import Workspace

router = APIRouter(prefix="/api/v1", tags=["customers"])
#: Who may read the 360 view (the plain-ASGI hot path, :mod:`parcours.web.fast360`, too).
ROLES = ("admin", "data_manager", "advisor", "data_scientist")


@router.get("/tenants/{tenant}/customers/{key}", response_model=dict[str, Any])
def customer_360(
    tenant: str,
    key: str,
    channel: str | None = Query(None, description="Only timeline events of this channel."),
    page: int = Query(1, ge=1, description="Timeline page, newest first."),
    page_size: int = Query(50, ge=1, le=200, description="Timeline events per page."),
    who: Principal = Depends(allow(*ROLES)),
    ws: Workspace = Depends(get_workspace),
) -> Response:
    """One customer's 360° view, by any identifier or profile id.

    Nominative for advisors, data managers and admins (every read is audited);
    pseudonymized for data scientists, who may pass a pseudonym, a profile id or a
    plain identifier (pseudonymized with the tenant's key before the lookup).
    Managers see aggregates only: 403.
    """
    from parcours.identity.view import customer

    zone = "raw" if who.nominative else "analytics"
    view = customer(
        ws, tenant, key, zone=zone, channel=channel, page=page, page_size=page_size,
        who=who,
    )
    # the stored JSON text spliced as it is: no parsing, no FastAPI validation and
    # encoding pass over every timeline event
    return Response(view.to_json(), media_type="application/json")
