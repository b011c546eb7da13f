"""Lake round trips: append, compact, delete + vacuum, then read back exact rows."""

from __future__ import annotations

import datetime as dt
import os

import pyarrow as pa
import pytest

from parcours.errors import NotFoundError
from parcours.lake import Lake
from parcours.lake.errors import InvalidNameError

UTC = dt.UTC


def _events(ids, day=1):
    n = len(ids)
    ts = [dt.datetime(2025, 1, day, 8, i, tzinfo=UTC) for i in range(n)]
    return pa.table({
        "message_id": ids, "tenant": ["energie"] * n, "type": ["track"] * n,
        "event": [f"e{i % 3}" for i in range(n)], "channel": ["web"] * n,
        "user_id": [f"C{i}" for i in range(n)], "timestamp": ts, "received_at": ts,
    })


def _ids(lake, zone="raw"):
    return sorted(lake.read("energie", zone, "events").column("message_id").to_pylist())


def test_append_compact_delete_vacuum_round_trip(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.append("energie", "raw", "events", _events(["a", "b", "c"], day=1))
    lake.append("energie", "raw", "events", _events(["d", "e"], day=2))
    lake.append("energie", "raw", "events", _events(["f"], day=2))
    assert _ids(lake) == ["a", "b", "c", "d", "e", "f"]
    assert lake.info("energie", "raw", "events").files == 3
    # partitioned by day: each file under its day= folder
    assert {os.path.basename(os.path.dirname(f)) for f in lake.files("energie", "raw", "events")} == {
        "day=2025-01-01", "day=2025-01-02"}

    lake.compact("energie", "raw", "events")
    assert lake.info("energie", "raw", "events").files == 2  # one per partition
    assert _ids(lake) == ["a", "b", "c", "d", "e", "f"]

    stale = set(lake.files("energie", "raw", "events"))
    metrics = lake.delete("energie", "raw", "events", "message_id = 'e'")
    assert metrics["num_deleted_rows"] == 1
    assert _ids(lake) == ["a", "b", "c", "d", "f"]
    # the replaced file is still on disk (time travel) until vacuum …
    on_disk = {str(p) for p in (tmp_path / "lake").rglob("*.parquet")}
    assert stale <= on_disk
    removed = lake.vacuum("energie", "raw", "events")
    assert removed, "vacuum removed nothing"
    on_disk = {str(p) for p in (tmp_path / "lake").rglob("*.parquet")}
    assert on_disk == set(lake.files("energie", "raw", "events"))
    row = lake.read("energie", "raw", "events").sort_by("message_id").to_pylist()[0]
    assert row["message_id"] == "a" and row["user_id"] == "C0"
    assert row["timestamp"] == dt.datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
    assert row["day"] == dt.date(2025, 1, 1)


def test_readers_use_snapshot_not_folder(tmp_path, workspace):
    """A deleted row must not come back through the engine before vacuum."""
    workspace.lake.append("energie", "raw", "events", _events(["a", "b"]))
    workspace.lake.delete("energie", "raw", "events", "message_id = 'a'")
    t = workspace.table("energie", "events", zone="raw")
    assert sorted(t.message_id.to_pandas()) == ["b"]


def test_names_cannot_escape(tmp_path):
    lake = Lake(tmp_path)
    for bad in ["../x", "Energie", "a/b", "", "x" * 41]:
        with pytest.raises(InvalidNameError):
            lake.path(bad, "raw", "events")
    with pytest.raises(InvalidNameError, match="invalid zone 'secret'"):
        lake.path("energie", "secret", "events")


def test_missing_table(tmp_path):
    lake = Lake(tmp_path)
    assert lake.files("energie", "raw", "events") == []
    assert lake.read("energie", "raw", "events").num_rows == 0
    with pytest.raises(NotFoundError, match="table energie/raw/events does not exist yet"):
        lake.info("energie", "raw", "events")


def test_write_pseudonymizes_analytics_zone(workspace):
    data = _events(["a", "b"]).append_column(
        "traits", pa.array(['{"email":"jean.dupont@example.fr","plan":"base"}', None]))
    workspace.write("energie", "events", data)
    raw = workspace.lake.read("energie", "raw", "events").sort_by("message_id").to_pylist()
    ana = workspace.lake.read("energie", "analytics", "events").sort_by("message_id").to_pylist()
    assert raw[0]["user_id"] == "C0" and ana[0]["user_id"].startswith("px")
    assert ana[0]["user_id"] != ana[1]["user_id"]
    assert "jean.dupont" not in ana[0]["traits"] and '"plan":"base"' in ana[0]["traits"]
    assert ana[0]["message_id"] == "a"  # message ids are not personal data


def test_engine_is_safe_across_threads(workspace):
    """The web server reads from a thread pool: concurrent queries must all be right."""
    from concurrent.futures import ThreadPoolExecutor

    workspace.write("energie", "events", _events([f"m{i}" for i in range(50)]))

    def count(i: int) -> int:
        t = workspace.table("energie", "events")
        return int(t.filter(t.event == f"e{i % 3}").count().to_pandas())

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(count, range(48)))
    assert got == [[17, 17, 16][i % 3] for i in range(48)]
