"""The lake's tables of one tenant."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from parcours.lake import ZONES
from parcours.web.auth import Principal, allow
from parcours.web.deps import get_workspace
from parcours.workspace import Workspace

router = APIRouter(prefix="/api/v1", tags=["tables"])


class TableOut(BaseModel):
    zone: str
    table: str
    rows: int
    files: int
    bytes: int
    version: int


@router.get("/tenants/{tenant}/tables", response_model=list[TableOut])
def list_tables(
    tenant: str,
    who: Principal = Depends(allow("admin", "data_manager", "data_scientist", "manager")),
    ws: Workspace = Depends(get_workspace),
) -> list[TableOut]:
    """Tables of a tenant, per zone, with row counts and sizes."""
    ws.require_tenant(tenant)
    out = []
    for zone in ZONES:
        for name in ws.lake.tables(tenant, zone):
            i = ws.lake.info(tenant, zone, name)
            out.append(TableOut(zone=zone, table=name, rows=i.rows, files=i.files, bytes=i.bytes, version=i.version))
    return out
