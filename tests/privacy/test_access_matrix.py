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
    ("POST", "/api/v1/tenants/{tenant}/gdpr/export"): RAW,
    ("POST", "/api/v1/tenants/{tenant}/gdpr/erase"): RAW,
    ("POST", "/api/v1/tenants/{tenant}/reidentify"): RAW,
    # data hub pages (same auth, HTML answers; no credentials -> redirect to /login)
    ("GET", "/t/{tenant}/overview"): ALL,
    ("GET", "/t/{tenant}/sources"): RAW,
    ("POST", "/t/{tenant}/sources/keys"): RAW,
    ("POST", "/t/{tenant}/sources/keys/{key_id}/revoke"): RAW,
    ("POST", "/t/{tenant}/sources/replay"): RAW,
    ("GET", "/t/{tenant}/customers"): ALL - {"manager"},
    ("GET", "/t/{tenant}/customers/{key}"): ALL - {"manager"},
    # journeys pages show aggregates only
    ("GET", "/t/{tenant}/journeys/paths"): ALL,
    ("GET", "/t/{tenant}/journeys/funnel"): ALL,
    ("GET", "/t/{tenant}/journeys/precursors"): ALL,
    ("GET", "/t/{tenant}/journeys/channels"): ALL,
    ("GET", "/t/{tenant}/journeys/retention"): ALL,
    # journeys API: aggregates only
    ("GET", "/api/v1/tenants/{tenant}/journeys/paths"): ALL,
    ("GET", "/api/v1/tenants/{tenant}/journeys/funnel"): ALL,
    ("GET", "/api/v1/tenants/{tenant}/journeys/precursors"): ALL,
    ("GET", "/api/v1/tenants/{tenant}/journeys/channels"): ALL,
    ("GET", "/api/v1/tenants/{tenant}/journeys/before-call"): ALL,
    ("GET", "/api/v1/tenants/{tenant}/journeys/retention"): ALL,
    ("GET", "/api/v1/tenants/{tenant}/customers/{key}"): {
        "admin", "data_manager", "advisor", "data_scientist"
    },
}

#: Routes outside any tenant: path (regex) -> why it needs no role.
PUBLIC: dict[str, str] = {
    r"/health": "liveness probe: version and nothing else",
    r"/openapi\.json|/docs.*|/redoc": "API documentation (no data)",
    r"/assets/plotly\.min\.js|/assets/docs/\{name\}": "static JavaScript/CSS of the hub and docs",
    r"/login|/logout": "sign-in and sign-out forms",
    r"/": "redirects to /login or to the user's first tenant",
    r"/switch": "redirects to the same page of another tenant; that page checks access",
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


def _error_type(r) -> str | None:
    """The JSON error type of an API answer; None for an HTML page (the hub's pages
    answer errors as pages; a 404 page says nothing about other tenants either)."""
    if r.status_code < 400 or not r.headers.get("content-type", "").startswith("application/json"):
        return None
    return r.json().get("error", {}).get("type")


def _call(client, method, url, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs = {"json": {}} if method in {"POST", "PUT", "PATCH"} else {}
    return client.request(method, url, headers=headers, follow_redirects=False, **kwargs)


def unknown_routes(app) -> list[str]:
    unknown = []
    for method, path, _ in _routes(app):
        if "{tenant}" in path:
            if (method, path) not in EXPECTED:
                unknown.append(f"{method} {path}")
        elif not any(re.fullmatch(p, path) for p in (*PUBLIC, *SIGNED_IN)):
            unknown.append(f"{method} {path}")
    return unknown


def matrix_problems(client, tokens, expected) -> list[str]:
    problems = []
    for method, path, _ in _routes(client.app):
        if (method, path) not in expected:
            continue
        allowed = expected[(method, path)]
        for tenant, other in (("energie", "fidelite"), ("fidelite", "energie")):
            url = _fill(path, tenant)
            r = _call(client, method, url)
            if r.status_code not in (401, 303, 307) or (
                r.status_code != 401 and "login" not in r.headers.get("location", "")
            ):
                problems.append(f"{method} {url} without credentials -> {r.status_code}")
            for role in ROLES:
                r = _call(client, method, url, tokens[(tenant, role)])
                kind = _error_type(r)
                if role in allowed:
                    if r.status_code in (401, 403) or kind == "TenantAccessError" or r.status_code >= 500:
                        problems.append(f"{method} {url} as {role}: {r.status_code} {kind} (allowed)")
                elif r.status_code != 403:
                    problems.append(f"{method} {url} as {role}: {r.status_code} (want 403)")
                # the same role of the other tenant: 404, whatever the role
                r = _call(client, method, url, tokens[(other, role)])
                if r.status_code != 404 or _error_type(r) not in ("TenantAccessError", None):
                    problems.append(f"{method} {url} as {role} of {other}: {r.status_code} (want 404)")
    return problems


def test_every_route_is_in_the_table(setup):
    _, client, _ = setup
    unknown = unknown_routes(client.app)
    assert not unknown, (
        "routes without an entry in tests/privacy/test_access_matrix.py (add who may call "
        f"them to EXPECTED, or why they are public to PUBLIC): {unknown}"
    )


def test_matrix(setup):
    _, client, tokens = setup
    problems = matrix_problems(client, tokens, EXPECTED)
    assert not problems, "\n".join(problems)


def test_an_unguarded_route_fails_the_matrix(setup):
    """The matrix is not a test that cannot fail: a route without allow() is caught twice
    (missing from the table; and once listed, answering without credentials)."""
    from fastapi import Depends

    from parcours.web.auth import Principal, allow

    ws, _, tokens = setup
    app = create_app(ws)

    @app.get("/api/v1/tenants/{tenant}/leak")
    def leak(tenant: str) -> dict:
        return {"tenant": tenant}

    @app.get("/api/v1/tenants/{tenant}/too_wide")
    def too_wide(tenant: str, who: Principal = Depends(allow(*ROLES))) -> dict:
        return {}

    assert unknown_routes(app) == ["GET /api/v1/tenants/{tenant}/leak", "GET /api/v1/tenants/{tenant}/too_wide"]
    client = TestClient(app, raise_server_exceptions=False)
    expected = {("GET", "/api/v1/tenants/{tenant}/leak"): {"admin"},
                ("GET", "/api/v1/tenants/{tenant}/too_wide"): {"admin"}}
    problems = matrix_problems(client, tokens, expected)
    assert any("leak without credentials -> 200" in p for p in problems)
    assert any("too_wide as manager: 200 (want 403)" in p for p in problems)
    assert not any("too_wide as" in p and "of " in p for p in problems)  # other tenant: 404 ok


def test_public_routes_answer_without_credentials(setup):
    _, client, _ = setup
    checked = 0
    for method, path, _ in _routes(client.app):
        if method != "GET" or "{" in path or not any(re.fullmatch(p, path) for p in PUBLIC):
            continue
        r = _call(client, method, path)
        # open to all: a page, a redirect to sign-in, or "missing parameter" — never 401/403
        assert r.status_code in (200, 422) or (
            r.status_code == 303 and r.headers["location"] == "/login"), path
        checked += 1
    assert checked >= 3


def test_public_answers_name_no_tenant(setup):
    _, client, _ = setup
    for path in ("/health", "/openapi.json"):
        r = client.get(path)
        assert r.status_code == 200
        assert "energie" not in r.text and "fidelite" not in r.text, path
