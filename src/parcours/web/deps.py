"""Dependencies the routes receive by injection."""

from __future__ import annotations

from fastapi import Request

from parcours.workspace import Workspace


def get_workspace(request: Request) -> Workspace:
    ws: Workspace = request.app.state.workspace
    return ws
