"""Journey analyses side by side: paths, a 5- and a 20-step funnel, precursors.

Tools, each in its own child process (so peak memory is the tool's own: the resident
set of the child and its children, Spark's JVM included, sampled every 50 ms; the
whole child's, and from the analysis' start; CPU seconds are the child's, all threads):

* ``parcours``: the journeys functions on its journey store (``parcours.journeys.store``:
  the Parquet files materialized once in DuckDB as a workspace does it, names as ENUMs,
  integer profile codes and order key, rows sorted by profile and order, compressed in
  memory; building it is the child's setup, reported apart); funnels and paths read the
  store's columns as arrays, already in profile order (``parcours.journeys.kernels``),
  precursors are SQL;
* ``pandas``: a straightforward vectorized implementation (``merge_asof`` per funnel
  step, ``groupby``/``shift`` for paths, merges for precursors) over the Parquet loaded
  once (the load is the child's setup, reported apart from the analysis' seconds);
* ``spark``: PySpark DataFrame API, ``local[2]`` (funnels and paths: each profile's
  events sorted in one array, then Spark's higher-order functions; precursors: joins);
* ``chdb``: ClickHouse in-process (the engine behind PostHog), the Parquet loaded first
  into a MergeTree table ``ORDER BY (profile_id, ts)`` with ``LowCardinality(String)``
  names (its setup): ``windowFunnel`` for the funnels, ``groupArray`` + array functions
  for paths, joins over ``Memory`` tables for precursors.

The data: a synthetic, seeded event log (``--events``, 50 events per profile by default,
40 event names with a skewed distribution, one year) with a planted 20-step progression
(so every funnel step has profiles) and a planted sequence before ``contract_terminated``,
written once as Parquet under ``bench/results/journeys_data.tmp/`` and reused.

``--analyses`` also takes ``funnelN`` for a funnel of the first N steps (``funnel3``,
``funnel10``...), to see how the cost follows the number of steps.

Every tool must give the same funnel counts, top paths and precursor supports: the run
records ``agree`` per analysis.

Precursors are mined the same way by every tool (per window and step the first and last
time; ``a → b`` held iff first(a) < last(b); ``a → b → c`` iff the first b after first(a)
comes before last(c)), so ``agree`` covers lengths 1 to 3.

    python bench/bench_journeys.py --events 10_000_000
    python bench/bench_journeys.py --events 100_000_000 --tools parcours,chdb --duckdb-memory 8GB
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, save  # noqa: E402

DATA = RESULTS / "journeys_data.tmp"
DAY = 86400
WINDOW = 30 * DAY
YEAR = 365 * DAY
START = 1735689600  # 2025-01-01T00:00:00Z

#: The 20 funnel steps, in order (all distinct, so every tool computes the same thing).
STEPS = [
    "landing_viewed", "offer_viewed", "simulator_started", "simulator_completed",
    "quote_requested", "account_created", "email_verified", "address_entered",
    "meter_number_entered", "tariff_selected", "options_selected", "payment_method_added",
    "contract_previewed", "terms_accepted", "contract_signed", "welcome_email_opened",
    "app_installed", "first_login", "first_reading_sent", "first_invoice_viewed",
]
#: The other 20 names, most frequent first (a Zipf-like background).
OTHERS = [
    "page_viewed", "app_opened", "login", "email_opened", "invoice_viewed", "search",
    "product_viewed", "consumption_viewed", "faq_viewed", "notification_clicked",
    "email_clicked", "payment_made", "profile_updated", "chat_started", "logout",
    "coupon_loaded", "store_visit", "complaint_filed", "call_center_call",
    "contract_terminated",
]
NAMES = OTHERS + STEPS
CHANNELS = ["web", "app", "email", "call_center", "store"]
HOME = {"app_opened": 1, "notification_clicked": 1, "app_installed": 1, "first_login": 1,
        "email_opened": 2, "email_clicked": 2, "welcome_email_opened": 2,
        "call_center_call": 3, "complaint_filed": 3, "contract_terminated": 3,
        "store_visit": 4, "coupon_loaded": 4}
ANCHOR = "login"             # paths: the next 3 steps after each login
TARGET = "contract_terminated"  # precursors: what precedes a termination
PLANTED = ["complaint_filed", "call_center_call", TARGET]
ANALYSES = ["paths", "funnel5", "funnel20", "precursors"]
TOOLS = ["parcours", "pandas", "spark", "chdb"]
TOP = 8
MIN_SUPPORT = 20
MAX_LENGTH = 3


# -- data ---------------------------------------------------------------------------------
def _background() -> np.ndarray:
    w_other = 1.0 / np.arange(1, len(OTHERS) + 1) ** 1.2
    w = np.concatenate([0.95 * w_other / w_other.sum(), np.full(len(STEPS), 0.05 / len(STEPS))])
    w[NAMES.index(TARGET)] = 0.0005  # a termination is rare: ~2 % of profiles, + the planted 3 %
    return w / w.sum()


def generate(events: int, profiles: int, seed: int = 7, chunk: int = 4_000_000) -> Path:
    """Write the event log as Parquet files (one per ~``chunk`` events); cached."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    folder = DATA / f"e{events}_p{profiles}_s{seed}"
    if (folder / "_meta.json").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    rng = np.random.default_rng(seed)
    weight = rng.lognormal(0.0, 0.8, profiles)
    counts = 1 + rng.multinomial(events - profiles, weight / weight.sum())
    bounds = np.searchsorted(np.cumsum(counts), np.arange(chunk, events, chunk), side="right")
    bounds = [0, *sorted(set(bounds.tolist()) - {0, profiles}), profiles]
    bg = _background()
    home = np.array([HOME.get(n, 0) for n in NAMES])
    page = np.array([n.endswith("_viewed") for n in NAMES])
    names, channels = pa.array(NAMES), pa.array(CHANNELS)
    step0, planted = len(OTHERS), np.array([NAMES.index(n) for n in PLANTED])
    for part, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        r = np.random.default_rng([seed, part])
        c = counts[a:b]
        n, k = int(c.sum()), b - a
        who = np.repeat(np.arange(k), c)
        pos = np.arange(n) - np.repeat(np.cumsum(c) - c, c)
        name = r.choice(len(NAMES), n, p=bg)
        ts = r.integers(0, YEAR, n)
        # planted funnel: half the profiles start it, 90 % go on at each step; gaps of
        # about a day, 5 % of them three weeks (so the 30-day window matters)
        length = np.where(r.random(k) < 0.5, np.minimum(r.geometric(0.1, k), len(STEPS)), 0)
        length = np.minimum(length, c)
        m = pos < length[who]
        gap = 1 + r.exponential(DAY, int(m.sum())).astype(np.int64)
        gap[r.random(gap.size) < 0.05] += 21 * DAY
        first = pos[m] == 0
        gap[first] = 0
        cs = np.cumsum(gap)
        cs -= np.repeat(cs[first], np.diff(np.append(np.flatnonzero(first), gap.size)))
        begin = r.integers(0, YEAR - 120 * DAY, k)
        ts[m] = begin[who[m]] + cs
        name[m] = step0 + pos[m]
        # planted precursor: 3 % of profiles complain, call, then terminate within days
        churn = (r.random(k) < 0.03) & (c >= length + 3)
        p = churn[who] & (pos >= length[who]) & (pos < length[who] + 3)
        j = pos[p] - length[who[p]]
        t0 = r.integers(0, YEAR - 30 * DAY, k)
        step = r.integers(3600, 8 * DAY, (k, 3))
        step[:, 0] = 0
        ts[p] = t0[who[p]] + np.cumsum(step, axis=1)[who[p], j]
        name[p] = planted[j]
        # no two events of a profile at the same second: every tool then sees one order
        order = np.lexsort((ts, who))
        who, name, ts = who[order], name[order], ts[order]
        shift = who * (2 * YEAR) - pos
        ts = np.maximum.accumulate(ts + shift) - shift
        flip = r.random(n) < 0.15
        channel = np.where(flip, r.integers(0, len(CHANNELS), n), home[name])
        order = np.argsort(ts, kind="stable")  # a log is written in time order
        who, name, ts, channel = who[order], name[order], ts[order], channel[order]
        ids = pa.array(a + who)
        table = pa.table({
            "profile_id": pc.binary_join_element_wise(
                "p", pc.utf8_lpad(ids.cast(pa.string()), 8, "0"), ""),
            "ts": pa.array((START + ts) * 1_000_000, pa.timestamp("us", tz="UTC")),
            "event": names.take(pa.array(name)),
            "channel": channels.take(pa.array(channel)),
            "type": pa.array(np.where(page[name], "page", "track")),
            "properties": pa.array(np.full(n, "{}")),
        })
        pq.write_table(table, folder / f"part-{part:04d}.parquet", row_group_size=1_000_000)
    meta = {"events": events, "profiles": profiles, "seed": seed, "files": len(bounds) - 1}
    (folder / "_meta.json").write_text(json.dumps(meta))
    return folder


# -- parcours -----------------------------------------------------------------------------
class Parcours:
    """The journeys functions on parcours' journey store, built from the Parquet files
    the way a workspace builds it once per version of its events (the setup:
    parcours.journeys.store.materialize, ENUM names, profile codes, the order key, rows
    sorted by profile and order, in DuckDB's compressed in-memory store database)."""

    def __init__(self, folder: Path, memory_limit: str | None = None) -> None:
        import ibis

        from parcours.journeys.store import materialize, table

        # DuckDB's default memory limit is 80 % of the machine; a lower one makes it spill
        opts = {"memory_limit": memory_limit} if memory_limit else {}
        # an in-memory database, as a workspace's engine; the store attaches its own
        self.con = ibis.duckdb.connect(":memory:", **opts)
        self.con.raw_sql("SET TimeZone = 'UTC'")
        materialize(self.con.read_parquet(f"{folder}/*.parquet"), "journey_store")
        self.t = table(self.con, "journey_store")

    def funnel(self, steps: list[str]) -> list[int]:
        from parcours.journeys.funnel import funnel

        r = funnel(self.t, steps=steps, window="30d").to_pandas()
        return [int(x) for x in r["profiles"]]

    def paths(self, anchor: str) -> list:
        from parcours.journeys.paths import paths

        r = paths(self.t, event=anchor, direction="next", steps=3, collapse_repeats=True, top=TOP)
        rows = zip(r.table["path"].to_pylist(), r.table["profiles"].to_pylist(), strict=True)
        return _paths_answer((tuple(p), n) for p, n in rows)

    def precursors(self, target: str) -> list:
        from parcours.journeys.precursors import precursors

        r = precursors(self.t, target=target, lookback="30d", max_length=MAX_LENGTH,
                       min_support=MIN_SUPPORT)
        return _precursors_answer({tuple(x["sequence"]): (x["support_target"], x["support_control"])
                                   for x in r.table.select(["sequence", "support_target",
                                                            "support_control"]).to_pylist()})


# -- pandas -------------------------------------------------------------------------------
class Pandas:
    """What a pandas user writes: load the columns once, then vectorized frames."""

    def __init__(self, folder: Path) -> None:
        import pandas as pd
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        t = pq.read_table(folder, columns=["profile_id", "ts", "event"])
        secs = pc.divide(t["ts"].cast("int64"), 1_000_000)
        event = pd.Categorical(t["event"].to_pandas())
        pid = pd.Categorical(t["profile_id"].to_pandas())
        # dictionary-encoded: profile and event as integer codes
        df = pd.DataFrame({"pid": pid.codes, "ts": secs.to_numpy(), "ev": event.codes})
        self.profiles = len(pid.categories)
        self.names = np.asarray(event.categories, dtype=object)
        self.code = {n: i for i, n in enumerate(self.names)}
        del t, secs, event, pid
        # one order for every analysis: time (unique per profile, so also each profile's order)
        self.df = df.sort_values("ts", kind="stable", ignore_index=True)

    def _codes(self, names: list[str]) -> list[int]:
        return [self.code.get(n, -1) for n in names]

    def funnel(self, steps: list[str]) -> list[int]:
        import pandas as pd

        codes = self._codes(steps)
        ev = self.df[self.df.ev.isin(codes)]
        level = ev.loc[ev.ev == codes[0], ["pid", "ts"]].assign(start=lambda d: d.ts)
        counts = [level.pid.nunique()]
        for code in codes[1:]:
            # the latest start among the chains that reached the previous step by then
            prev = level.assign(start=level.groupby("pid").start.cummax()).rename(
                columns={"ts": "prev_ts"})
            cur = ev.loc[ev.ev == code, ["pid", "ts"]]
            m = pd.merge_asof(cur, prev, left_on="ts", right_on="prev_ts", by="pid",
                              direction="backward", allow_exact_matches=True)
            level = m.loc[m.ts - m.start <= WINDOW, ["pid", "ts", "start"]]
            counts.append(level.pid.nunique())
        return [int(c) for c in counts]

    def paths(self, anchor: str) -> list:
        df, code = self.df, self.code[anchor]
        first = df.loc[df.ev == code].groupby("pid").ts.min()  # each profile's first anchor
        at = np.full(self.profiles, np.iinfo(np.int64).max)
        at[first.index.to_numpy()] = first.to_numpy()
        side = df.loc[df.ts.to_numpy() > at[df.pid.to_numpy()], ["pid", "ev"]]
        prev = side.groupby("pid").ev.shift().fillna(code)  # the anchor's step before the first
        side = side[side.ev.to_numpy() != prev.to_numpy()]  # a repeat in a row counts once
        side = side.assign(level=side.groupby("pid").cumcount() + 1)
        side = side[side.level <= 3]
        n = side.groupby(["level", "ev"]).size().reset_index(name="n")
        n["name"] = self.names[n.ev.to_numpy()]
        n = n.sort_values(["level", "n", "name"], ascending=[True, False, True])
        n["label"] = np.where(n.groupby("level").cumcount() < TOP, n.name, "other")
        side = side.merge(n[["level", "ev", "label"]], on=["level", "ev"])
        wide = side.pivot(index="pid", columns="level", values="label")
        wide = wide.reindex(index=first.index, columns=[1, 2, 3]).fillna("(end)")
        counts = wide.groupby([1, 2, 3]).size()
        return _paths_answer((tuple(k), int(v)) for k, v in counts.items())

    def precursors(self, target: str) -> list:
        import pandas as pd

        df, tcode = self.df, self.code[target]
        is_t = (df.ev == tcode).to_numpy()
        anchor = df.groupby("pid").ts.max().reindex(range(self.profiles)).to_numpy()
        first = df.loc[is_t].groupby("pid").ts.min()
        positive = np.zeros(self.profiles, bool)
        positive[first.index.to_numpy()] = True
        anchor[first.index.to_numpy()] = first.to_numpy()
        w = df.loc[~is_t]
        a = anchor[w.pid.to_numpy()]
        w = w[(w.ts.to_numpy() >= a - WINDOW) & (w.ts.to_numpy() < a)]
        occ = w.groupby(["pid", "ev"]).ts.agg(["min", "max"]).reset_index()
        occ["pos"] = positive[occ.pid.to_numpy()]
        out: dict[tuple, list[int]] = {}

        def add(counts: Any, cols: list[str]) -> None:
            for row in counts.itertuples(index=False):
                key = tuple(self.names[getattr(row, c)] for c in cols)
                out.setdefault(key, [0, 0])[0 if row.pos else 1] += int(row.n)

        add(occ.groupby(["ev", "pos"]).size().reset_index(name="n"), ["ev"])
        f1 = [self.code[s[0]] for s, (p, _) in out.items() if p >= MIN_SUPPORT]
        o = occ[occ.ev.isin(f1)]
        j = o[["pid", "pos", "ev", "min"]].merge(o[["pid", "ev", "max"]], on="pid",
                                                 suffixes=("_a", "_b"))
        j = j[j["min"] < j["max"]]  # a before b  <=>  first(a) < last(b)
        add(j.groupby(["ev_a", "ev_b", "pos"]).size().reset_index(name="n"), ["ev_a", "ev_b"])
        if MAX_LENGTH >= 3:
            f2 = {s for s, (p, _) in out.items() if len(s) == 2 and p >= MIN_SUPPORT}
            c3 = _triples(f2)
            if c3:
                trip = pd.DataFrame([self._codes(list(x)) for x in c3], columns=["a", "b", "c"])
                ab = trip[["a", "b"]].drop_duplicates()
                x = o[["pid", "pos", "ev", "min"]].rename(columns={"ev": "a"}).merge(ab, on="a")
                bs = w[w.ev.isin(ab.b.unique())].rename(columns={"ev": "b"})
                nb = x.merge(bs, on=["pid", "b"])
                nb = nb[nb.ts > nb["min"]].groupby(["pid", "pos", "a", "b"]).ts.min().reset_index()
                nb = nb.merge(trip, on=["a", "b"])  # next b after the first a
                cs = o[["pid", "ev", "max"]].rename(columns={"ev": "c"})
                j = nb.merge(cs, on=["pid", "c"])
                j = j[j.ts < j["max"]]
                add(j.groupby(["a", "b", "c", "pos"]).size().reset_index(name="n"), ["a", "b", "c"])
        return _precursors_answer({k: tuple(v) for k, v in out.items() if v[0] >= MIN_SUPPORT})


# -- Spark --------------------------------------------------------------------------------
class Spark:
    """PySpark DataFrame API, local[2]: one shuffle (events per profile), then arrays."""

    def __init__(self, folder: Path, memory: str = "8g") -> None:
        from pyspark.sql import SparkSession

        self.spark = (
            SparkSession.builder.master("local[2]").appName("bench-journeys")
            .config("spark.driver.memory", memory)
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", "16")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
        self.spark.sparkContext.setLogLevel("ERROR")
        self.df = self.spark.read.parquet(str(folder))

    def funnel(self, steps: list[str]) -> list[int]:
        from pyspark.sql import functions as F

        index = F.create_map(*[x for i, s in enumerate(steps) for x in (F.lit(s), F.lit(i + 1))])
        ev = self.df.filter(F.col("event").isin(steps)).select(
            "profile_id", F.unix_timestamp("ts").alias("t"),
            F.element_at(index, F.col("event")).alias("i"))
        per = ev.groupBy("profile_id").agg(
            F.array_sort(F.collect_list(F.struct("t", "i"))).alias("e"))
        # ClickHouse's windowFunnel walk: s[j] is the latest start of a chain reaching step j+1
        k = len(steps)
        level = F.expr(f"""aggregate(e, array_repeat(cast(-1 as bigint), {k}),
            (s, x) -> transform(s, (v, j) -> CASE
                WHEN j + 1 != x.i THEN v
                WHEN x.i = 1 THEN x.t
                WHEN get(s, j - 1) >= 0 AND x.t - get(s, j - 1) <= {WINDOW} THEN get(s, j - 1)
                ELSE v END),
            s -> size(filter(s, v -> v >= 0)))""")
        rows = per.select(level.alias("level")).groupBy("level").count().collect()
        return _reached({int(r["level"]): int(r["count"]) for r in rows}, k)

    def paths(self, anchor: str) -> list:
        from pyspark.sql import functions as F

        a = _q(anchor)
        per = self.df.groupBy("profile_id").agg(
            F.array_sort(F.collect_list(F.struct("ts", "event"))).alias("e"))
        per = per.select(F.col("e.event").alias("e")).select(
            "e", F.array_position("e", anchor).alias("i")).filter("i > 0")
        # the steps after the first anchor, a repeat in a row counted once, the first 3
        s = per.select(F.expr(f"""slice(filter(slice(e, i + 1, size(e) - i),
            (x, j) -> x != CASE WHEN j = 0 THEN {a} ELSE e[i + j - 1] END), 1, 3)""").alias("s"))
        s = s.cache()
        counts = s.select(F.posexplode("s")).groupBy("pos", "col").count().collect()
        top: dict[int, list[str]] = {}
        for r in sorted(counts, key=lambda r: (r["pos"], -r["count"], r["col"])):
            top.setdefault(r["pos"], []).append(r["col"])
        labels = " ".join(
            f"WHEN j = {k} THEN CASE WHEN x IN ({', '.join(_q(v) for v in names[:TOP])}) "
            f"THEN x ELSE 'other' END" for k, names in top.items())
        path = F.expr(f"""concat(transform(s, (x, j) -> CASE {labels} END),
                                 array_repeat('(end)', 3 - size(s)))""")
        rows = s.groupBy(path.alias("p")).count().collect()
        s.unpersist()
        return _paths_answer((tuple(r["p"]), int(r["count"])) for r in rows)

    def precursors(self, target: str) -> list:
        from pyspark.sql import functions as F

        ev = self.df.select("profile_id", F.unix_timestamp("ts").alias("t"), "event")
        anchors = ev.groupBy("profile_id").agg(
            F.min(F.when(F.col("event") == target, F.col("t"))).alias("ft"), F.max("t").alias("lt"))
        anchors = anchors.select("profile_id", F.col("ft").isNotNull().alias("pos"),
                                 F.coalesce("ft", "lt").alias("anchor"))
        w = ev.filter(F.col("event") != target).join(anchors, "profile_id").filter(
            (F.col("t") >= F.col("anchor") - WINDOW) & (F.col("t") < F.col("anchor"))
        ).select("profile_id", "pos", F.col("event").alias("step"), "t").cache()
        occ = w.groupBy("profile_id", "pos", "step").agg(
            F.min("t").alias("first"), F.max("t").alias("last")).cache()
        out: dict[tuple, list[int]] = {}

        def add(df: Any, cols: list[str]) -> None:
            for r in df.collect():
                key = tuple(r[c] for c in cols)
                out.setdefault(key, [0, 0])[0 if r["pos"] else 1] += r["count"]

        add(occ.groupBy("step", "pos").count(), ["step"])
        f1 = [k[0] for k, (p, _) in out.items() if p >= MIN_SUPPORT]
        o = occ.filter(F.col("step").isin(f1))
        a = o.select("profile_id", "pos", F.col("step").alias("a"), "first")
        b = o.select("profile_id", F.col("step").alias("b"), "last")
        add(a.join(b, "profile_id").filter("first < last").groupBy("a", "b", "pos").count(),
            ["a", "b"])
        if MAX_LENGTH >= 3:
            f2 = {k for k, (p, _) in out.items() if len(k) == 2 and p >= MIN_SUPPORT}
            c3 = _triples(f2)
            if c3:
                trip = self.spark.createDataFrame(c3, "a string, b string, c string")
                ab = trip.select("a", "b").distinct()
                x = a.join(F.broadcast(ab), "a")
                bs = w.select("profile_id", F.col("step").alias("b"), "t")
                nb = x.join(bs, ["profile_id", "b"]).filter("t > first").groupBy(
                    "profile_id", "pos", "a", "b").agg(F.min("t").alias("next_b"))
                cs = o.select("profile_id", F.col("step").alias("c"), F.col("last"))
                j = nb.join(F.broadcast(trip), ["a", "b"]).join(cs, ["profile_id", "c"]).filter(
                    "next_b < last")
                add(j.groupBy("a", "b", "c", "pos").count(), ["a", "b", "c"])
        w.unpersist()
        occ.unpersist()
        return _precursors_answer({k: tuple(v) for k, v in out.items() if v[0] >= MIN_SUPPORT})


# -- chDB ---------------------------------------------------------------------------------
class Chdb:
    """ClickHouse in-process, the Parquet files loaded first (the setup, as parcours
    builds its store) into a MergeTree table ordered by (profile_id, ts), names as
    LowCardinality(String): how a ClickHouse user (PostHog) keeps events."""

    def __init__(self, folder: Path) -> None:
        import chdb

        self.con = chdb.connect(":memory:")
        self.query(f"""CREATE TABLE ev ENGINE = MergeTree ORDER BY (profile_id, ts) AS
            SELECT profile_id, ts, CAST(event AS LowCardinality(String)) AS event,
                   CAST(channel AS LowCardinality(String)) AS channel,
                   CAST(type AS LowCardinality(String)) AS type, properties
            FROM file('{folder}/*.parquet', Parquet)""")
        self.src = "ev"

    def query(self, sql: str) -> Any:
        # the Parquet columns are optional; ClickHouse's funnel takes at most 8 Nullable conditions
        return self.con.query(sql + " SETTINGS schema_inference_make_columns_nullable = 0",
                              "DataFrame")

    def paths(self, anchor: str) -> list:
        a = _q(anchor)
        self.query(f"""CREATE OR REPLACE TABLE paths_s ENGINE = Memory AS
            WITH arrayMap(x -> x.2, arraySort(groupArray((ts, event)))) AS e, indexOf(e, {a}) AS i,
                 arraySlice(e, i + 1) AS rest
            SELECT arraySlice(arrayFilter((x, p) -> x != p, rest,
                                          arrayPopBack(arrayPushFront(rest, {a}))), 1, 3) AS s
            FROM {self.src} GROUP BY profile_id HAVING i > 0""")
        df = self.query(f"""
            WITH (SELECT groupArray((k, step)) FROM (
                    SELECT k, step, row_number() OVER (PARTITION BY k ORDER BY n DESC, step) AS rk
                    FROM (SELECT k, step, count() AS n FROM paths_s
                          ARRAY JOIN s AS step, arrayEnumerate(s) AS k GROUP BY k, step))
                  WHERE rk <= {TOP}) AS top
            SELECT arrayConcat(arrayMap((x, k) -> if(has(top, (k, x)), x, 'other'),
                                        s, arrayEnumerate(s)),
                               arrayResize(CAST([], 'Array(String)'), 3 - length(s), '(end)')) AS p,
                   count() AS n
            FROM paths_s GROUP BY p""")
        self.query("DROP TABLE paths_s")
        return _paths_answer((tuple(p), int(n)) for p, n in zip(df.p, df.n, strict=True))

    def precursors(self, target: str) -> list:
        t = _q(target)
        self.query(f"""CREATE OR REPLACE TABLE pre_w ENGINE = Memory AS
            WITH anchors AS (
                SELECT profile_id, countIf(event = {t}) > 0 AS pos,
                       if(pos, minIf(toUnixTimestamp(ts), event = {t}),
                          max(toUnixTimestamp(ts))) AS anchor
                FROM {self.src} GROUP BY profile_id)
            SELECT e.profile_id AS profile_id, a.pos AS pos, e.event AS step,
                   toUnixTimestamp(e.ts) AS t
            FROM {self.src} AS e INNER JOIN anchors AS a ON e.profile_id = a.profile_id
            WHERE e.event != {t} AND t >= a.anchor - {WINDOW} AND t < a.anchor""")
        self.query("""CREATE OR REPLACE TABLE pre_occ ENGINE = Memory AS
            SELECT profile_id, pos, step, min(t) AS first, max(t) AS last FROM pre_w
            GROUP BY profile_id, pos, step""")
        out: dict[tuple, list[int]] = {}

        def add(sql: str, cols: list[str]) -> None:
            df = self.query(sql)
            for r in df.itertuples(index=False):
                key = tuple(getattr(r, c) for c in cols)
                out.setdefault(key, [0, 0])[0 if r.pos else 1] += int(r.n)

        add("SELECT step, pos, count() AS n FROM pre_occ GROUP BY step, pos", ["step"])
        f1 = ", ".join(_q(k[0]) for k, (p, _) in out.items() if p >= MIN_SUPPORT) or "''"
        add(f"""SELECT x.step AS a, y.step AS b, x.pos AS pos, count() AS n
            FROM (SELECT * FROM pre_occ WHERE step IN ({f1})) AS x
            INNER JOIN (SELECT * FROM pre_occ WHERE step IN ({f1})) AS y
                ON x.profile_id = y.profile_id
            WHERE x.first < y.last GROUP BY a, b, pos""", ["a", "b"])
        if MAX_LENGTH >= 3:
            f2 = {k for k, (p, _) in out.items() if len(k) == 2 and p >= MIN_SUPPORT}
            c3 = _triples(f2)
            if c3:
                # the candidates as a table (inlined, thousands of them exceed max_query_size)
                self.query("CREATE OR REPLACE TABLE pre_trip (a String, b String, c String) "
                           "ENGINE = Memory")
                self.con.query("INSERT INTO pre_trip VALUES " + ", ".join(
                    f"({_q(a)}, {_q(b)}, {_q(c)})" for a, b, c in c3))
                add("""
                    WITH x AS (
                        SELECT o.profile_id AS profile_id, o.pos AS pos, ab.a AS a, ab.b AS b,
                               o.first AS first
                        FROM pre_occ AS o
                        INNER JOIN (SELECT DISTINCT a, b FROM pre_trip) AS ab ON o.step = ab.a),
                    nb AS (
                        SELECT x.profile_id AS profile_id, x.pos AS pos, x.a AS a, x.b AS b,
                               min(w.t) AS next_b
                        FROM x INNER JOIN pre_w AS w ON x.profile_id = w.profile_id AND x.b = w.step
                        WHERE w.t > x.first GROUP BY profile_id, pos, a, b),
                    y AS (
                        SELECT nb.profile_id AS profile_id, nb.pos AS pos, nb.a AS a, nb.b AS b,
                               tr.c AS c, nb.next_b AS next_b
                        FROM nb INNER JOIN pre_trip AS tr ON nb.a = tr.a AND nb.b = tr.b)
                    SELECT y.a AS a, y.b AS b, y.c AS c, y.pos AS pos, count() AS n
                    FROM y INNER JOIN pre_occ AS o ON y.profile_id = o.profile_id AND y.c = o.step
                    WHERE y.next_b < o.last GROUP BY a, b, c, pos""", ["a", "b", "c"])
                self.query("DROP TABLE pre_trip")
        self.query("DROP TABLE pre_w")
        self.query("DROP TABLE pre_occ")
        return _precursors_answer({k: tuple(v) for k, v in out.items() if v[0] >= MIN_SUPPORT})

    def funnel(self, steps: list[str]) -> list[int]:
        conds = ", ".join(f"event = {_q(s)}" for s in steps)
        names = ", ".join(_q(s) for s in steps)
        df = self.query(f"""
            SELECT level, count() AS n FROM (
                SELECT profile_id, windowFunnel({WINDOW})(toUnixTimestamp(ts), {conds}) AS level
                FROM {self.src} WHERE event IN ({names}) GROUP BY profile_id)
            GROUP BY level""")
        return _reached(dict(zip(df.level.astype(int), df.n.astype(int), strict=True)), len(steps))


def _triples(f2: set[tuple]) -> list[tuple]:
    """Length-3 candidates: every 2-subsequence frequent (support cannot grow with length)."""
    nxt: dict[str, list[str]] = {}
    for a, b in f2:
        nxt.setdefault(a, []).append(b)
    return sorted((a, b, c) for a, b in f2 for c in nxt.get(b, ()) if (a, c) in f2)


def _paths_answer(rows: Any) -> list:
    """Every path and its profiles, most frequent first, then by path."""
    return [[list(p), int(n)] for p, n in sorted(rows, key=lambda r: (-r[1], tuple(r[0])))]


def _precursors_answer(supports: dict[tuple, tuple]) -> list:
    """Every reported sequence with its (target, control) window supports."""
    return [[list(k), int(v[0]), int(v[1])] for k, v in sorted(supports.items(),
                                                                key=lambda kv: (len(kv[0]), kv[0]))]


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _reached(levels: dict[int, int], k: int) -> list[int]:
    """Profiles whose best level is >= each step, from profiles per best level."""
    return [sum(n for lv, n in levels.items() if lv >= i) for i in range(1, k + 1)]


# -- running ------------------------------------------------------------------------------
def _tool(name: str, folder: Path, a: argparse.Namespace) -> Any:
    if name == "spark":
        return Spark(folder, a.spark_memory)
    if name == "parcours":
        return Parcours(folder, a.duckdb_memory)
    return {"pandas": Pandas, "chdb": Chdb}[name](folder)


def _funnel_steps(analysis: str) -> list[str] | None:
    """``funnelN``: the first N steps (1 to 20), e.g. ``funnel3`` to compare with
    ``funnel20``; None for another analysis."""
    if not analysis.startswith("funnel"):
        return None
    n = int(analysis.removeprefix("funnel"))
    if not 1 <= n <= len(STEPS):
        raise SystemExit(f"{analysis}: a funnel has 1 to {len(STEPS)} steps here")
    return STEPS[:n]


def _analysis(tool: Any, analysis: str) -> Any:
    steps = _funnel_steps(analysis)
    if steps is not None:
        return tool.funnel(steps)
    if analysis == "paths":
        return tool.paths(ANCHOR)
    if analysis == "precursors":
        return tool.precursors(TARGET)
    raise SystemExit(f"unknown analysis {analysis!r}: use paths, funnelN (N = 1..20) or precursors")


def _cpu() -> float:
    """CPU seconds of this process (all its threads) and its finished children."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def child(tool_name: str, analysis: str, folder: Path, a: argparse.Namespace) -> dict:
    t, c = time.perf_counter(), _cpu()
    tool = _tool(tool_name, folder, a)
    setup, setup_cpu = time.perf_counter() - t, _cpu() - c
    if a.mark:  # tells the parent the analysis starts (its peak memory from here)
        Path(a.mark).touch()
    runs, cpus, answer = [], [], None
    for _ in range(a.repeat):
        t, c = time.perf_counter(), _cpu()
        answer = _analysis(tool, analysis)
        runs.append(round(time.perf_counter() - t, 3))
        cpus.append(round(_cpu() - c, 3))
    # a JVM's CPU is not this process' (Spark): its figure is the driver's only
    return {"seconds": min(runs), "runs": runs, "cpu_seconds": cpus[runs.index(min(runs))],
            "setup_seconds": round(setup, 3), "setup_cpu_seconds": round(setup_cpu, 3),
            "answer": answer}


def _tree_rss(proc: Any) -> int:
    import psutil

    total = 0
    try:
        p = psutil.Process(proc.pid)
        for q in [p, *p.children(recursive=True)]:
            with suppress(psutil.Error):
                total += q.memory_info().rss
    except psutil.Error:
        pass
    return total


def run_child(tool: str, analysis: str, folder: Path, a: argparse.Namespace) -> dict:
    """One tool and one analysis in a fresh process: time, peak memory of its process tree."""
    cmd = [sys.executable, __file__, "--child", tool, analysis, str(folder),
           "--repeat", str(a.repeat), "--spark-memory", a.spark_memory]
    if a.duckdb_memory:
        cmd += ["--duckdb-memory", a.duckdb_memory]
    out_path = DATA / f"child-{os.getpid()}.json"
    mark = DATA / f"child-{os.getpid()}.analysis"
    mark.unlink(missing_ok=True)
    cmd += ["--mark", str(mark)]
    load = os.getloadavg()[0]
    with open(out_path, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
    peak, peak_analysis, status, start = 0, 0, "ok", time.perf_counter()
    limit = a.memory_limit * 2**30
    while proc.poll() is None:
        rss = _tree_rss(proc)
        peak = max(peak, rss)
        if mark.exists():
            peak_analysis = max(peak_analysis, rss)
        elapsed = time.perf_counter() - start
        if elapsed > a.timeout or peak > limit:
            status = "timeout" if elapsed > a.timeout else "memory"
            os.killpg(proc.pid, signal.SIGKILL)  # the child's own session: it and its JVM
            proc.wait()
            break
        time.sleep(0.05)
    err = proc.stderr.read() if proc.stderr else ""
    mark.unlink(missing_ok=True)
    # peak_gib: setup and analysis; analysis_peak_gib: from the analysis' start (the
    # store or frame held, plus the analysis' own working set)
    row: dict[str, Any] = {"status": status, "peak_gib": round(peak / 2**30, 3),
                           "analysis_peak_gib": round(peak_analysis / 2**30, 3),
                           "wall_seconds": round(time.perf_counter() - start, 1),
                           "load_average": [round(load, 2), round(os.getloadavg()[0], 2)]}
    if status == "ok":
        if proc.returncode != 0:
            row["status"] = "error"
            lines = [x for x in err.splitlines() if "Error" in x or "Exception" in x]
            row["error"] = (lines or err.strip().splitlines() or [str(proc.returncode)])[-1][:500]
        else:
            row.update(json.loads(out_path.read_text().strip().splitlines()[-1]))
    out_path.unlink(missing_ok=True)
    return row


def _agree(analysis: str, answers: dict[str, Any]) -> bool:
    """Every tool gave the same whole answer (all paths, all reported sequences)."""
    vals = list(answers.values())
    return all(v == vals[0] for v in vals[1:])


def table(result: dict) -> str:
    lines = ["| analysis | tool | seconds | CPU s | peak GiB (analysis) | ratio to parcours "
             "| setup s | load | agree |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for analysis, per in result["analyses"].items():
        base = per.get("parcours", {}).get("seconds")
        for tool, row in per.items():
            if tool == "agree":
                continue
            if row["status"] == "ok":
                secs = f"{row['seconds']:.2f}"
                ratio = f"{row['seconds'] / base:.2f}" if base else "-"
            else:
                secs, ratio = row["status"], "-"
            setup = f"{row['setup_seconds']:.1f}" if "setup_seconds" in row else "-"
            cpu = f"{row['cpu_seconds']:.2f}" if "cpu_seconds" in row else "-"
            mem = f"{row['peak_gib']:.2f}"
            if "analysis_peak_gib" in row:
                mem += f" ({row['analysis_peak_gib']:.2f})"
            load = "-".join(f"{x:.1f}" for x in row.get("load_average", []))
            lines.append(f"| {analysis} | {tool} | {secs} | {cpu} | {mem} | {ratio} "
                         f"| {setup} | {load} | {per.get('agree', '-')} |")
    return "\n".join(lines)


def _merge_previous(path: Path, result: dict) -> None:
    """Keep an earlier run's tools and analyses on the same data that this run did not
    redo (each with the command that measured it), so a size can be run in parts."""
    if not path.exists():
        return
    old = json.loads(path.read_text())
    if [old.get(k) for k in ("events", "profiles", "seed")] != \
            [result[k] for k in ("events", "profiles", "seed")]:
        return
    commands = old.get("commands") or [old.get("command")]
    if result.get("data_cached"):  # this run reused the data: keep the time it took to make
        result["generate_seconds"] = old.get("generate_seconds", result["generate_seconds"])
    for analysis, per in old.get("analyses", {}).items():
        mine = result["analyses"].setdefault(analysis, {})
        for tool, row in per.items():
            if tool != "agree" and tool not in mine:
                row.setdefault("command", old.get("command"))
                mine[tool] = row
        mine.pop("agree", None)
        sha = {t: r.get("answer_sha1", json.dumps(r.get("answer")))
               for t, r in mine.items() if r["status"] == "ok"}
        mine["agree"] = len(set(sha.values())) == 1 if len(sha) > 1 else None
    result["commands"] = [c for c in commands if c] + [result["command"]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--profiles", type=int, default=None, help="default: events / 50")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--analyses", default=",".join(ANALYSES))
    ap.add_argument("--timeout", type=float, default=600, help="seconds per tool and analysis")
    ap.add_argument("--memory-limit", type=float, default=16,
                    help="GiB; the child (and its JVM) is killed past it")
    ap.add_argument("--repeat", type=int, default=1, help="runs per child; the best is kept")
    ap.add_argument("--spark-memory", default="8g", help="spark.driver.memory")
    ap.add_argument("--duckdb-memory", default=None,
                    help="parcours: DuckDB memory_limit, e.g. 8GB (default: 80 %% of RAM)")
    ap.add_argument("--name", default=None, help="results file (default: journeys_<size>)")
    ap.add_argument("--child", nargs=3, metavar=("TOOL", "ANALYSIS", "FOLDER"),
                    help=argparse.SUPPRESS)
    ap.add_argument("--mark", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child[0], a.child[1], Path(a.child[2]), a)))
        return
    profiles = a.profiles or a.events // 50
    t = time.perf_counter()
    cached = (DATA / f"e{a.events}_p{profiles}_s{a.seed}" / "_meta.json").exists()
    folder = generate(a.events, profiles, a.seed)
    gen = round(time.perf_counter() - t, 1)
    tools, analyses = a.tools.split(","), a.analyses.split(",")
    for x in analyses:  # a typo fails here, not after an hour of other tools
        if x not in ("paths", "precursors") and not _funnel_steps(x):
            raise SystemExit(f"unknown analysis {x!r}: use paths, funnelN (N = 1..20) or precursors")
    result: dict[str, Any] = {
        "command": "python bench/bench_journeys.py " + " ".join(sys.argv[1:]),
        "events": a.events, "profiles": profiles, "seed": a.seed, "generate_seconds": gen,
        "data_cached": cached,
        "params": {"window": "30d", "anchor": ANCHOR, "paths_steps": 3, "top": TOP,
                   **{x: _funnel_steps(x) for x in analyses if _funnel_steps(x)},
                   "target": TARGET,
                   "lookback": "30d", "max_length": MAX_LENGTH, "min_support": MIN_SUPPORT},
        "timeout": a.timeout, "memory_limit_gib": a.memory_limit, "repeat": a.repeat,
        "spark_memory": a.spark_memory, "duckdb_memory": a.duckdb_memory,
        "parcours_store": "compressed in-memory DuckDB database, sorted by profile",
        "analyses": {},
    }
    import psutil

    result["load_average_start"] = list(os.getloadavg())
    for analysis in analyses:
        per: dict[str, Any] = {}
        for tool in tools:
            row = run_child(tool, analysis, folder, a)
            per[tool] = row
            print(f"{analysis:11s} {tool:9s} {row['status']:7s} {row.get('seconds', '-')!s:>8} s "
                  f"{row.get('cpu_seconds', '-')!s:>8} CPU-s {row['peak_gib']:6.2f} GiB "
                  f"(analysis {row['analysis_peak_gib']:.2f}) setup "
                  f"{row.get('setup_seconds', '-')} s load {row['load_average']}", flush=True)
        answers = {k: v["answer"] for k, v in per.items() if v["status"] == "ok"}
        per["agree"] = _agree(analysis, answers) if len(answers) > 1 else None
        if per["agree"] is False:
            print(f"  DISAGREE on {analysis}: " + json.dumps(answers)[:2000], flush=True)
        for row in per.values():  # keep the results file small: a digest of long answers
            long = analysis in ("paths", "precursors")
            if long and isinstance(row, dict) and isinstance(row.get("answer"), list):
                full = row.pop("answer")
                row["answer_rows"] = len(full)
                row["answer_sha1"] = hashlib.sha1(json.dumps(full).encode()).hexdigest()
                row["answer_head"] = full[:TOP] if analysis == "paths" else [
                    x for x in full if x[0] in (PLANTED[:1], PLANTED[:2])]
        result["analyses"][analysis] = per
    result["load_average_end"] = list(os.getloadavg())
    result["memory_available_gib_end"] = round(psutil.virtual_memory().available / 2**30, 1)
    size = f"{a.events // 1_000_000}m" if a.events >= 1_000_000 else str(a.events)
    name = a.name or f"journeys_{size}"
    _merge_previous(RESULTS / f"{name}.json", result)
    path = save(name, result)
    print(table(result))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
