"""Liveness."""

from __future__ import annotations

from fastapi import APIRouter, Request

from parcours import __version__

router = APIRouter(tags=["health"])


@router.get("/health")
def health(request: Request) -> dict[str, object]:
    """Answers while the server runs: status, version, and ``warm``: whether the
    start-up warm-up of the hub's cached aggregates has finished (until then a first
    visit may compute a page itself). It is public, so it names no tenant (a caller
    must not learn which tenants exist)."""
    warmed = getattr(request.app.state, "warmed", None)
    return {"status": "ok", "version": __version__,
            "warm": warmed.is_set() if warmed is not None else True}
