"""``parcours serve --load`` runs the loader beside the server: events reach the lake
without a manual ``parcours load``, and the loader stops with the server."""

from __future__ import annotations

import time

import httpx
import psutil
import pytest

import parcours
from parcours.collect.keys import WriteKeyStore
from tests.e2e.collect_server import Server

pytestmark = pytest.mark.slow


def test_serve_with_background_loader(tmp_path):
    ws = parcours.init(tmp_path / "ws")
    ws.create_tenant("energie")
    key = WriteKeyStore(ws.state_dir).create("energie")
    server = Server(ws.path, args=("--load",), env={"PARCOURS__COLLECT__BATCH_MAX_SECONDS": "0.5"}).start()
    try:
        children = psutil.Process(server.proc.pid).children(recursive=True)
        loaders = [c for c in children if "load" in c.cmdline() and "--watch" in c.cmdline()]
        assert len(loaders) == 1
        batch = [{"type": "track", "messageId": f"b{i}", "userId": "u", "event": "E"} for i in range(25)]
        r = httpx.post(server.url + "/v1/batch", auth=(key, ""), json={"batch": batch})
        assert r.status_code == 200
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and ws.lake.version("energie", "raw", "events") < 0:
            time.sleep(0.2)
        ids = sorted(ws.lake.read("energie", "raw", "events").column("message_id").to_pylist())
        assert ids == sorted(f"b{i}" for i in range(25))
    finally:
        server.stop()
    try:  # the loader notices its parent is gone within one period
        loaders[0].wait(timeout=15)
    except psutil.TimeoutExpired:
        loaders[0].kill()
        raise AssertionError("the loader outlived the server") from None
