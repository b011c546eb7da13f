"""The hub's pages through the ASGI app: sign-in, access, error shapes, local assets."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from parcours.web.app import create_app
from parcours.web.demo_users import create_demo_users
from parcours.web.pages import cache


@pytest.fixture()
def hub(small_world):
    cache.clear()
    users = {u.name: u for u in create_demo_users(small_world)}
    with TestClient(create_app(small_world)) as client:
        yield client, users


def sign_in(client: TestClient, user) -> None:
    r = client.post("/login", data={"user": user.name, "password": user.password},
                    follow_redirects=False)
    assert r.status_code == 303, r.text


def test_pages_redirect_to_sign_in_and_back(hub):
    client, users = hub
    r = client.get("/t/energie/overview", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Ft%2Fenergie%2Foverview"
    r = client.post("/login", data={"user": "admin-energie", "password": users["admin-energie"].password,
                                    "next": "/t/energie/overview"}, follow_redirects=False)
    assert r.headers["location"] == "/t/energie/overview"
    page = client.get("/t/energie/overview")
    assert page.status_code == 200
    assert re.search(r'id="kpi-events".*?data-value>9<', page.text, re.S)
    assert 'data-channel="web"' in page.text and 'data-events="5"' in page.text


def test_wrong_password_and_open_redirect_are_refused(hub):
    client, users = hub
    r = client.post("/login", data={"user": "admin-energie", "password": "not-the-password"})
    assert r.status_code == 401 and "Unknown user or wrong password" in r.text
    r = client.post("/login", data={"user": "nobody", "password": "whatever-it-is"})
    assert r.status_code == 401 and "Unknown user or wrong password" in r.text
    r = client.post("/login", data={"user": "admin-energie", "password": users["admin-energie"].password,
                                    "next": "//evil.example/t/x"}, follow_redirects=False)
    assert r.headers["location"] == "/t/energie/overview"


def test_roles_and_tenants_are_enforced_on_pages(hub):
    client, users = hub
    sign_in(client, users["manager-energie"])
    assert client.get("/t/energie/overview").status_code == 200
    r = client.get("/t/energie/sources")
    assert r.status_code == 403 and "text/html" in r.headers["content-type"]
    assert client.get("/t/fidelite/overview").status_code == 404
    nav = client.get("/t/energie/overview").text
    assert "/t/energie/sources\"" not in nav.split("</nav>")[0]  # the menu hides what they cannot open
    assert "missing timestamp" not in nav  # quarantine reasons can quote raw values
    assert "2 rows wait in quarantine" in nav


def test_sign_out_ends_the_session(hub):
    client, users = hub
    sign_in(client, users["admin"])
    assert client.get("/t/fidelite/overview").status_code == 200
    client.post("/logout")
    assert client.get("/t/fidelite/overview", follow_redirects=False).status_code == 303


def test_tenant_switch_keeps_the_page(hub):
    client, users = hub
    sign_in(client, users["admin"])
    page = client.get("/t/energie/overview").text
    assert '<option value="fidelite"' in page
    r = client.get("/switch", params={"tenant": "fidelite", "page": "journeys/funnel"},
                   follow_redirects=False)
    assert r.headers["location"] == "/t/fidelite/journeys/funnel"
    r = client.get("/switch", params={"tenant": "fidelite", "page": "customers/px123"},
                   follow_redirects=False)
    assert r.headers["location"] == "/t/fidelite/customers"


def test_api_keeps_the_json_error_shape(hub):
    client, _ = hub
    r = client.get("/api/v1/tenants/energie/tables")
    assert r.status_code == 401
    assert set(r.json()["error"]) >= {"type", "message"}


def test_docs_and_assets_are_served_locally(hub):
    client, _ = hub
    docs = client.get("/docs").text
    assert "/assets/docs/swagger-ui-bundle.js" in docs
    assert not re.search(r"https?://", docs), "the docs page must not load anything from the web"
    redoc = client.get("/redoc").text
    assert "/assets/docs/redoc.standalone.js" in redoc and not re.search(r"(src|href)=\"https?://", redoc)
    js = client.get("/assets/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000 and b"plotly" in js.content[:2000].lower()
    assert client.get("/assets/docs/swagger-ui.css").status_code == 200
    assert client.get("/assets/docs/../../etc/passwd").status_code == 404
    assert client.get("/openapi.json").json()["info"]["title"] == "parcours"


def test_pages_carry_a_content_security_policy(hub):
    client, users = hub
    sign_in(client, users["admin-energie"])
    r = client.get("/t/energie/overview")
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "onchange=" not in r.text and "onclick=" not in r.text  # no inline script
    assert r.headers["x-frame-options"] == "DENY"
    assert "content-security-policy" in client.get("/login").headers


def test_health_says_when_the_start_up_warm_up_is_done(small_world):
    import threading
    import time

    from parcours.web.pages import warmup

    cache.clear()
    gate = threading.Event()
    warmup.WARMERS.append(lambda ws, tenant: gate.wait(30))  # a warm-up that waits for us
    try:
        with TestClient(create_app(small_world)) as client:
            body = client.get("/health").json()
            assert body["status"] == "ok" and body["warm"] is False
            gate.set()
            deadline = time.monotonic() + 30
            while not client.get("/health").json()["warm"]:
                assert time.monotonic() < deadline, "the warm-up never finished"
                time.sleep(0.05)
    finally:
        warmup.WARMERS.pop()


def test_no_warm_up_when_the_setting_is_off(small_world, monkeypatch):
    from parcours.web.pages import warmup

    cache.clear()
    calls: list[str] = []
    monkeypatch.setattr(small_world.settings.serve, "warm_up", False)
    app = create_app(small_world)  # (installing the pages resets the warmers)
    monkeypatch.setattr(warmup, "WARMERS", [lambda ws, tenant: calls.append(tenant)])
    with TestClient(app) as client:
        assert client.get("/health").json()["warm"] is True
    assert calls == []
    monkeypatch.setattr(small_world.settings.serve, "warm_up", True)
    with TestClient(app) as client:
        client.get("/health")
    assert sorted(calls) == sorted(small_world.tenants())
