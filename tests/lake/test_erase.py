"""remove_rows: the rows go, the partitions are rewritten in one commit, and neither the
Delta log nor any file left after vacuum names what was removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from parcours.lake import Lake
from parcours.lake.erase import remove_rows


def _events(n: int) -> pa.Table:
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    ts = pa.array([t0 + timedelta(hours=7 * i) for i in range(n)], pa.timestamp("us", tz="UTC"))
    return pa.table({
        "message_id": [f"m{i}" for i in range(n)], "tenant": ["t"] * n, "type": ["track"] * n,
        "event": ["x"] * n, "channel": ["web"] * n,
        "user_id": ["SECRET-USER-42" if i % 10 == 3 else f"U{i % 7}" for i in range(n)],
        "timestamp": ts, "received_at": ts,
    })


def _log_bytes(lake: Lake) -> bytes:
    log = lake.path("t", "raw", "events") / "_delta_log"
    return b"".join(p.read_bytes() for p in log.iterdir() if p.is_file())


def _all_bytes(lake: Lake) -> bytes:
    import pyarrow.parquet as pq

    root = lake.path("t", "raw", "events")
    out = [p.read_bytes() for p in root.rglob("*") if p.is_file() and p.suffix != ".parquet"]
    out += [str(pq.read_table(p).to_pylist()).encode() for p in root.rglob("*.parquet")]
    return b"".join(out)


def test_remove_rows_leaves_no_trace(tmp_path):
    lake = Lake(tmp_path / "lake")
    data = _events(200)
    lake.append("t", "raw", "events", data.slice(0, 100))
    lake.append("t", "raw", "events", data.slice(100))
    version = lake.version("t", "raw", "events")
    before = lake.read("t", "raw", "events")
    secret_rows = int(pc.sum(pc.equal(before.column("user_id"), "SECRET-USER-42")).as_py())
    assert secret_rows == 20 and b"SECRET-USER-42" in _all_bytes(lake)

    out = remove_rows(lake, "t", "raw", "events", lambda t: pc.equal(t.column("user_id"), "SECRET-USER-42"),
                      ["user_id"])
    assert out.rows_removed == 20 and out.partitions == 20 and out.files_rewritten >= 20
    assert lake.version("t", "raw", "events") == version + 1  # one commit
    after = lake.read("t", "raw", "events")
    kept = before.filter(pc.not_equal(before.column("user_id"), "SECRET-USER-42"))
    assert sorted(after.column("message_id").to_pylist()) == sorted(kept.column("message_id").to_pylist())
    assert len(lake.vacuum("t", "raw", "events")) >= 20
    assert b"SECRET-USER-42" not in _all_bytes(lake)
    # nothing to remove: no commit
    version = lake.version("t", "raw", "events")
    assert remove_rows(lake, "t", "raw", "events", lambda t: pc.equal(t.column("user_id"), "nobody")).rows_removed == 0
    assert lake.version("t", "raw", "events") == version


def test_delete_would_have_logged_the_value(tmp_path):
    """Why remove_rows exists: DeltaTable.delete keeps its predicate in the log."""
    lake = Lake(tmp_path / "lake")
    lake.append("t", "raw", "events", _events(50))
    lake.delete("t", "raw", "events", "user_id = 'SECRET-USER-42'")
    lake.vacuum("t", "raw", "events")
    assert b"SECRET-USER-42" in _log_bytes(lake)


def test_no_string_statistics_in_the_log(tmp_path):
    lake = Lake(tmp_path / "lake")
    lake.append("t", "raw", "events", _events(50))
    log = _log_bytes(lake)
    assert b"SECRET-USER-42" not in log and b'"U0"' not in log
    assert b"minValues" in log and b"timestamp" in log  # time statistics are kept
