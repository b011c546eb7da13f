"""The auth dependency: 401 / 404 / 403 / allowed, by token and by session cookie."""

from __future__ import annotations

import pytest
from fastapi import Depends, Response
from fastapi.testclient import TestClient

from parcours.privacy.users import UserStore
from parcours.web.app import create_app
from parcours.web.auth import Principal, allow, login_session, logout


@pytest.fixture()
def client_tokens(workspace):
    app = create_app(workspace)

    @app.get("/api/v1/tenants/{tenant}/_probe")
    def probe(tenant: str, who: Principal = Depends(allow("admin", "data_scientist"))) -> dict:
        return {"user": who.user, "tenant": who.tenant, "role": who.role, "nominative": who.nominative}

    @app.post("/_login")
    def login(name: str, password: str, response: Response) -> dict:
        user = UserStore(workspace).check_password(name, password)
        login_session(response, workspace, user, "energie")
        return {"ok": True}

    @app.post("/_logout")
    def out(response: Response) -> dict:
        logout(response)
        return {"ok": True}

    store = UserStore(workspace)
    tokens = {
        "ds": store.create_user("ds", {"energie": "data_scientist"}, password="password-ds"),
        "mgr": store.create_user("mgr", {"energie": "manager"}),
        "fid": store.create_user("fid", {"fidelite": "admin"}),
    }
    return TestClient(app), tokens, store


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_statuses(client_tokens):
    client, tokens, _ = client_tokens
    r = client.get("/api/v1/tenants/energie/_probe")
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "AuthenticationError"
    assert client.get("/api/v1/tenants/energie/_probe", headers=_h("pt_nope")).status_code == 401
    assert client.get("/api/v1/tenants/energie/_probe", headers={"Authorization": "Basic x"}).status_code == 401
    r = client.get("/api/v1/tenants/energie/_probe", headers=_h(tokens["ds"]))
    assert r.status_code == 200
    assert r.json() == {"user": "ds", "tenant": "energie", "role": "data_scientist", "nominative": False}
    assert client.get("/api/v1/tenants/energie/_probe", headers=_h(tokens["mgr"])).status_code == 403
    # other tenant, and a tenant that does not exist: the same 404
    r1 = client.get("/api/v1/tenants/energie/_probe", headers=_h(tokens["fid"]))
    r2 = client.get("/api/v1/tenants/nosuch/_probe", headers=_h(tokens["fid"]))
    assert r1.status_code == r2.status_code == 404
    assert r1.json()["error"]["type"] == r2.json()["error"]["type"] == "TenantAccessError"


def test_session_cookie_and_revocation(client_tokens):
    client, _, store = client_tokens
    assert client.post("/_login", params={"name": "ds", "password": "bad-pass"}).status_code == 401
    r = client.post("/_login", params={"name": "ds", "password": "password-ds"})
    assert r.status_code == 200
    assert "httponly" in r.headers["set-cookie"].lower()
    assert "samesite=lax" in r.headers["set-cookie"].lower()
    assert client.get("/api/v1/tenants/energie/_probe").json()["role"] == "data_scientist"
    # a tampered cookie is no session
    good = client.cookies.get("parcours_session")
    client.cookies.clear()
    # flip the payload's first character (base64 tails carry padding bits: not a test)
    tampered = ("f" if good[0] != "f" else "g") + good[1:]
    for value in (tampered, "garbage"):
        r = client.get("/api/v1/tenants/energie/_probe", headers={"Cookie": f"parcours_session={value}"})
        assert r.status_code == 401
    r = client.get("/api/v1/tenants/energie/_probe", headers={"Cookie": f"parcours_session={good}"})
    assert r.status_code == 200
    client.cookies.set("parcours_session", good)
    store.set_password("ds", "another-password")  # ends open sessions
    assert client.get("/api/v1/tenants/energie/_probe").status_code == 401
    client.post("/_login", params={"name": "ds", "password": "another-password"})
    assert client.get("/api/v1/tenants/energie/_probe").status_code == 200
    client.post("/_logout")
    assert client.get("/api/v1/tenants/energie/_probe").status_code == 401


def test_allow_requires_roles():
    with pytest.raises(ValueError):
        allow()
    with pytest.raises(ValueError):
        allow("root")
