"""Liveness."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from parcours import __version__
from parcours.web.deps import get_workspace
from parcours.workspace import Workspace

router = APIRouter(tags=["health"])


@router.get("/health")
def health(ws: Workspace = Depends(get_workspace)) -> dict[str, object]:
    """Answers while the server runs: version and tenants served."""
    return {"status": "ok", "version": __version__, "tenants": ws.tenants()}
