"""Kafka end to end on librdkafka's mock cluster: ``parcours serve`` with sink=kafka,
then ``parcours load --from-kafka`` killed with SIGKILL mid-way and restarted:
every acknowledged event lands exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import httpx
import pytest

import parcours
from parcours.collect.keys import WriteKeyStore
from tests.e2e.collect_server import Server

ck = pytest.importorskip("confluent_kafka")
pytestmark = pytest.mark.slow


def test_kafka_serve_and_loader_restart(tmp_path):
    cluster = ck.Producer({"test.mock.num.brokers": 1, "log_level": 0})
    brokers = cluster.list_topics(timeout=10).brokers.values()
    bootstrap = ",".join(f"{b.host}:{b.port}" for b in brokers)
    topic = f"events-{uuid.uuid4().hex[:6]}"
    env = {"PARCOURS__COLLECT__SINK": "kafka", "PARCOURS__COLLECT__KAFKA_BOOTSTRAP": bootstrap,
           "PARCOURS__COLLECT__KAFKA_TOPIC": topic, "PARCOURS__COLLECT__KAFKA_GROUP": f"g-{topic}",
           "PARCOURS__COLLECT__BATCH_MAX_EVENTS": "300"}
    ws = parcours.init(tmp_path / "ws")
    ws.create_tenant("energie")
    key = WriteKeyStore(ws.state_dir).create("energie")
    with Server(ws.path, env=env) as server, httpx.Client(base_url=server.url, auth=(key, "")) as http:
        for b in range(60):
            batch = [{"type": "track", "messageId": f"m{b}-{i}", "anonymousId": f"a{i}", "event": "E",
                      "timestamp": "2026-06-01T12:00:00Z"} for i in range(50)]
            assert http.post("/v1/batch", json={"batch": batch}).status_code == 200
    assert not list(ws.spool_dir.glob("*.spool"))  # nothing went to the spool

    full_env = {**os.environ, **env}
    cmd = [sys.executable, "-m", "parcours.cli", "load", "--from-kafka", "-w", str(ws.path),
           "--max-seconds", "4", "--json"]
    first = subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while ws.lake.version("energie", "raw", "events") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)  # mid-way: some batches in the lake, offsets maybe not
    first.wait()
    loaded_before = ws.lake.read("energie", "raw", "events").num_rows
    assert 0 < loaded_before < 3000
    second = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr[-2000:]
    ids = ws.lake.read("energie", "raw", "events").column("message_id").to_pylist()
    assert len(ids) == 3000 and len(set(ids)) == 3000
    assert ws.lake.read("energie", "analytics", "events").num_rows == 3000
    cluster.flush(1)
