"""The Sources page: write keys (create, revoke), recent loads, imports, the
quarantine with its reasons, and replay. For admins and data managers: the
quarantine holds raw payloads (nominative)."""

from __future__ import annotations

from typing import Any, cast

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from parcours.web.auth import Principal, allow
from parcours.web.pages.base import SOURCES_ROLES, render, workspace
from parcours.web.pages.overview_data import quarantine_reasons
from parcours.workspace import Workspace

router = APIRouter(include_in_schema=False)

#: Quarantined rows shown on the page (the API pages through the rest).
QUARANTINE_ROWS = 100
PAYLOAD_CHARS = 300


def sources_data(ws: Workspace, tenant: str) -> dict[str, Any]:
    """Write keys, loads, imports and quarantine of one tenant, for the page."""
    from parcours.collect import quarantine
    from parcours.collect.importer import recent_imports
    from parcours.collect.keys import WriteKeyStore
    from parcours.collect.loader import recent_loads

    loads = recent_loads(ws, limit=20, tenant=tenant)
    imports = recent_imports(ws, limit=20, tenant=tenant)
    rows = quarantine.list_rows(ws, tenant, limit=QUARANTINE_ROWS)
    for r in rows:
        payload = str(r.get("payload") or "")
        r["payload_short"] = payload if len(payload) <= PAYLOAD_CHARS else payload[:PAYLOAD_CHARS] + "…"
    return {
        "keys": WriteKeyStore(ws.state_dir).rows(tenant),
        "loads": loads,
        "imports": imports,
        "quarantine": rows,
        "quarantine_total": quarantine.count(ws, tenant),
        "reasons": quarantine_reasons(ws, tenant),
    }


def _page(request: Request, who: Principal, tenant: str, **extra: Any) -> HTMLResponse:
    ws = workspace(request)
    _audit(ws, who, "sources.view")
    return render(request, "sources.html", who, "sources", **sources_data(ws, tenant), **extra)


def _audit(ws: Workspace, who: Principal, action: str, detail: str | None = None) -> None:
    """The quarantine shows raw payloads: a nominative read, written to the audit log."""
    from parcours.privacy.audit import record

    record(ws, cast(Any, who), action=action, customer=None, detail=detail)


@router.get("/t/{tenant}/sources", response_class=HTMLResponse)
def sources_page(
    request: Request, tenant: str, who: Principal = Depends(allow(*SOURCES_ROLES))
) -> HTMLResponse:
    return _page(request, who, tenant)


@router.post("/t/{tenant}/sources/keys", response_class=HTMLResponse)
def create_key(
    request: Request,
    tenant: str,
    channel: str = Form(""),
    who: Principal = Depends(allow(*SOURCES_ROLES)),
) -> HTMLResponse:
    from parcours.collect.keys import WriteKeyStore

    ws = workspace(request)
    key = WriteKeyStore(ws.state_dir).create(tenant, channel=channel.strip() or None)
    _audit(ws, who, "write_key.create", detail=key[:10])
    return _page(request, who, tenant, new_key=key)


@router.post("/t/{tenant}/sources/keys/{key_id}/revoke", response_class=HTMLResponse)
def revoke_key(
    request: Request, tenant: str, key_id: str, who: Principal = Depends(allow(*SOURCES_ROLES))
) -> HTMLResponse:
    from parcours.collect.keys import WriteKeyStore

    ws = workspace(request)
    WriteKeyStore(ws.state_dir).revoke(tenant, key_id)
    _audit(ws, who, "write_key.revoke", detail=key_id)
    return _page(request, who, tenant, notice=f"Write key {key_id}… revoked.")


@router.post("/t/{tenant}/sources/replay", response_class=HTMLResponse)
def replay(
    request: Request, tenant: str, who: Principal = Depends(allow(*SOURCES_ROLES))
) -> HTMLResponse:
    from parcours.collect import quarantine

    ws = workspace(request)
    result = quarantine.replay(ws, tenant)
    _audit(ws, who, "quarantine.replay", detail=f"replayed={result.replayed}")
    return _page(request, who, tenant, replay=result.to_dict())
