"""The key index answers exactly what a scan of the table's whole history answers, after
appends it did not see (a crash between a commit and its update), deletes, compactions,
a changed hash function, and hash collisions (checked exactly against the files)."""

from __future__ import annotations

import datetime as dt
import json
import random

import pyarrow as pa
import pytest

from parcours.collect import dedupe
from parcours.collect.dedupe import KeyIndex, existing_mask, indexed_mask
from parcours.collect.loader import EventRows, load_spool, write_events
from parcours.collect.model import decode
from parcours.collect.spool import Meta, SpoolWriter, encode_record


def events(ids: list[str], day: int = 1) -> pa.Table:
    body = json.dumps({"batch": [{"type": "track", "messageId": m, "userId": f"u{m}", "event": "E",
                                  "timestamp": f"2026-05-{day:02d}T00:00:00Z"} for m in ids]})
    rows = EventRows()
    rows.add_many(decode(body.encode(), "batch").events, "energie", None, dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
    return rows.to_arrow()


def mask_list(mask: pa.Array | None, n: int) -> list[bool]:
    return [False] * n if mask is None else mask.to_pylist()


def same_answers(ws, probe: list[str]) -> list[bool]:
    keys = pa.array(probe, pa.string())
    scan = mask_list(existing_mask(ws, "energie", "raw", "events", "message_id", keys), len(probe))
    index = mask_list(indexed_mask(ws, "energie", "raw", "events", "message_id", keys), len(probe))
    assert index == scan
    return index


def runs(ws) -> list[dict]:
    return json.loads((KeyIndex(ws, "energie", "raw", "events", "message_id").dir / "manifest.json").read_text())["runs"]


@pytest.fixture(params=[("hash({})", 4 << 20), ("hash({})", 5), ("hash({}) % 3", 5)],
                ids=["duckdb-hash", "duckdb-hash-small-slices", "colliding-hash-small-slices"])
def hashing(request, monkeypatch):
    """The hash, and the slice of a run mapped or merged at once (5: runs span many slices
    and, with a colliding hash, equal hashes straddle slices)."""
    monkeypatch.setattr(dedupe, "_HASH", request.param[0])
    monkeypatch.setattr(dedupe, "_CHUNK_ROWS", request.param[1])
    return request.param


def test_index_matches_the_scan_through_appends_deletes_and_compaction(workspace, hashing):
    ws = workspace
    rng = random.Random(7)
    written: list[str] = []
    assert same_answers(ws, ["x"]) == [False]  # no table yet
    for i in range(9):  # appends the index learns at its next lookup (as after a crash)
        ids = [f"m{i}-{j}" for j in range(rng.randint(1, 40))]
        ws.write("energie", "events", events(ids, day=1 + i % 3))
        written += ids
        probe = rng.sample(written, 10) + [f"n{i}-{j}" for j in range(5)] + ["", "m1-0x"]
        got = same_answers(ws, probe)
        assert got == [True] * 10 + [False] * 7
    assert len(runs(ws)) <= 4  # 9 runs merged like a binary counter
    ws.lake.delete("energie", "raw", "events", "message_id = 'm3-0'")  # files replaced: rebuilt
    assert same_answers(ws, ["m3-0", "m3-1", "m4-0"]) == [False, True, True]
    ws.lake.compact("energie", "raw", "events")
    assert same_answers(ws, ["m3-0", "m3-1", "m8-0", "zz"]) == [False, True, True, False]
    names = {r["name"] for r in runs(ws)}
    on_disk = {p.name.split(".", 1)[0] for p in KeyIndex(ws, "energie", "raw", "events", "message_id").dir.glob("run-*")}
    assert on_disk == names  # the replaced runs are gone


def test_a_changed_hash_rebuilds_the_index(workspace, monkeypatch):
    ws = workspace
    ws.write("energie", "events", events(["a", "b", "c"]))
    assert same_answers(ws, ["a", "d"]) == [True, False]
    monkeypatch.setattr(dedupe, "_HASH", "hash({} || 'salt')")  # as a DuckDB upgrade might
    ws.write("energie", "events", events(["d"]))
    assert same_answers(ws, ["a", "d", "e"]) == [True, True, False]


def test_a_stale_manifest_misses_nothing(workspace):
    """A crash after the lake commit but before the index's manifest was replaced."""
    ws = workspace
    ws.write("energie", "events", events(["a", "b"]))
    same_answers(ws, ["a"])
    folder = KeyIndex(ws, "energie", "raw", "events", "message_id").dir
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    ws.write("energie", "events", events(["c", "d"]))
    assert same_answers(ws, ["c"]) == [True]  # its runs merged: the first run is gone
    for name, data in before.items():  # the update of the second commit never happened
        (folder / name).write_bytes(data)
    assert same_answers(ws, ["a", "c", "d", "e"]) == [True, True, True, False]
    w = write_events(ws, "energie", events(["c", "e"]))
    assert (w.new, w.duplicates) == (1, 1)


def test_a_missing_run_rebuilds_the_index(workspace):
    ws = workspace
    ws.write("energie", "events", events(["a", "b"]))
    same_answers(ws, ["a"])
    for p in KeyIndex(ws, "energie", "raw", "events", "message_id").dir.glob("run-*.h.npy"):
        p.unlink()
    assert same_answers(ws, ["a", "b", "c"]) == [True, True, False]


def test_loads_through_the_index_write_each_event_once(workspace):
    ws = workspace
    w = SpoolWriter(ws.spool_dir)
    for n in range(12):  # records 6..11 resend records 0..5
        batch = [{"type": "track", "messageId": f"r{n % 6}-{i}", "userId": "u", "event": "E"} for i in range(10)]
        w.write_sync(encode_record(Meta("energie", None, "batch", 1_772_000_000_000_000 + n),
                                   json.dumps({"batch": batch}).encode()))
    w.close()
    r = load_spool(ws, batch_events=20)
    assert (r.events, r.duplicates) == (60, 60)
    for zone in ("raw", "analytics"):
        ids = ws.lake.read("energie", zone, "events").column("message_id").to_pylist()
        assert sorted(ids) == sorted(f"r{n}-{i}" for n in range(6) for i in range(10))
