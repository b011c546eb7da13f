"""Every route of the app, called as every role of two tenants, without credentials and
as the other tenant's users: the answer must match the table below.

A route missing from the table fails this test: its author adds one line saying who may
call it (roles) or why it is public. That is how "default deny" is kept.
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount

from parcours.privacy.roles import ROLES
from parcours.privacy.users import UserStore
from parcours.web.app import create_app

ALL = set(ROLES)
RAW = {"admin", "data_manager"}

#: (method, path) -> roles allowed in the path's tenant. Every tenant route is here.
EXPECTED: dict[tuple[str, str], set[str]] = {
    ("GET", "/api/v1/tenants/{tenant}/tables"): {"admin", "data_manager", "data_scientist", "manager"},
    ("POST", "/api/v1/tenants/{tenant}/sql"): {"admin", "data_manager", "data_scientist"},
    ("GET", "/api/v1/tenants/{tenant}/audit"): {"admin"},
    ("GET", "/api/v1/tenants/{tenant}/gdpr/customers/{customer}/export"): RAW,
    ("POST", "/api/v1/tenants/{tenant}/gdpr/customers/{customer}/erase"): RAW,
}

#: Routes outside any tenant: path (regex) -> why it needs no role.
PUBLIC: dict[str, str] = {
    r"/health": "liveness probe: version and nothing else",
    r"/openapi\.json|/docs.*|/redoc": "API documentation (no data)",
}

#: Routes for any signed-in user, outside a tenant: path -> why.
SIGNED_IN: dict[str, str] = {}


def _routes(app):
    """Every (method, path) the app answers, routers included (FastAPI >= 0.165 keeps
    included routers lazy; iter_route_contexts flattens them)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        contexts = app.routes
    else:
        contexts = iter_route_contexts(app.routes)
    for ctx in contexts:
        route = getattr(ctx, "original_route", ctx)
        if isinstance(route, Mount | APIWebSocketRoute) or ctx.path is None:
            continue
        methods = getattr(ctx, "methods", None) or getattr(route, "methods", None) or {"GET"}
        for method in sorted(set(methods) - {"HEAD", "OPTIONS"}):
            yield method, ctx.path, route


def _fill(path: str, tenant: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: tenant if m.group(1) == "tenant" else "x1", path)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import parcours

    ws = parcours.init(tmp_path_factory.mktemp("matrix") / "ws")
    ws.create_tenant("energie")
    ws.create_tenant("fidelite")
    store = UserStore(ws)
    tokens = {
        (tenant, role): store.create_user(f"{role}-{tenant}", {tenant: role})
        for tenant in ("energie", "fidelite")
        for role in ROLES
    }
    client = TestClient(create_app(ws), raise_server_exceptions=False)
    yield ws, client, tokens
    ws.close()


def _call(client, method, url, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs = {"json": {}} if method in {"POST", "PUT", "PATCH"} else {}
    return client.request(method, url, headers=headers, follow_redirects=False, **kwargs)


def test_every_route_is_in_the_table(setup):
    _, client, _ = setup
    unknown = []
    for method, path, _ in _routes(client.app):
        if "{tenant}" in path:
            if (method, path) not in EXPECTED:
                unknown.append(f"{method} {path}")
        elif not any(re.fullmatch(p, path) for p in (*PUBLIC, *SIGNED_IN)):
            unknown.append(f"{method} {path}")
    assert not unknown, (
        "routes without an entry in tests/privacy/test_access_matrix.py (add who may call "
        f"them to EXPECTED, or why they are public to PUBLIC): {unknown}"
    )


def test_matrix(setup):
    _, client, tokens = setup
    problems = []
    for method, path, _ in _routes(client.app):
        if (method, path) not in EXPECTED:
            continue
        allowed = EXPECTED[(method, path)]
        for tenant, other in (("energie", "fidelite"), ("fidelite", "energie")):
            url = _fill(path, tenant)
            r = _call(client, method, url)
            if r.status_code not in (401, 303, 307) or (
                r.status_code != 401 and "login" not in r.headers.get("location", "")
            ):
                problems.append(f"{method} {url} without credentials -> {r.status_code}")
            for role in ROLES:
                r = _call(client, method, url, tokens[(tenant, role)])
                kind = r.json().get("error", {}).get("type") if r.headers.get(
                    "content-type", "").startswith("application/json") and r.status_code >= 400 else None
                if role in allowed:
                    if r.status_code in (401, 403) or kind == "TenantAccessError" or r.status_code >= 500:
                        problems.append(f"{method} {url} as {role}: {r.status_code} {kind} (allowed)")
                elif r.status_code != 403:
                    problems.append(f"{method} {url} as {role}: {r.status_code} (want 403)")
                # the same role of the other tenant: 404, whatever the role
                r = _call(client, method, url, tokens[(other, role)])
                if r.status_code != 404 or r.json()["error"]["type"] != "TenantAccessError":
                    problems.append(f"{method} {url} as {role} of {other}: {r.status_code} (want 404)")
    assert not problems, "\n".join(problems)


def test_public_routes_answer_without_credentials(setup):
    _, client, _ = setup
    for method, path, _ in _routes(client.app):
        if "{" in path or not any(re.fullmatch(p, path) for p in PUBLIC):
            continue
        assert _call(client, method, path).status_code == 200, path
