"""The tenant's audit log, for its admins."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from parcours.privacy import audit
from parcours.web.auth import Principal, allow
from parcours.web.deps import get_workspace
from parcours.workspace import Workspace

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get("/tenants/{tenant}/audit")
def audit_log(
    tenant: str,
    customer: str | None = Query(None, description="Only reads of this customer."),
    limit: int = Query(1000, ge=1, le=100_000),
    who: Principal = Depends(allow("admin")),
    ws: Workspace = Depends(get_workspace),
) -> list[dict[str, Any]]:
    """Nominative reads of the tenant, newest first: who, when, what, which customer."""
    lines = audit.read(ws, tenant)
    if customer is not None:
        lines = [x for x in lines if x.get("customer") == customer]
    return list(reversed(lines))[:limit]
