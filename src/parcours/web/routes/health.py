"""Liveness."""

from __future__ import annotations

from fastapi import APIRouter

from parcours import __version__

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, object]:
    """Answers while the server runs: status and version. It is public, so it names no
    tenant (a caller must not learn which tenants exist)."""
    return {"status": "ok", "version": __version__}
