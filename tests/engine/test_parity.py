"""The same reads and a window-function query give identical results on DuckDB and Spark."""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import parcours

pytestmark = pytest.mark.spark
UTC = dt.UTC


@pytest.fixture(scope="module")
def two_engines(tmp_path_factory, spark_session):
    rng = np.random.default_rng(3)
    n = 400
    base = dt.datetime(2025, 1, 1, tzinfo=UTC)
    ts = [base + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 20, n)]
    data = pa.table({
        "message_id": [f"m{i:04d}" for i in range(n)],
        "tenant": ["energie"] * n,
        "type": ["track"] * n,
        "event": rng.choice(["page_viewed", "invoice_viewed", "call_center_call", "login"], n).tolist(),
        "channel": rng.choice(["web", "app", "call_center"], n).tolist(),
        "user_id": [f"C{k:03d}" for k in rng.integers(0, 25, n)],
        "timestamp": ts,
        "received_at": ts,
    })
    ws = parcours.init(tmp_path_factory.mktemp("parity") / "ws")
    ws.create_tenant("energie")
    # several commits and a delete, so the snapshot differs from the folder's files
    ws.write("energie", "events", data.slice(0, 200))
    ws.write("energie", "events", data.slice(200))
    ws.lake.delete("energie", "raw", "events", "message_id = 'm0007'")
    ws.lake.delete("energie", "analytics", "events", "message_id = 'm0007'")
    spark = parcours.open(ws.path, engine={"kind": "spark"})
    assert spark.engine.kind == "spark" and ws.engine.kind == "duckdb"
    return ws, spark


def _normalize(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for col in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[col]):
            s = df[col]
            df[col] = (s.dt.tz_convert("UTC") if s.dt.tz is not None else s.dt.tz_localize("UTC")).dt.as_unit("us")
        elif col == "day":
            df[col] = pd.to_datetime(df[col]).dt.date
    return df.reset_index(drop=True)


@pytest.mark.parametrize("zone", ["raw", "analytics"])
def test_reads_identical(two_engines, zone):
    duck, spark = two_engines
    a = _normalize(duck.table("energie", "events", zone).order_by("message_id").to_pandas())
    b = _normalize(spark.table("energie", "events", zone).order_by("message_id").to_pandas())
    assert len(a) == 399 and "m0007" not in set(a.message_id)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def _window_query(t):
    w = ibis.window(group_by=t.user_id, order_by=[t.timestamp, t.message_id])
    return (
        t.mutate(
            rank=ibis.row_number().over(w),
            previous_event=t.event.lag().over(w),
            gap_s=(t.timestamp.epoch_seconds() - t.timestamp.lag().over(w).epoch_seconds()),
            calls_so_far=(t.event == "call_center_call").cast("int64").sum().over(w),
        )
        .select("user_id", "message_id", "rank", "previous_event", "gap_s", "calls_so_far")
        .order_by(["user_id", "rank"])
    )


def test_window_query_identical(two_engines):
    duck, spark = two_engines
    a = _window_query(duck.table("energie", "events", "raw")).to_pandas()
    b = _window_query(spark.table("energie", "events", "raw")).to_pandas()
    assert len(a) == 399
    first = a[a["rank"] == 0]  # ibis row_number() counts from 0
    assert first["previous_event"].isna().all() and len(first) == a.user_id.nunique()
    pd.testing.assert_frame_equal(_normalize(a), _normalize(b), check_dtype=False)
    # per-day counts through group_by as well
    day_a = duck.table("energie", "events").group_by("day").count().order_by("day").to_pandas()
    day_b = spark.table("energie", "events").group_by("day").count().order_by("day").to_pandas()
    pd.testing.assert_frame_equal(_normalize(day_a), _normalize(day_b), check_dtype=False)
    assert int(day_a.iloc[:, 1].sum()) == 399


def test_new_commit_is_visible_without_reopening(two_engines):
    duck, _ = two_engines
    before = duck.table("energie", "events", "raw").count().to_pandas()
    ts = dt.datetime(2025, 2, 1, tzinfo=UTC)
    duck.lake.append("energie", "raw", "events", pa.table({
        "message_id": ["late"], "tenant": ["energie"], "type": ["track"], "event": ["x"],
        "channel": ["web"], "timestamp": [ts], "received_at": [ts]}))
    assert duck.table("energie", "events", "raw").count().to_pandas() == before + 1
    duck.lake.delete("energie", "raw", "events", "message_id = 'late'")
    assert duck.table("energie", "events", "raw").count().to_pandas() == before
