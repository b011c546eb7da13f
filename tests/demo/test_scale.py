"""Events at scale: the requested volume, written through the workspace."""

from __future__ import annotations

import pytest

from parcours.demo import DemoError
from parcours.demo.scale import build_events


def test_build_events_writes_about_the_requested_volume(workspace):
    seen = []
    n = build_events(workspace, "energie", events=30_000, seed=1, chunk_rows=10_000,
                     progress=lambda step, done, total: seen.append((done, total)))
    assert 0.85 * 30_000 <= n <= 1.15 * 30_000
    assert workspace.lake.info("energie", "raw", "events").rows == n
    assert workspace.lake.info("energie", "analytics", "events").rows == n
    assert len(seen) >= 3 and seen[-1] == (n, n)  # written in chunks, progress reported
    ids = workspace.lake.read("energie", "raw", "events", columns=["message_id"]).column("message_id")
    assert len(set(ids.to_pylist())) == n


def test_build_events_rejects_tiny_sizes(workspace):
    with pytest.raises(DemoError, match="at least 1,000"):
        build_events(workspace, "energie", events=10)
