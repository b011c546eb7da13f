"""Dependencies the routes receive by injection."""

from __future__ import annotations

from fastapi import Request

from parcours.workspace import Workspace


async def get_workspace(request: Request) -> Workspace:
    """The app's workspace (async: no hop to the thread pool for a dictionary read)."""
    ws: Workspace = request.app.state.workspace
    return ws
