"""GDPR requests and re-identification through the API, for data managers (and admins).

Customer keys travel in the request body, not the URL, so that they do not land in
access logs. Every call is audited.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from parcours.privacy.errors import UserError
from parcours.web.auth import Principal, allow
from parcours.web.deps import get_workspace
from parcours.workspace import Workspace

router = APIRouter(prefix="/api/v1", tags=["gdpr"])

GDPR_ROLES = ("admin", "data_manager")


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: str = Field(min_length=1, max_length=200, description="The customer key.")


class EraseIn(ExportIn):
    confirm: bool = Field(description="Must be true: erasure cannot be undone.")


@router.post("/tenants/{tenant}/gdpr/export")
def gdpr_export(
    tenant: str,
    body: ExportIn,
    who: Principal = Depends(allow(*GDPR_ROLES)),
    ws: Workspace = Depends(get_workspace),
) -> dict[str, Any]:
    """Everything held on one customer: identifiers, and their rows in every table."""
    from parcours.privacy.gdpr import export_subject

    return export_subject(ws, tenant, body.customer, who=who)


@router.post("/tenants/{tenant}/gdpr/erase")
def gdpr_erase(
    tenant: str,
    body: EraseIn,
    who: Principal = Depends(allow(*GDPR_ROLES)),
    ws: Workspace = Depends(get_workspace),
) -> dict[str, Any]:
    """Erase one customer everywhere; returns the erasure report (no identifiers in it)."""
    from parcours.privacy.gdpr import erase_subject

    if not body.confirm:
        raise UserError("erasure cannot be undone: send confirm=true")
    return erase_subject(ws, tenant, body.customer, who=who).to_dict()


class ReidentifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pseudonyms: list[str] = Field(min_length=1, max_length=10_000,
                                  description="Analytics-zone pseudonyms (px + 32 hex digits).")


@router.post("/tenants/{tenant}/reidentify")
def reidentify_route(
    tenant: str,
    body: ReidentifyIn,
    who: Principal = Depends(allow(*GDPR_ROLES)),
    ws: Workspace = Depends(get_workspace),
) -> list[dict[str, str]]:
    """The raw identifiers behind pseudonyms (e.g. a segment found in the analytics zone);
    one audit line per person."""
    from parcours.privacy.reidentify import reidentify

    return [r.to_dict() for r in reidentify(ws, tenant, body.pseudonyms, who=who)]
