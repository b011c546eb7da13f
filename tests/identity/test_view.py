"""The 360° view: Python, API (roles, audit, zones, paging) and CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from parcours.identity import resolve
from parcours.privacy import audit
from parcours.privacy.pseudonymize import pseudonym
from parcours.privacy.users import UserStore
from parcours.web.app import create_app
from tests.identity import world


@pytest.fixture()
def served(workspace):
    world.build(workspace)
    more = [world.event(user_id="C001", channel="app" if i % 3 == 0 else "web",
                        event_name=f"e{i:03d}", minutes=100 + i) for i in range(30)]
    workspace.write("energie", "events", world.events_table(more))
    resolve(workspace, "energie")
    store = UserStore(workspace)
    tokens = {role: store.create_user(role, {"energie": role}, password=None)
              for role in ("advisor", "data_manager", "data_scientist", "manager", "admin")}
    return workspace, TestClient(create_app(workspace)), tokens


def _get(client, token, key, **params):
    return client.get(f"/api/v1/tenants/energie/customers/{key}", params=params,
                      headers={"Authorization": f"Bearer {token}"})


def test_python_view_any_identifier(served):
    ws, _, _ = served
    a = ws.customer("energie", "C001")
    assert ws.customer("energie", "anne@example.org").profile_id == a.profile_id
    assert ws.customer("energie", a.profile_id).profile_id == a.profile_id
    assert a.profile["traits"]["firstName"] == "Anne"
    assert a.profile["attributes"]["events"] == 34
    assert a.profile["attributes"]["events_per_channel"] == {"web": 24, "app": 10}
    # newest first, paged
    assert [e["event"] for e in a.timeline[:3]] == ["e029", "e028", "e027"]
    p2 = ws.customer("energie", "C001", page=2, page_size=10)
    assert [e["event"] for e in p2.timeline][:2] == ["e019", "e018"] and p2.next_page == 3
    app_only = ws.customer("energie", "C001", channel="app", page_size=200)
    assert len(app_only.timeline) == 10 and {e["channel"] for e in app_only.timeline} == {"app"}
    assert app_only.next_page is None


def test_deep_pages_come_from_the_lake(served, monkeypatch):
    ws, _, _ = served
    import parcours.identity.serving as serving

    full = [e["message_id"] for e in ws.customer("energie", "C001", page_size=200).timeline]
    monkeypatch.setattr(serving, "TIMELINE_DEPTH", 12)
    deep = ws.customer("energie", "C001", page=3, page_size=10)
    assert [e["message_id"] for e in deep.timeline] == full[20:30]


def test_api_roles_zones_and_audit(served):
    ws, client, tokens = served
    before = len(audit.read(ws, "energie"))
    r = _get(client, tokens["advisor"], "anne@example.org")
    assert r.status_code == 200
    body = r.json()
    assert body["zone"] == "raw" and body["profile"]["traits"]["email"] == "anne@example.org"
    log = audit.read(ws, "energie")
    assert len(log) == before + 1
    assert log[-1]["action"] == "view_360" and log[-1]["user"] == "advisor"
    assert log[-1]["customer"] == body["profile_id"]
    assert _get(client, tokens["data_manager"], "C001").json()["profile_id"] == body["profile_id"]

    # data scientist: pseudonymized view, with a plain key or its pseudonym; not audited
    n = len(audit.read(ws, "energie"))
    ds = _get(client, tokens["data_scientist"], "C001").json()
    secret = ws.keys.get("energie")
    assert ds["zone"] == "analytics" and ds["profile_id"] == body["profile_id"]
    assert ds["profile"]["traits"]["email"] == pseudonym(secret, "anne@example.org")
    assert "anne@example.org" not in json.dumps(ds) and "Anne" not in json.dumps(ds)
    assert _get(client, tokens["data_scientist"], pseudonym(secret, "C001")).json()["profile_id"] == ds["profile_id"]
    assert len(audit.read(ws, "energie")) == n

    assert _get(client, tokens["manager"], "C001").status_code == 403
    r = _get(client, tokens["advisor"], "nobody@example.org")
    assert r.status_code == 404 and r.json()["error"]["type"] == "UnknownCustomerError"
    r = _get(client, tokens["advisor"], "a-household-tablet")  # shared by Anne and Bruno
    assert r.status_code == 409 and len(r.json()["error"]["profiles"]) == 2
    assert _get(client, tokens["advisor"], "C001", page_size=500).status_code == 422


def test_cli_customer_and_explain(served):
    ws, _, _ = served
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, "-m", "parcours.cli", "customer", "C002", "--tenant", "energie",
         "-w", str(ws.path), "--json"], capture_output=True, text=True, env=env, check=True,
    )
    view = json.loads(out.stdout)
    assert view["profile"]["traits"]["lastName"] == "Petit"
    out = subprocess.run(
        [sys.executable, "-m", "parcours.cli", "identity", "explain", "C001", "--tenant", "energie",
         "-w", str(ws.path), "--json"], capture_output=True, text=True, env=env, check=True,
    )
    x = json.loads(out.stdout)
    kinds = {(e["a"], e["b"], e["kind"]) for e in x["edges"]}
    assert ("anonymous_id:a-anne-1", "user_id:C001", "identify") in kinds
    cut = {(e["a"], e["b"], e["cut_by"]) for e in x["cut"]}
    assert ("anonymous_id:a-household-tablet", "user_id:C001", "shared_identifier:user_id") in cut
    bad = subprocess.run(
        [sys.executable, "-m", "parcours.cli", "customer", "nobody", "--tenant", "energie",
         "-w", str(ws.path)], capture_output=True, text=True, env=env,
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "no customer" in bad.stderr


def test_store_pages_equal_the_lakes_for_every_channel_size_and_page(served, monkeypatch):
    """Chunk boundaries (7 events a chunk here), channel lists and the +1 look-ahead: every
    page the store answers is exactly the page the lake answers, field for field."""
    ws, _, _ = served
    import parcours.identity.serving as serving

    monkeypatch.setattr(serving, "CHUNK", 7)
    serving.refresh(ws, "energie", "raw")
    cases = [(ch, size, page) for ch in (None, "app", "web") for size in (1, 3, 7, 10, 50)
             for page in (1, 2, 3, 5)]
    from_store = {c: ws.customer("energie", "C001", channel=c[0], page_size=c[1], page=c[2]) for c in cases}
    monkeypatch.setattr(serving, "TIMELINE_DEPTH", 0)  # every page from the lake now
    for c, got in from_store.items():
        want = ws.customer("energie", "C001", channel=c[0], page_size=c[1], page=c[2])
        assert got.timeline == want.timeline, c
        assert got.next_page == want.next_page, c
    full = from_store[(None, 50, 1)].timeline
    assert len(full) == 34 and full[0]["event"] == "e029"
    assert from_store[("app", 3, 2)].timeline[0]["channel"] == "app"


def test_a_store_of_another_version_is_rebuilt_on_first_use(served):
    import sqlite3

    ws, _, _ = served
    import parcours.identity.serving as serving

    path = serving.store(ws, "energie", "raw").path
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = 'old' WHERE name = 'schema'")
    con.execute("DELETE FROM timeline")
    con.commit()
    con.close()
    assert not serving.current(serving.store(ws, "energie", "raw"))
    view = ws.customer("energie", "C001")
    assert len(view.timeline) == 34 and serving.current(serving.store(ws, "energie", "raw"))


def test_the_store_built_off_the_engine_equals_the_one_built_on_it(served, monkeypatch):
    """On an engine other than DuckDB (Spark), the rows are shaped by a local DuckDB over
    the Arrow results, and on a large lake in parts: the same store, table for table."""
    import sqlite3

    ws, _, _ = served
    import parcours.identity.serving as serving

    def dump() -> dict[str, list[tuple]]:
        con = sqlite3.connect(serving.store(ws, "energie", "analytics").path)
        try:
            return {t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                    for t in ("keys", "profiles", "timeline", "verbatims", "meta")}
        finally:
            con.close()

    serving.refresh(ws, "energie", "analytics")
    native = dump()
    # past PART_EVENTS the timeline is shaped in parts of the profiles: the same rows
    monkeypatch.setattr(serving, "PART_EVENTS", 7)
    serving.refresh(ws, "energie", "analytics")
    assert dump() == native
    assert not list((ws.state_dir / "serving-scratch").iterdir())  # the parts' files are gone
    monkeypatch.setattr(ws.engine, "kind", "not-duckdb")
    serving.refresh(ws, "energie", "analytics")
    assert dump() == native
    assert len(native["timeline"]) >= 3 and len(native["profiles"]) >= 2


@pytest.fixture()
def busy(workspace):
    """Anne with 61 events on five channels (one named with a space, a slash and an
    accent, so its JSON has no single spelling), ties on the timestamp, and properties
    that are JSON, not JSON, or missing."""
    world.build(workspace)
    channels = ["web", "app", "email", "call center/é", "web", "app", "web"]
    more = []
    for i in range(57):
        e = world.event(user_id="C001", channel=channels[i % len(channels)], event_name=f"b{i:03d}",
                        minutes=200 + i // 3)  # three events a minute: ties broken by message id
        e["properties"] = (None if i % 5 == 0 else "not json" if i % 5 == 1
                           else json.dumps({"i": i, "nested": {"ok": True}, "text": "déjà vu"}))
        more.append(e)
    workspace.write("energie", "events", world.events_table(more))
    resolve(workspace, "energie")
    return workspace


def test_every_page_of_every_channel_equals_the_lakes_whole_or_cut(busy, monkeypatch):
    """Each event is stored once; a channel's pages are answered from the all-channels
    chunks through the chunk index. Whole store (every event kept) and cut store (only the
    20 newest kept: older pages, and channel pages running past them, come from the
    lake): every page equals the lake's, field for field, look-ahead included."""
    import sqlite3

    ws = busy
    import parcours.identity.serving as serving

    n = ws.customer("energie", "C001").profile["attributes"]["events"]
    assert n == 61
    channels = (None, "app", "web", "email", "call center/é", "nope")
    cases = [(ch, size, page) for ch in channels for size in (3, 7, 50) for page in (1, 2, 9)]
    for depth in (10_000, 20):
        monkeypatch.setattr(serving, "CHUNK", 7)
        monkeypatch.setattr(serving, "TIMELINE_DEPTH", depth)
        serving.refresh(ws, "energie", "raw")
        pid = ws.customer("energie", "C001").profile_id
        con = sqlite3.connect(serving.store(ws, "energie", "raw").path)
        rows = con.execute("SELECT chunk, size, channels FROM timeline WHERE profile_id = ? ORDER BY chunk",
                           (pid,)).fetchall()
        con.close()
        kept = min(n, depth)
        assert [r[0] for r in rows] == list(range(-(-kept // 7)))  # each event once, chunks of 7
        assert sum(r[1] for r in rows) == kept
        assert sum(sum(json.loads(r[2]).values()) for r in rows) == kept
        from_store = {c: ws.customer("energie", "C001", channel=c[0], page_size=c[1], page=c[2]) for c in cases}
        monkeypatch.setattr(serving, "TIMELINE_DEPTH", 0)  # every page from the lake now
        for c, got in from_store.items():
            want = ws.customer("energie", "C001", channel=c[0], page_size=c[1], page=c[2])
            assert got.timeline == want.timeline, (depth, c)
            assert got.next_page == want.next_page, (depth, c)
        everything = from_store[(None, 50, 1)].timeline + from_store[(None, 50, 2)].timeline
        assert len(everything) == 61 and from_store[(None, 50, 2)].next_page is None
        odd = [e for e in everything if e["channel"] == "call center/é"]
        assert [e["event"] for e in from_store[("call center/é", 50, 1)].timeline] == [e["event"] for e in odd]
        assert len(odd) == 8 and from_store[("nope", 7, 1)].timeline == []
        props = {e["event"]: e["properties"] for e in everything}
        assert props["b000"] is None and props["b001"] == "not json"
        assert props["b002"] == {"i": 2, "nested": {"ok": True}, "text": "déjà vu"}


def test_the_api_body_is_the_views_json(busy):
    """The endpoint splices the stored JSON text: its body parses to the view's
    ``to_dict()``, for every role's zone and with a channel filter."""
    ws = busy
    client = TestClient(create_app(ws))
    store = UserStore(ws)
    for role, zone in (("advisor", "raw"), ("data_scientist", "analytics")):
        token = store.create_user(f"{role}-2", {"energie": role}, password=None)
        for params in ({}, {"channel": "app", "page": 2, "page_size": 5}, {"channel": "call center/é"}):
            r = _get(client, token, "C001", **params)
            assert r.status_code == 200 and r.headers["content-type"] == "application/json"
            view = ws.customer("energie", "C001", zone=zone, channel=params.get("channel"),
                               page=params.get("page", 1), page_size=params.get("page_size", 50))
            body = r.json()
            assert body == view.to_dict()
            assert list(body) == ["tenant", "zone", "profile_id", "profile", "identifiers", "timeline", "page",
                                  "page_size", "next_page", "verbatims", "summary", "merged_from", "channel"]
            assert body["zone"] == zone and body["timeline"]
            assert {e["channel"] for e in body["timeline"]} == ({params["channel"]} if "channel" in params
                                                               else {"web", "app", "email", "call center/é"})
