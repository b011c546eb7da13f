"""The loader writes one batch while it decodes the next: a batch's segments go only
once it is in the lake, a failing write stops the load with the rest kept, and the
same process loads them afterwards (their locks were released)."""

from __future__ import annotations

import json

import pytest

from parcours.collect.loader import load_spool, recent_loads
from parcours.collect.spool import Meta, SpoolWriter, encode_record
from parcours.errors import NotFoundError


def spool(ws, segments: list[tuple[str, list[str]]]) -> None:
    """One sealed segment per item: (tenant, message ids), 10 events per record."""
    for tenant, ids in segments:
        w = SpoolWriter(ws.spool_dir)
        for start in range(0, len(ids), 10):
            batch = [{"type": "track", "messageId": m, "userId": f"u{m}", "event": "E",
                      "timestamp": "2026-05-01T00:00:00Z", "context": {"ip": "10.0.0.9"}}
                     for m in ids[start:start + 10]]
            w.write_sync(encode_record(Meta(tenant, None, "batch", 1_772_000_000_000_000 + start),
                                       json.dumps({"batch": batch}).encode()))
        w.close()


def ids(ws, tenant: str, zone: str = "raw") -> list[str]:
    return sorted(ws.lake.read(tenant, zone, "events").column("message_id").to_pylist())


def test_many_batches_in_flight_load_everything_once(workspace):
    first = [f"a{i:03d}" for i in range(120)]
    second = [f"b{i:03d}" for i in range(95)] + first[:25]  # 25 retries of the first segment
    spool(workspace, [("energie", first), ("energie", second)])
    r = load_spool(workspace, batch_events=30)
    assert (r.events, r.duplicates, r.records, r.segments) == (215, 25, 24, 2)
    assert r.batches == 8  # 240 events, 30 a batch
    assert ids(workspace, "energie") == ids(workspace, "energie", "analytics") == sorted(set(first + second))
    assert not list(workspace.spool_dir.glob("*.spool"))
    logged = [e for e in recent_loads(workspace) if "error" not in e]
    assert sum(e["events"] for e in logged) == 215 and sum(e["segments"] for e in logged) == 2


def test_a_failing_write_keeps_the_rest_and_the_next_load_takes_it(workspace):
    spool(workspace, [("energie", [f"e{i}" for i in range(40)]), ("ghost", ["g1", "g2"]),
                      ("energie", [f"f{i}" for i in range(40)])])
    with pytest.raises(NotFoundError, match="ghost"):
        load_spool(workspace, batch_events=20)
    # all three stay: the first segment's end was read into the failing batch (its events
    # are in the lake, from the two batches before, and will be dropped as duplicates)
    assert len(list(workspace.spool_dir.glob("*.spool"))) == 3
    assert ids(workspace, "energie") == sorted(f"e{i}" for i in range(40))
    workspace.create_tenant("ghost")
    r = load_spool(workspace, batch_events=20)  # same process: the segments were released
    assert (r.segments, r.events, r.duplicates) == (3, 42, 40)
    assert ids(workspace, "ghost") == ["g1", "g2"]
    assert ids(workspace, "energie") == sorted([f"e{i}" for i in range(40)] + [f"f{i}" for i in range(40)])
    assert ids(workspace, "energie", "analytics") == ids(workspace, "energie")
    assert not list(workspace.spool_dir.glob("*.spool"))
