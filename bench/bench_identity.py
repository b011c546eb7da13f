"""Identity resolution (the 360 endpoint's benchmark is bench/bench_360.py).

Resolution over ~10M identifier edges (synthetic persons: a customer id, cookies, an
email and a phone each, identify calls carrying them, plus shared household tablets
and a placeholder phone for the guard rails). parcours' full resolution runs in a
fresh process (time and peak RSS, DuckDB included); then connected components alone,
parcours (Ibis label propagation on DuckDB) vs networkx on the same edges, at a size
networkx can hold, in fresh processes too.

    python bench/bench_identity.py --persons 740000 --nx-edges 2000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402

import parcours  # noqa: E402

TENANT = "bench"


def _strs(prefix: str, values: np.ndarray, width: int) -> pa.Array:
    return pc.binary_join_element_wise(
        pa.scalar(prefix), pc.utf8_lpad(pa.array(values).cast(pa.string()), width, "0"), ""
    )


def generate(ws: parcours.Workspace, persons: int, seed: int = 1, chunk: int = 1_000_000) -> int:
    """Identify calls: (user, cookie, email, phone) per cookie; returns events written."""
    rng = np.random.default_rng(seed)
    cookies = 1 + rng.poisson(2.5, persons)
    owner = np.repeat(np.arange(persons), cookies)
    n = len(owner)
    t0 = int(np.datetime64("2025-01-01T00:00:00", "us").astype(np.int64))
    ts = t0 + rng.integers(0, 365 * 86400 * 10**6, n)
    anon = np.arange(n)
    phone = owner.copy()
    # guard rails: 1 tablet per 500 persons shared by 3 of them; 1% placeholder phones
    tablets = max(1, persons // 500)
    k = rng.choice(n, 3 * tablets, replace=False)
    anon[k] = n + np.repeat(np.arange(tablets), 3)
    placeholder = rng.random(n) < 0.01
    written = 0
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        o = owner[a:b]
        user = _strs("U", o, 8)
        email = pc.binary_join_element_wise(_strs("p", o, 8), pa.scalar("@example.org"), "")
        ph = pc.if_else(pa.array(placeholder[a:b]), pa.scalar("+33100000000"), _strs("+336", phone[a:b], 8))
        traits = pc.binary_join_element_wise(
            pa.scalar('{"email":"'), email, pa.scalar('","phone":"'), ph, pa.scalar('"}'), ""
        )
        t = pa.array(ts[a:b], pa.timestamp("us", tz="UTC"))
        m = b - a
        table = pa.table({
            "message_id": _strs("m", np.arange(a, b), 9),
            "tenant": pa.array([TENANT] * m), "type": pa.array(["identify"] * m),
            "event": pa.array(["identify"] * m), "channel": pa.array(["web"] * m),
            "user_id": user, "anonymous_id": _strs("A", anon[a:b], 9), "traits": traits,
            "timestamp": t, "received_at": t,
        })
        written += ws.write(TENANT, "events", table)
    return written


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB


def _cpu_s() -> float:
    """CPU seconds of this process, all threads (DuckDB's included): on a shared machine
    this moves far less with the load than the wall time."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return round(r.ru_utime + r.ru_stime, 1)


def child_resolve(path: str) -> dict:
    from parcours.identity import resolve

    ws = parcours.open(path)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    cpu = _cpu_s()
    r = resolve(ws, TENANT, serve=False, incremental=False)
    out = {"seconds": round(time.perf_counter() - start, 2), "cpu_s": round(_cpu_s() - cpu, 1),
           "load_1min_at_start": round(load, 2), "load_1min_at_end": round(os.getloadavg()[0], 2), "peak_gib": round(_peak_gib(), 3),
           "edges": r.edges, "identifiers": r.identifiers, "profiles": r.profiles, "rounds": r.rounds,
           "shared_identifiers": r.shared_identifiers, "cut_edges": r.cut_edges, "timings": r.timings}
    # the uncut edges, for the components-only comparison
    e = ws.lake.read(TENANT, "analytics", "identity_edges", ["src", "dst", "cut_by"])
    e = e.filter(pc.is_null(e.column("cut_by"))).select(["src", "dst"])
    pq.write_table(e, Path(path) / "edges.parquet")
    out["linked_edges"] = e.num_rows
    return out


def child_components(path: str, limit: int) -> dict:
    import ibis

    from parcours.identity.graph import Scratch, components

    edges = pq.read_table(Path(path) / "edges.parquet").slice(0, limit)
    ws = parcours.open(path)
    con = ws.engine.con
    start = time.perf_counter()
    ws.engine.duckdb.register("bench_edges", edges)
    e = con.table("bench_edges")
    scratch = Scratch(con)
    # as resolve does: identifiers numbered once (rank by name), components on integers
    names = ibis.union(e.select(name="src"), e.select(name="dst"), distinct=True)
    ids = scratch.keep(names.mutate(node=ibis.row_number().over(order_by="name").cast("int64")))
    sa, sb = ids.select(sa="name", a="node"), ids.select(sb="name", b="node")
    pairs = e.join(sa, e.src == sa.sa).join(sb, ibis._.dst == sb.sb).select("a", "b")
    both = ibis.union(pairs, pairs.select(a="b", b="a"), distinct=False)
    labels, rounds = components(ids.select("node"), both, scratch)
    n = labels.select("label").distinct().count().to_pyarrow().as_py()
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 2), "peak_gib": round(_peak_gib(), 3), "components": int(n),
            "rounds": rounds, "edges": edges.num_rows}


def child_networkx(path: str, limit: int) -> dict:
    import networkx as nx

    edges = pq.read_table(Path(path) / "edges.parquet").slice(0, limit)
    src, dst = edges.column("src").to_pylist(), edges.column("dst").to_pylist()
    del edges
    start = time.perf_counter()
    g = nx.Graph()
    g.add_edges_from(zip(src, dst, strict=True))
    n = sum(1 for _ in nx.connected_components(g))
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 2), "peak_gib": round(_peak_gib(), 3), "components": n,
            "edges": limit}


def run_child(*args: str) -> dict:
    # DuckDB spills to its temp folder past this limit instead of growing without bound
    env = {"PARCOURS__ENGINE__DUCKDB_MEMORY_LIMIT": "4GB", **os.environ}
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         env=env, check=True, cwd=tempfile.gettempdir())
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        cmd, args = sys.argv[1], sys.argv[2:]
        fn = {"_resolve": lambda: child_resolve(args[0]),
              "_components": lambda: child_components(args[0], int(args[1])),
              "_networkx": lambda: child_networkx(args[0], int(args[1]))}[cmd]
        print(json.dumps(fn()))
        return
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--persons", type=int, default=740_000, help="synthetic persons (~13.5 edges each)")
    p.add_argument("--nx-edges", type=int, default=2_000_000, help="edges for the networkx comparison")
    a = p.parse_args()
    result: dict = {"command": "python bench/bench_identity.py " + " ".join(sys.argv[1:])}
    with tempfile.TemporaryDirectory(prefix="bench-identity-") as tmp:
        folder = Path(tmp)
        ws = parcours.init(folder / "ws")
        ws.create_tenant(TENANT)
        t = time.perf_counter()
        result["events"] = generate(ws, a.persons)
        result["generate_s"] = round(time.perf_counter() - t, 1)
        ws.close()
        r = run_child("_resolve", str(folder / "ws"))
        result["resolve"] = r
        print("resolve:", r, flush=True)
        total = r["linked_edges"]
        size = min(a.nx_edges, total)
        result["components_same_edges"] = {
            "parcours_duckdb": run_child("_components", str(folder / "ws"), str(size)),
            "networkx": run_child("_networkx", str(folder / "ws"), str(size)),
        }
        result["components_all_edges_parcours"] = run_child("_components", str(folder / "ws"), str(total))
        c = result["components_same_edges"]
        c["networkx_over_parcours_time"] = round(c["networkx"]["seconds"] / c["parcours_duckdb"]["seconds"], 2)
        print("components:", c, result["components_all_edges_parcours"], flush=True)
    previous = Path(__file__).resolve().parent / "results" / "identity.json"
    if previous.exists():  # keep the 360 figures of earlier runs (now bench/bench_360.py's)
        old = json.loads(previous.read_text())
        kept = {k: v for k, v in old.items() if k not in result and k not in ("benchmark", "machine", "when")}
        if kept:
            result = {**kept, **result, "command_resolve": result["command"]}
    path = save("identity", result)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
