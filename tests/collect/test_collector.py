"""The HTTP collector: answers, limits, write keys, tenants, durability, dedupe."""

from __future__ import annotations

import gzip
import json

from parcours.collect.loader import load_spool


def ev(mid: str, **kw: object) -> dict:
    out = {"type": "track", "messageId": mid, "userId": "u1", "event": "Login",
           "timestamp": "2026-02-03T04:05:06.789Z", "properties": {"k": mid}}
    out.update(kw)
    return out


def test_batch_partial_accept_names_each_rejection(harness):
    key = harness.keys.create("energie")
    batch = [ev("a"), ev("b", messageId=None), ev("c", timestamp="yesterday"), ev("d", userId=None),
             ev("e", type="bogus"), ev("f", properties=[1, 2]), ev("g")]
    r = harness.post("/v1/batch", json={"writeKey": key, "batch": batch})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "InvalidEvents" and err["accepted"] == 2 and err["quarantined"] is True
    reasons = {x["index"]: x["reason"] for x in err["rejected"]}
    assert set(reasons) == {1, 2, 3, 4, 5}
    assert "messageId is required" in reasons[1]
    assert "datetime" in reasons[2] and "timestamp" in reasons[2]
    assert "userId or anonymousId" in reasons[3]
    assert "unknown type" in reasons[4]
    assert "properties must be a JSON object" in reasons[5]
    harness.seal()
    res = load_spool(harness.ws)
    assert (res.events, res.quarantined) == (2, 5)
    ids = sorted(harness.ws.lake.read("energie", "raw", "events").column("message_id").to_pylist())
    assert ids == ["a", "g"]
    q = harness.ws.lake.read("energie", "raw", "quarantine").to_pylist()
    assert sorted(r["reason"].split(":")[0] for r in q) == [f"event {i}" for i in range(1, 6)]
    assert all(r["source"] == "http" and r["target_table"] == "events" for r in q)
    assert json.loads(next(r["payload"] for r in q if r["reason"].startswith("event 4")))["type"] == "bogus"


def test_auth_basic_and_body_keys_and_401(harness):
    key = harness.keys.create("energie")
    assert harness.post("/v1/track", auth=(key, ""), json=ev("x")).status_code == 200
    assert harness.post("/v1/track", json={**ev("y"), "writeKey": key}).status_code == 200
    assert harness.post("/v1/track", json=ev("z")).status_code == 401
    r = harness.post("/v1/track", auth=("wk_unknown", ""), json=ev("z"))
    assert r.status_code == 401 and r.json()["error"]["type"] == "Unauthorized"
    other = harness.keys.create("fidelite")
    r = harness.post("/v1/track", auth=(key, ""), json={**ev("z"), "writeKey": other})
    assert r.status_code == 401 and "differ" in r.json()["error"]["message"]
    # revocation takes effect at once
    kid = harness.keys.list("energie")[0].key_id
    harness.keys.revoke("energie", kid)
    assert harness.post("/v1/track", auth=(key, ""), json=ev("w")).status_code == 401
    stored = (harness.ws.state_dir / "write_keys.json").read_text()
    assert key not in stored and other not in stored  # only hashes are kept


def test_limits_gzip_and_methods(harness):
    key = harness.keys.create("energie")
    big = ev("big", properties={"s": "x" * 33_000})
    r = harness.post("/v1/track", auth=(key, ""), json=big)
    assert r.status_code == 413 and r.json()["error"]["type"] == "TooLarge"
    # a batch under 500 KB with one event over 32 KB: that event alone is rejected
    r = harness.post("/v1/batch", auth=(key, ""), json={"batch": [ev("ok1"), big]})
    assert r.status_code == 400 and r.json()["error"]["rejected"][0]["reason"].startswith("event larger")
    huge = {"batch": [ev(f"h{i}", properties={"s": "y" * 20_000}) for i in range(30)]}
    assert harness.post("/v1/batch", auth=(key, ""), json=huge).status_code == 413
    r = harness.post("/v1/batch", auth=(key, ""), json={"batch": [ev("i" * 2000), ev("n", userId=2**70)]})
    reasons = [x["reason"] for x in r.json()["error"]["rejected"]]
    assert "length <= 1024" in reasons[0] and "messageId" in reasons[0] and "userId" in reasons[1]
    body = gzip.compress(json.dumps({"batch": [ev("gz1"), ev("gz2")]}).encode())
    r = harness.post("/v1/batch", auth=(key, ""), content=body, headers={"content-encoding": "gzip"})
    assert r.status_code == 200 and r.json() == {"success": True}
    bomb = gzip.compress(b" " * 5_000_000)  # 5 MB of spaces, 5 KB compressed
    r = harness.post("/v1/batch", auth=(key, ""), content=bomb, headers={"content-encoding": "gzip"})
    assert r.status_code == 413
    r = harness.post("/v1/batch", auth=(key, ""), content=b"not gzip", headers={"content-encoding": "gzip"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "BadGzip"
    assert harness.loop.run_until_complete(harness.client.get("/v1/batch")).status_code == 405
    r = harness.loop.run_until_complete(harness.client.options("/v1/batch"))
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "*"
    assert harness.post("/v1/nope", auth=(key, ""), json={}).status_code == 404
    harness.seal()
    load_spool(harness.ws)
    ids = sorted(harness.ws.lake.read("energie", "raw", "events").column("message_id").to_pylist())
    assert ids == ["gz1", "gz2", "ok1"]


def test_analytics_js_short_paths(harness):
    """analytics.js posts each call to ``/v1/<first letter of its type>`` with the key in
    the body and ``Content-Type: text/plain`` (no CORS preflight), and its batching mode
    to ``/v1/b``; ``/v1/import`` is the HTTP API's older name of ``/v1/batch``."""
    key = harness.keys.create("energie")
    plain = {"content-type": "text/plain"}
    calls = {"t": ev("t1"), "p": ev("p1", type="page", name="Home"), "i": ev("i1", type="identify"),
             "s": ev("s1", type="screen"), "g": ev("g1", type="group", groupId="acme"),
             "a": ev("a1", type="alias", previousId="anon-1")}
    for path, call in calls.items():
        r = harness.post(f"/v1/{path}", content=json.dumps({**call, "writeKey": key}), headers=plain)
        assert (path, r.status_code) == (path, 200)
    r = harness.post("/v1/b", content=json.dumps({"writeKey": key, "batch": [ev("b1"), ev("b2")],
                                                  "sentAt": "2026-02-03T04:05:07Z"}), headers=plain)
    assert r.status_code == 200
    assert harness.post("/v1/import", auth=(key, ""), json={"batch": [ev("m1")]}).status_code == 200
    # a short path names the type as the long one does
    r = harness.post("/v1/t", content=json.dumps({**ev("x1", type="page"), "writeKey": key}), headers=plain)
    assert r.status_code == 400 and "sent to /v1/track" in r.json()["error"]["rejected"][0]["reason"]
    assert harness.post("/v1/x", auth=(key, ""), json=ev("x2")).status_code == 404
    harness.seal()
    load_spool(harness.ws)
    rows = harness.ws.lake.read("energie", "raw", "events").to_pylist()
    got = {r["message_id"]: r["type"] for r in rows}
    assert got == {"t1": "track", "p1": "page", "i1": "identify", "s1": "screen", "g1": "group",
                   "a1": "alias", "b1": "track", "b2": "track", "m1": "track"}


def test_write_key_never_writes_into_another_tenant(harness):
    k_e = harness.keys.create("energie")
    k_f = harness.keys.create("fidelite", channel="store")
    # the body claims another tenant and another key: the header's key decides
    hostile = ev("f1", tenant="energie", context={"tenant": "energie"})
    assert harness.post("/v1/track", auth=(k_f, ""), json=hostile).status_code == 200
    assert harness.post("/v1/batch", json={"writeKey": k_f, "batch": [ev("f2")]}).status_code == 200
    assert harness.post("/v1/batch", json={"writeKey": k_e, "batch": [ev("e1")]}).status_code == 200
    harness.seal()
    load_spool(harness.ws)
    f = harness.ws.lake.read("fidelite", "raw", "events").to_pylist()
    e = harness.ws.lake.read("energie", "raw", "events").to_pylist()
    assert sorted(r["message_id"] for r in f) == ["f1", "f2"]
    assert all(r["tenant"] == "fidelite" and r["channel"] == "store" for r in f)
    assert [r["message_id"] for r in e] == ["e1"] and e[0]["tenant"] == "energie"


def test_resent_events_land_once_over_whole_history(harness):
    key = harness.keys.create("energie")
    old = ev("m1", timestamp="2020-01-01T00:00:00Z")
    assert harness.post("/v1/batch", auth=(key, ""), json={"batch": [old, ev("m2"), ev("m2")]}).status_code == 200
    harness.seal()
    r1 = load_spool(harness.ws)
    assert (r1.events, r1.duplicates) == (2, 1)
    # the same events years later (a retry after a lost answer), plus a new one
    assert harness.post("/v1/batch", auth=(key, ""), json={"batch": [old, ev("m2"), ev("m3")]}).status_code == 200
    harness.seal()
    r2 = load_spool(harness.ws)
    assert (r2.events, r2.duplicates) == (1, 2)
    for zone in ("raw", "analytics"):
        ids = sorted(harness.ws.lake.read("energie", zone, "events").column("message_id").to_pylist())
        assert ids == ["m1", "m2", "m3"]


def test_crash_between_raw_and_analytics_commit_is_repaired(harness):
    from parcours.collect.loader import EventRows, write_events
    from parcours.collect.model import decode

    ws = harness.ws
    d = decode(json.dumps({"batch": [ev("r1"), ev("r2")]}).encode(), "batch")
    rows = EventRows()
    import datetime as dt

    for e in d.events:
        rows.add(e, "energie", None, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    table = rows.to_arrow()
    ws.lake.append("energie", "raw", "events", table)  # the raw commit happened, then a crash
    w = write_events(ws, "energie", table)
    assert (w.new, w.duplicates) == (0, 2)
    assert ws.lake.read("energie", "raw", "events").num_rows == 2
    an = ws.lake.read("energie", "analytics", "events")
    assert sorted(an.column("message_id").to_pylist()) == ["r1", "r2"]
    assert all(u.startswith("px") for u in an.column("user_id").to_pylist())
