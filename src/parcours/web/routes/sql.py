"""Read-only SQL over one tenant's zone: the data scientist's entry point.

``data_scientist`` queries the analytics (pseudonymized) zone only; ``admin`` and
``data_manager`` may also query the raw zone, and each raw query is audited. The
query runs on a locked DuckDB connection that sees only this tenant's tables of the
chosen zone and cannot read files (see :mod:`parcours.engine.sql`).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from parcours.privacy import audit
from parcours.privacy.errors import ForbiddenError
from parcours.privacy.roles import RAW_SQL_ROLES
from parcours.values import jsonable
from parcours.web.auth import Principal, allow
from parcours.web.deps import get_workspace
from parcours.workspace import Workspace

router = APIRouter(prefix="/api/v1", tags=["sql"])


class SQLIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=100_000, description="One SELECT query.")
    zone: Literal["analytics", "raw"] = Field("analytics", description="The zone to query.")
    limit: int = Field(1000, ge=1, le=100_000, description="At most this many rows.")


class SQLOut(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool


@router.post("/tenants/{tenant}/sql", response_model=SQLOut)
def run_query(
    tenant: str,
    body: SQLIn,
    who: Principal = Depends(allow("admin", "data_manager", "data_scientist")),
    ws: Workspace = Depends(get_workspace),
) -> SQLOut:
    """Run one read-only query; tables by their plain name (``events``, ``customers`` …)."""
    from parcours.engine.sql import run_sql

    if body.zone == "raw" and who.role not in RAW_SQL_ROLES:
        raise ForbiddenError(who.role, tuple(sorted(RAW_SQL_ROLES)), action="query the raw zone")
    ws.require_tenant(tenant)
    table = run_sql(ws.lake, tenant, body.zone, body.query, limit=body.limit + 1)
    if body.zone == "raw":
        audit.record(ws, who, action="sql_raw", detail={"query": body.query, "rows": min(table.num_rows, body.limit)})
    truncated = table.num_rows > body.limit
    table = table.slice(0, body.limit)
    columns = table.column_names
    rows = [[jsonable(v) for v in row.values()] for row in table.to_pylist()]
    return SQLOut(columns=columns, rows=rows, row_count=len(rows), truncated=truncated)
