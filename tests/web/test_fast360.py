"""The 360 view's plain-ASGI hot path answers exactly as the FastAPI route does."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from parcours.collect.server import build_app
from parcours.identity import resolve
from parcours.privacy import audit
from parcours.privacy.users import UserStore
from parcours.web.app import create_app
from parcours.web.fast360 import ROLES, Fast360
from tests.identity import world


@pytest.fixture()
def clients(workspace):
    world.build(workspace)
    workspace.write("energie", "events", world.events_table([
        world.event(user_id="C001", channel="app" if i % 3 == 0 else "web", event_name=f"e{i:03d}",
                    minutes=100 + i) for i in range(30)
    ]))
    resolve(workspace, "energie")
    users = UserStore(workspace)
    tokens = {role: users.create_user(role, {"energie": role}, password=None)
              for role in ("advisor", "data_manager", "data_scientist", "manager", "admin")}
    tokens["other tenant"] = users.create_user("other", {"fidelite": "advisor"}, password=None)
    with TestClient(create_app(workspace)) as plain, TestClient(build_app(workspace)) as served:
        yield workspace, plain, served, tokens


#: (token's role, key, query string) — plain requests the hot path answers, and every
#: kind of request it must leave to FastAPI
CASES = [
    ("advisor", "C001", ""),
    ("advisor", "anne@example.org", "channel=app&page=1&page_size=5"),
    ("advisor", "C001", "page=2&page_size=7"),
    ("advisor", "C001", "channel=web&page=3&page_size=4"),
    ("advisor", "C001", "channel="),
    ("advisor", "C001", "channel=call%20center%2F%C3%A9"),
    ("data_manager", "C002", "page_size=200"),
    ("admin", "C001", "page=1"),
    ("data_scientist", "C001", ""),  # pseudonymized: the plain key is pseudonymized first
    ("data_scientist", "C001", "page=2&page_size=10"),
    ("advisor", "C001", "page=0"),  # left to FastAPI from here on: its 422s and conversions
    ("advisor", "C001", "page=01"),
    ("advisor", "C001", "page_size=201"),
    ("advisor", "C001", "page=-1"),
    ("advisor", "C001", "page=x"),
    ("advisor", "C001", "page=1&page=2"),
    ("advisor", "C001", "unknown=1"),
    ("advisor", "nobody@example.org", ""),  # 404
    ("manager", "C001", ""),  # 403
    ("other tenant", "C001", ""),  # 404: no role in this tenant
    (None, "C001", ""),  # 401
    ("bad token", "C001", ""),  # 401
]


def _get(client: TestClient, tokens: dict[str, str], role: str | None, key: str, query: str):
    headers = {}
    if role is not None:
        headers["Authorization"] = f"Bearer {tokens.get(role, 'pc_not-a-token')}"
    return client.get(f"/api/v1/tenants/energie/customers/{key}" + (f"?{query}" if query else ""),
                      headers=headers)


def test_same_answers_as_the_fastapi_route(clients):
    ws, plain, served, tokens = clients
    answered = 0
    for role, key, query in CASES:
        want = _get(plain, tokens, role, key, query)
        before = len(audit.read(ws, "energie"))
        got = _get(served, tokens, role, key, query)
        case = (role, key, query)
        assert got.status_code == want.status_code, case
        assert got.content == want.content, case
        assert got.headers.get("content-type") == want.headers.get("content-type"), case
        assert got.headers.get("www-authenticate") == want.headers.get("www-authenticate"), case
        # one audit line per nominative read that succeeded, none for a refused one
        audited = want.status_code == 200 and role in ("advisor", "data_manager", "admin")
        assert len(audit.read(ws, "energie")) - before == int(audited), case
        answered += want.status_code == 200
    assert answered == 13  # the ten plain cases, and FastAPI's "01", repeated page, unknown parameter
    assert plain.get("/api/v1/tenants/energie/customers/C001", headers={
        "Authorization": f"Bearer {tokens['advisor']}"}).json()["profile"]["traits"]["firstName"] == "Anne"


def test_the_hot_path_answers_the_plain_requests_itself(clients, monkeypatch):
    ws, _, served, tokens = clients
    calls: list[str] = []
    app = served.app.web
    assert isinstance(app, Fast360)
    inner = app.app

    async def counting(scope, receive, send):
        calls.append(scope["path"])
        await inner(scope, receive, send)

    monkeypatch.setattr(app, "app", counting)
    assert _get(served, tokens, "advisor", "C001", "channel=app&page=2&page_size=3").status_code == 200
    assert _get(served, tokens, "data_scientist", "C001", "").status_code == 200
    assert calls == []  # FastAPI never saw them
    assert _get(served, tokens, "advisor", "C001", "page=0").status_code == 422
    assert _get(served, tokens, "manager", "C001", "").status_code == 403
    assert calls == ["/api/v1/tenants/energie/customers/C001"] * 2


def test_roles_are_the_routes():
    import inspect

    from parcours.web.routes.customers import customer_360

    who = inspect.signature(customer_360).parameters["who"].default
    assert who.dependency.allowed_roles == ROLES
