"""The real segment-analytics-python client sends 10,000 events to ``parcours serve``;
after ``parcours load`` the lake holds exactly those events, field by field."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading

import pytest

import parcours
from tests.e2e.collect_server import Server, cli

pytestmark = pytest.mark.slow

N = 10_000


def _planned(seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    base = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    calls = []
    for i in range(N):
        kind = ["track", "track", "track", "identify", "page", "screen", "group", "alias"][i % 8]
        ts = base + dt.timedelta(seconds=rng.randrange(86400 * 30), milliseconds=rng.randrange(1000))
        user = f"u{rng.randrange(500)}" if rng.random() < 0.7 else None
        anon = None if user else f"anon-{rng.randrange(10**6)}"
        calls.append({
            "kind": kind, "message_id": f"msg-{i:05d}", "user_id": user, "anonymous_id": anon,
            "timestamp": ts, "event": rng.choice(["Login", "Invoice Viewed", "Bill Paid", "Ticket Opened"]),
            "name": rng.choice(["home", "billing", "contract"]),
            "properties": {"amount": round(rng.uniform(0, 300), 2), "n": i, "label": "é\u00e8\u4e2d", "ok": i % 2 == 0},
            "traits": {"plan": rng.choice(["base", "peak"]), "email": f"user{i}@example.org"},
            "group_id": f"g{rng.randrange(50)}", "channel": "app" if kind == "screen" else rng.choice([None, "call_center"]),
        })
        if kind == "alias":
            calls[-1]["user_id"] = f"u{rng.randrange(500)}"
            calls[-1]["anonymous_id"] = None
            calls[-1]["previous_id"] = f"anon-{i}"
    return calls


def _send(client, c: dict) -> None:
    ctx = {"channel": c["channel"]} if c["channel"] else None
    common = {"timestamp": c["timestamp"], "message_id": c["message_id"], "context": ctx}
    if c["kind"] == "track":
        client.track(user_id=c["user_id"], anonymous_id=c["anonymous_id"], event=c["event"],
                     properties=c["properties"], **common)
    elif c["kind"] == "identify":
        client.identify(user_id=c["user_id"], anonymous_id=c["anonymous_id"], traits=c["traits"], **common)
    elif c["kind"] == "page":
        client.page(user_id=c["user_id"], anonymous_id=c["anonymous_id"], name=c["name"],
                    properties=c["properties"], **common)
    elif c["kind"] == "screen":
        client.screen(user_id=c["user_id"], anonymous_id=c["anonymous_id"], name=c["name"],
                      properties=c["properties"], **common)
    elif c["kind"] == "group":
        client.group(user_id=c["user_id"], anonymous_id=c["anonymous_id"], group_id=c["group_id"],
                     traits=c["traits"], **common)
    else:
        client.alias(previous_id=c["previous_id"], user_id=c["user_id"], **common)


def test_segment_sdk_10k_events_land_exactly(tmp_path):
    from segment.analytics import Client

    ws = parcours.init(tmp_path / "ws")
    ws.create_tenant("energie")
    ws.create_tenant("fidelite")
    key = cli("keys", "create", "--tenant", "energie", "--channel", "web", "-w", str(ws.path)).stdout.strip()
    assert key.startswith("wk_")
    errors: list[str] = []
    lock = threading.Lock()

    def on_error(exc, batch):
        with lock:
            errors.append(f"{exc} ({len(batch)} events)")

    calls = _planned()
    with Server(ws.path, env={"PARCOURS__COLLECT__BATCH_MAX_SECONDS": "0.5"}) as server:
        client = Client(key, host=server.url, on_error=on_error, upload_size=100, gzip=True,
                        max_queue_size=N + 10, thread=2)
        for c in calls:
            _send(client, c)
        client.flush()
        client.join()
    assert errors == []
    out = cli("load", "-w", str(ws.path), "--json")
    report = json.loads(out.stdout)
    assert report["events"] == N and report["duplicates"] == 0 and report["quarantined"] == 0

    lake = ws.lake.read("energie", "raw", "events").to_pylist()
    assert len(lake) == N
    assert ws.lake.read("fidelite", "raw", "events").num_rows == 0
    by_id = {r["message_id"]: r for r in lake}
    assert len(by_id) == N
    for c in calls:
        r = by_id[c["message_id"]]
        kind = c["kind"]
        assert r["tenant"] == "energie" and r["type"] == kind
        assert r["timestamp"] == c["timestamp"], c["message_id"]
        assert r["user_id"] == c["user_id"]
        assert r["anonymous_id"] == c["anonymous_id"]
        assert r["channel"] == (c["channel"] or "web")
        context = json.loads(r["context"])
        assert context["library"]["name"] == "analytics-python"
        assert context.get("channel") == c["channel"]
        if kind == "track":
            assert r["event"] == c["event"] and json.loads(r["properties"]) == c["properties"]
        elif kind in ("page", "screen"):
            assert r["event"] == c["name"] and json.loads(r["properties"]) == c["properties"]
        elif kind == "identify":
            assert r["event"] == "identify" and json.loads(r["traits"]) == c["traits"]
        elif kind == "group":
            assert r["group_id"] == c["group_id"] and json.loads(r["traits"]) == c["traits"]
        else:
            assert r["previous_id"] == c["previous_id"]

    # the analytics zone holds the same events, pseudonymized
    analytics = ws.lake.read("energie", "analytics", "events")
    assert analytics.num_rows == N
    users = {u for u in analytics.column("user_id").to_pylist() if u}
    assert users and all(u.startswith("px") for u in users)
    # a second load finds nothing, and the spool is empty
    assert json.loads(cli("load", "-w", str(ws.path), "--json").stdout)["records"] == 0
    assert not list(ws.spool_dir.glob("*.spool"))
