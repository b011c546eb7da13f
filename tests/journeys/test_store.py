"""The journey store: the same rows as its source, ENUM names, an order key that orders
a profile's events as the analyses do, and one build per version of its tables."""

from __future__ import annotations

import datetime as dt
import random

import pyarrow as pa

import parcours
from parcours.journeys.paths import paths
from parcours.journeys.store import ORDER, PROFILE, stored_events
from tests.journeys.logs import SCHEMA, T0, stored

UTC = dt.UTC


def _random(seed: int, n: int = 300) -> pa.Table:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        rows.append({
            "profile_id": f"p{rng.randint(0, 30)}",
            "ts": T0 + dt.timedelta(seconds=rng.randint(0, 20)),  # many ties in time
            "event": rng.choice(["home", "offer", "buy", "it's", None]),
            "channel": rng.choice(["web", "app", None]),
            "type": rng.choice(["page", "track", "screen"]),
            "properties": rng.choice(["{}", '{"plan": "a"}', None]),
        })
    return pa.Table.from_pylist(rows, SCHEMA)


def _key(r: dict) -> tuple:
    return (r["ts"], r["channel"] or "", r["event"] or "", r["type"] or "")


def test_same_rows_enum_names_and_an_order_key():
    tbl = _random(3)
    t = stored(tbl, "st")
    got = t.to_pyarrow()
    assert got.num_rows == tbl.num_rows
    cols = list(SCHEMA.names)
    assert sorted(map(repr, got.select(cols).to_pylist())) == sorted(map(repr, tbl.to_pylist()))
    types = dict(t.get_backend().raw_sql(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'st'").fetchall())
    assert all(types[c].startswith("ENUM(") for c in ("event", "channel", "type"))
    assert types[ORDER] == "BIGINT"
    # the key orders rows by (ts, channel, event, type), nulls as "", and is equal
    # exactly when those are equal
    rows = got.to_pylist()
    by_key = sorted(rows, key=lambda r: r[ORDER])
    assert [_key(r) for r in by_key] == sorted(_key(r) for r in rows)
    assert len({r[ORDER] for r in rows}) == len({_key(r) for r in rows})
    # one small integer per profile
    codes = {(r["profile_id"], r[PROFILE]) for r in rows}
    assert len(codes) == len({r["profile_id"] for r in rows}) == len({c for _, c in codes})
    assert types[PROFILE] == "INTEGER"


def test_no_order_key_when_it_would_not_fit_and_paths_still_right():
    # 4,000 years of microseconds times the tie ranks is past 2**62: no key, and the
    # analyses sort on the columns themselves
    tbl = pa.Table.from_pylist([
        {"profile_id": "p", "ts": dt.datetime(2, 1, 1, tzinfo=UTC), "event": "a",
         "channel": "web", "type": "track", "properties": None},
        {"profile_id": "p", "ts": dt.datetime(4000, 1, 1, tzinfo=UTC), "event": "b",
         "channel": "web", "type": "track", "properties": None},
        *[{"profile_id": "p", "ts": dt.datetime(3000, 1, 1, tzinfo=UTC), "event": f"e{i}",
           "channel": "app", "type": "track", "properties": None} for i in range(40)],
    ], SCHEMA)
    t = stored(tbl, "wide")
    assert ORDER not in t.columns
    res = paths(t, event="a", steps=2, top=50)
    assert [(r["path"], r["profiles"]) for r in res.table.to_pylist()] == [(["e0", "e1"], 1)]


def test_an_empty_table_is_stored():
    t = stored(SCHEMA.empty_table(), "empty")
    assert t.count().execute() == 0


# -- one build per version -------------------------------------------------------------------
def _events(names: list[str], minute0: int) -> pa.Table:
    ts = [T0 + dt.timedelta(minutes=minute0 + i) for i in range(len(names))]
    n = len(names)
    return pa.table({
        "message_id": [f"m{minute0}-{i}" for i in range(n)], "tenant": ["energie"] * n,
        "type": ["track"] * n, "event": names, "channel": ["web"] * n,
        "user_id": ["u1"] * n, "timestamp": ts, "received_at": ts})


def _source(ws):
    ev = ws.table("energie", "events")
    return ev.select(profile_id=ev.user_id, ts=ev.timestamp, event=ev.event,
                     channel=ev.channel, type=ev.type, properties=ev.properties)


def test_built_once_per_version_and_rebuilt_after_a_commit(tmp_path):
    ws = parcours.init(tmp_path / "w")
    ws.create_tenant("energie")
    ws.write("energie", "events", _events(["home", "offer"], 0))
    first = stored_events(ws, "energie", "analytics", _source(ws))
    again = stored_events(ws, "energie", "analytics", _source(ws))
    assert first.get_name() == again.get_name()
    assert sorted(first.event.to_pyarrow().to_pylist()) == ["home", "offer"]

    ws.write("energie", "events", _events(["buy"], 10))
    newer = stored_events(ws, "energie", "analytics", _source(ws))
    assert newer.get_name() != first.get_name()
    assert sorted(newer.event.to_pyarrow().to_pylist()) == ["buy", "home", "offer"]
    names = {".".join(r) for r in ws.engine.duckdb.execute(
        "SELECT database_name, schema_name, table_name FROM duckdb_tables()").fetchall()}
    assert newer.get_name() in names and first.get_name() not in names  # the old one dropped
    ws.close()


def test_threads_asking_at_once_share_one_build(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    ws = parcours.init(tmp_path / "w")
    ws.create_tenant("energie")
    ws.write("energie", "events", _events(["home", "offer", "buy"], 0))
    # each thread reads through its own cursor, as the web server's threads do; the
    # engine exists before they start (ws.engine is made on first use, not thread-safely)
    assert ws.engine.kind == "duckdb"
    with ThreadPoolExecutor(4) as pool:
        names = set(pool.map(
            lambda _: stored_events(ws, "energie", "analytics", _source(ws)).get_name(), range(8)))
    assert len(names) == 1
    stores = [".".join(r) for r in ws.engine.duckdb.execute(
        "SELECT database_name, schema_name, table_name FROM duckdb_tables() "
        "WHERE table_name LIKE 'parcours_journeys%'").fetchall()]
    assert stores == list(names)
    ws.close()


# -- layout: sorted by profile, built in pieces, compressed -------------------------------
def test_rows_sorted_by_profile_and_order_and_compressed():
    tbl = _random(4)
    t = stored(tbl, "sorted_rows")
    rows = t.to_pyarrow().to_pylist()  # DuckDB reads a table's rows in their order
    assert [(r[PROFILE], r[ORDER]) for r in rows] == sorted((r[PROFILE], r[ORDER]) for r in rows)
    con = t.get_backend().con
    kinds = {r[0] for r in con.execute(
        "SELECT compression FROM pragma_storage_info('parcours_journeys.main.sorted_rows') "
        "WHERE segment_type != 'VALIDITY'").fetchall()}
    assert kinds - {"Uncompressed"}, kinds  # checkpointed: the columns are compressed


def test_built_in_pieces_of_profiles_the_same_table(monkeypatch):
    import parcours.journeys.store as store

    rng = random.Random(9)
    tbl = _random(5)
    anonymous = pa.Table.from_pylist([
        {"profile_id": None, "ts": T0 + dt.timedelta(seconds=rng.randint(0, 20)),
         "event": "home", "channel": "web", "type": "page", "properties": None}
        for _ in range(5)], SCHEMA)
    tbl = pa.concat_tables([tbl, anonymous])
    whole = stored(tbl, "one_piece").to_pyarrow().to_pylist()
    monkeypatch.setattr(store, "BUILD_EVENTS", 40)  # 300 events: 8 pieces and the anonymous
    pieces = stored(tbl, "in_pieces").to_pyarrow().to_pylist()
    # the same rows, profile codes included, in the same order (rows with equal keys in
    # any order among themselves)
    assert sorted(map(repr, pieces)) == sorted(map(repr, whole))
    keys = [(r[PROFILE] is None, r[PROFILE] or 0, r[ORDER]) for r in pieces]
    assert keys == sorted(keys)
    assert len({r[PROFILE] for r in whole}) == 32  # 31 profiles and the anonymous (null)
    assert [r[PROFILE] for r in whole][-5:] == [None] * 5
