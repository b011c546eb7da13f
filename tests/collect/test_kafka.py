"""The Kafka path on librdkafka's mock cluster (real protocol, in-process brokers):
collector → topic (acks=all) → consumer-group loader, with a crash between the lake
commit and the offset commit."""

from __future__ import annotations

import uuid

import pytest

import parcours
from parcours.collect.kafka import KafkaSink, load_kafka
from tests.collect.conftest import Harness

ck = pytest.importorskip("confluent_kafka")


@pytest.fixture(scope="module")
def mock_cluster():
    """A mock Kafka cluster living as long as this producer; yields its bootstrap address."""
    p = ck.Producer({"test.mock.num.brokers": 1, "log_level": 0})
    md = p.list_topics(timeout=10)
    yield ",".join(f"{b.host}:{b.port}" for b in md.brokers.values())
    p.flush(1)


class Crash(Exception):
    pass


def test_kafka_sink_and_loader_exactly_once_across_a_crash(workspace, mock_cluster):
    topic = f"events-{uuid.uuid4().hex[:6]}"
    ws = parcours.open(workspace.path, collect={
        "sink": "kafka", "kafka_bootstrap": mock_cluster, "kafka_topic": topic,
        "kafka_group": f"g-{topic}", "batch_max_events": 100})
    h = Harness(ws)
    assert isinstance(h.app.collector.sink, KafkaSink)
    key = h.keys.create("energie")
    for b in range(10):
        batch = [{"type": "track", "messageId": f"k{b}-{i}", "userId": "u", "event": "E",
                  "timestamp": "2026-05-01T00:00:00Z"} for i in range(30)]
        if b == 3:
            batch.append({"type": "track", "messageId": "bad", "event": "E"})  # no user id
        r = h.post("/v1/batch", auth=(key, ""), json={"batch": batch})
        assert r.status_code == (400 if b == 3 else 200), r.text
    h.close()

    commits = []

    def crash_after_first(res):
        commits.append(res.events)
        if len(commits) == 1:
            raise Crash  # the lake has the batch; the offsets were not committed

    with pytest.raises(Crash):
        load_kafka(ws, idle_seconds=3, on_lake_commit=crash_after_first)
    first = ws.lake.read("energie", "raw", "events").num_rows
    assert 0 < first < 300
    res = load_kafka(ws, idle_seconds=3)  # a new group member re-reads from the last offsets
    assert res.duplicates >= first  # the re-read batch was dropped by dedupe
    ids = ws.lake.read("energie", "raw", "events").column("message_id").to_pylist()
    assert len(ids) == 300 and len(set(ids)) == 300
    q = ws.lake.read("energie", "raw", "quarantine").to_pylist()
    assert len(q) == 1 and q[0]["source"] == "kafka" and "userId or anonymousId" in q[0]["reason"]
    # everything consumed and committed: a third run reads nothing
    assert load_kafka(ws, idle_seconds=3).records == 0


def test_kafka_loader_applies_the_collectors_event_limit(workspace, mock_cluster):
    """An event the collector rejected as over ``collect.max_event_bytes`` (the client got
    a 400 naming it) is quarantined by the Kafka loader too, never written as an event."""
    topic = f"events-{uuid.uuid4().hex[:6]}"
    ws = parcours.open(workspace.path, collect={
        "sink": "kafka", "kafka_bootstrap": mock_cluster, "kafka_topic": topic,
        "kafka_group": f"g-{topic}", "max_event_bytes": 2000})
    h = Harness(ws)
    key = h.keys.create("energie")
    ok = {"type": "track", "messageId": "small", "userId": "u", "event": "E"}
    big = {**ok, "messageId": "big", "properties": {"s": "x" * 2500}}
    r = h.post("/v1/batch", auth=(key, ""), json={"batch": [ok, big]})
    assert r.status_code == 400
    assert r.json()["error"]["rejected"] == [
        {"index": 1, "messageId": "big", "reason": "event larger than 2000 bytes"}]
    h.close()
    load_kafka(ws, idle_seconds=3)
    assert ws.lake.read("energie", "raw", "events").column("message_id").to_pylist() == ["small"]
    q = ws.lake.read("energie", "raw", "quarantine").to_pylist()
    assert len(q) == 1 and q[0]["source"] == "kafka" and "event larger than 2000 bytes" in q[0]["reason"]
