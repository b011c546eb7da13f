"""Warm the hub's cached aggregates when the server starts, so the first visitor of
a page does not pay for computing them."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from parcours.workspace import Workspace

log = logging.getLogger("parcours.web")

#: Aggregates computed at start-up, per tenant (pages add theirs).
WARMERS: list[Callable[[Workspace, str], Any]] = []


def warm(ws: Workspace) -> int:
    """Compute every registered aggregate for every tenant; returns how many ran."""
    done = 0
    for tenant in ws.tenants():
        for fn in WARMERS:
            try:
                fn(ws, tenant)
                done += 1
            except Exception:  # noqa: BLE001 - a page shows the error itself; the server starts anyway
                log.warning("warming %s for %s failed", getattr(fn, "__name__", fn), tenant, exc_info=True)
    return done


def install(app: FastAPI) -> None:
    """Run :func:`warm` in a background thread when the app starts serving (unless the
    ``serve.warm_up`` setting is off)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        ws = a.state.workspace
        done = a.state.warmed = threading.Event()  # /health reports it (readiness)

        def run() -> None:
            try:
                warm(ws)
            finally:
                done.set()

        worker = None
        if ws.settings.serve.warm_up:
            worker = threading.Thread(target=run, name="parcours-warmup", daemon=True)
            worker.start()
        else:  # an API and collector node: nothing to warm
            done.set()
        try:
            async with inner(a) as state:
                yield state
        finally:
            # the workspace may be closed right after shutdown: let the warm-up finish first
            if worker is not None:
                worker.join(timeout=60)

    app.router.lifespan_context = lifespan
