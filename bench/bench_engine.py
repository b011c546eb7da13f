"""One window query over N events: parcours on DuckDB vs pandas vs parcours on Spark local.

The query: per customer, order events by time, take the gap since the previous event
and the previous event's name, then per channel the number of events that follow a
call-center call and the mean gap. Each tool reads the same Delta table's snapshot.

    python bench/bench_engine.py --events 10000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import measured, save  # noqa: E402

import parcours  # noqa: E402

EVENTS = np.array(["page_viewed", "login", "invoice_viewed", "call_center_call", "email_opened",
                   "payment_made", "contract_viewed", "app_opened"])
CHANNELS = np.array(["web", "app", "call_center", "email"])


def generate(ws: parcours.Workspace, n: int, customers: int, chunk: int = 2_000_000) -> None:
    rng = np.random.default_rng(1)
    start = int(dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp() * 1e6)
    year_us = 365 * 24 * 3600 * 10**6
    done = 0
    while done < n:
        m = min(chunk, n - done)
        ts = pa.array(start + rng.integers(0, year_us, m), pa.timestamp("us", tz="UTC"))
        ids = np.char.add("m", np.arange(done, done + m).astype(str))
        users = np.char.add("C", rng.integers(0, customers, m).astype(str))
        table = pa.table({
            "message_id": ids, "tenant": pa.array(["bench"] * m), "type": pa.array(["track"] * m),
            "event": EVENTS[rng.integers(0, len(EVENTS), m)], "channel": CHANNELS[rng.integers(0, 4, m)],
            "user_id": users, "timestamp": ts, "received_at": ts,
        })
        ws.lake.append("bench", "raw", "events", table)
        done += m


def query(t):
    import ibis

    w = ibis.window(group_by=t.user_id, order_by=t.timestamp)
    prev = t.event.lag().over(w)
    gap = t.timestamp.epoch_seconds() - t.timestamp.lag().over(w).epoch_seconds()
    x = t.mutate(after_call=(prev == "call_center_call").cast("int64"), gap=gap)
    return x.group_by("channel").aggregate(
        events=x.count(), after_call=x.after_call.sum(), mean_gap=x.gap.mean()
    ).order_by("channel")


def run_pandas(ws: parcours.Workspace):

    files = ws.lake.files("bench", "raw", "events")
    df = pa.concat_tables(
        [pa.parquet.read_table(f, columns=["user_id", "event", "channel", "timestamp"]) for f in files]
    ).to_pandas()
    df = df.sort_values(["user_id", "timestamp"], kind="stable")
    g = df.groupby("user_id", sort=False)
    df["prev"] = g["event"].shift()
    df["gap"] = (df["timestamp"] - g["timestamp"].shift()).dt.total_seconds()
    df["after_call"] = (df["prev"] == "call_center_call").astype("int64")
    out = df.groupby("channel").agg(events=("event", "size"), after_call=("after_call", "sum"),
                                    mean_gap=("gap", "mean")).reset_index()
    return out.sort_values("channel").reset_index(drop=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--customers", type=int, default=200_000)
    ap.add_argument("--no-spark", action="store_true")
    args = ap.parse_args()
    import pyarrow.parquet  # noqa: F401

    result: dict = {"events": args.events, "customers": args.customers, "timings": {}}
    with tempfile.TemporaryDirectory() as tmp:
        ws = parcours.init(Path(tmp) / "ws")
        ws.create_tenant("bench")
        with measured(result["timings"], "generate_and_commit"):
            generate(ws, args.events, args.customers)
        answers = {}
        t = ws.table("bench", "events", zone="raw")
        query(t).to_pandas()  # warm the file cache for every tool alike
        with measured(result["timings"], "parcours_duckdb"):
            answers["duckdb"] = query(t).to_pandas()
        gc.collect()
        with measured(result["timings"], "pandas"):
            answers["pandas"] = run_pandas(ws)
        gc.collect()
        if not args.no_spark:
            spark = parcours.open(ws.path, engine={"kind": "spark"})
            st = spark.table("bench", "events", zone="raw")
            with measured(result["timings"], "parcours_spark_local"):
                answers["spark"] = query(st).to_pandas()
        ref = answers["duckdb"]
        for name, df in answers.items():  # every tool must give the same answer
            assert list(df["events"]) == list(ref["events"]), name
            assert list(df["after_call"]) == list(ref["after_call"]), name
            assert np.allclose(df["mean_gap"], ref["mean_gap"]), name
    tm = result["timings"]
    base = tm["parcours_duckdb"]["seconds"]
    result["ratios_vs_duckdb"] = {k: round(v["seconds"] / base, 2) for k, v in tm.items()
                                  if k != "generate_and_commit"}
    result["events_per_second_generate_and_commit"] = round(args.events / tm["generate_and_commit"]["seconds"])
    path = save("engine_window", result)
    print(path.read_text())


if __name__ == "__main__":
    main()
