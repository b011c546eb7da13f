"""Identity resolution and the 360° endpoint.

1. Resolution over ~10M identifier edges (synthetic persons: a customer id, cookies, an
   email and a phone each, identify calls carrying them, plus shared household tablets
   and a placeholder phone for the guard rails). parcours' full resolution runs in a
   fresh process (time and peak RSS, DuckDB included); then connected components alone,
   parcours (Ibis label propagation on DuckDB) vs networkx on the same edges, at a size
   networkx can hold, in fresh processes too.
2. The 360 endpoint over HTTP (`parcours serve`, real server) on a synthetic world
   written through the platform's writers (``generate_360``: ~100 events per customer,
   skewed; cookies, identify calls, invoices, verbatims) or the demo world: resolution,
   the serving store's build time and size, then p50/p99 latency and throughput under 20
   concurrent clients, compared with computing the timeline straight from the lake
   (DuckDB over Parquet, no serving store).

    python bench/bench_identity.py --persons 740000 --nx-edges 2000000 --customers 50000
    python bench/bench_identity.py --skip-resolve --customers 1000000 --events-per-customer 100
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
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


def child_resolve(path: str) -> dict:
    from parcours.identity import resolve

    ws = parcours.open(path)
    start = time.perf_counter()
    r = resolve(ws, TENANT, serve=False, incremental=False)
    out = {"seconds": round(time.perf_counter() - start, 2), "peak_gib": round(_peak_gib(), 3),
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


# -- 360 endpoint -----------------------------------------------------------------------
CHANNELS_360 = np.array(["web", "app", "email", "call_center", "billing", "advisor", "complaint"])
CHANNEL_WEIGHTS = np.array([0.42, 0.25, 0.15, 0.06, 0.08, 0.02, 0.02])
EVENT_NAMES = np.array([f"{v}_{o}" for v in ("view", "click", "open", "submit", "call") for o in
                        ("offer", "invoice", "contract", "account")])


def generate_360(ws: parcours.Workspace, customers: int, per_customer: int = 100, seed: int = 5,
                 chunk: int = 2_000_000) -> dict:
    """A synthetic world written through the platform's own writer (raw + analytics zones):
    a CRM row per customer, 1-4 cookies each tied by identify calls, a skewed number of
    events per customer (log-normal, mean ``per_customer``, a quarter of them anonymous),
    6 invoices per customer and verbatims for 5 % of them. Events are written in time
    order, a few days per commit, so each commit touches a few day partitions."""
    tenant = "energie"
    rng = np.random.default_rng(seed)
    if tenant not in ws.tenants():
        ws.create_tenant(tenant)
    cust = np.arange(customers)
    number = _strs("C", cust, 8)
    t0 = int(np.datetime64("2025-01-01T00:00:00", "us").astype(np.int64))
    span = 365 * 86400 * 10**6
    created = pa.array(t0 + rng.integers(0, span // 4, customers), pa.timestamp("us", tz="UTC"))
    first = pa.array(rng.choice(["Anne", "Bruno", "Chloé", "David", "Emma", "Farid"], customers))
    last = pa.array(rng.choice(["Martin", "Bernard", "Petit", "Durand", "Leroy", "Moreau"], customers))
    email = pc.binary_join_element_wise(_strs("c", cust, 8), pa.scalar("@example.org"), "")
    phone = _strs("+336", cust, 8)
    ws.write(tenant, "customers", pa.table({
        "customer_number": number, "first_name": first, "last_name": last, "email": email,
        "phone": phone, "city": pa.array(rng.choice(["Lyon", "Lille", "Nantes"], customers)),
        "segment": pa.array(["residential"] * customers), "created_at": created, "updated_at": created,
    }))
    # events per customer: log-normal (sigma 1), mean per_customer, capped at 100x the mean
    n_ev = np.minimum(np.rint(rng.lognormal(np.log(per_customer) - 0.5, 1.0, customers)).astype(np.int64) + 1,
                      100 * per_customer)
    cookies = 1 + np.minimum(rng.poisson(1.0, customers), 3)
    cookie_base = np.concatenate([[0], np.cumsum(cookies)[:-1]])
    # identify calls: one per cookie, carrying the customer number and email as traits
    id_owner = np.repeat(cust, cookies)
    id_cookie = np.arange(len(id_owner))
    owner = np.repeat(cust, n_ev)
    n = len(owner)
    ts = t0 + rng.integers(0, span, n)
    anonymous = rng.random(n) < 0.25
    cookie = cookie_base[owner] + (rng.random(n) * cookies[owner]).astype(np.int64)
    channel = rng.choice(len(CHANNELS_360), n, p=CHANNEL_WEIGHTS)
    name = rng.integers(0, len(EVENT_NAMES), n)
    order = np.argsort(ts, kind="stable")
    written = 0
    id_ts = t0 + rng.integers(0, span // 8, len(id_owner))
    ident = pa.table({
        "message_id": _strs("i", id_cookie, 10), "tenant": pa.array([tenant] * len(id_owner)),
        "type": pa.array(["identify"] * len(id_owner)),
        "event": pa.array(["identify"] * len(id_owner)), "channel": pa.array(["web"] * len(id_owner)),
        "user_id": _strs("C", id_owner, 8), "anonymous_id": _strs("A", id_cookie, 10),
        "traits": pc.binary_join_element_wise(
            pa.scalar('{"customerNumber":"'), _strs("C", id_owner, 8), pa.scalar('","email":"'),
            _strs("c", id_owner, 8), pa.scalar('@example.org"}'), ""),
        "timestamp": pa.array(id_ts, pa.timestamp("us", tz="UTC")),
    })
    written += ws.write(tenant, "events", ident.append_column("received_at", ident.column("timestamp")))
    for a in range(0, n, chunk):
        idx = order[a:a + chunk]
        o, an = owner[idx], anonymous[idx]
        t = pa.array(ts[idx], pa.timestamp("us", tz="UTC"))
        ch = pa.array(CHANNELS_360[channel[idx]])
        ev = pa.array(EVENT_NAMES[name[idx]])
        web = pc.is_in(ch, pa.array(["web", "app"]))
        table = pa.table({
            "message_id": _strs("e", idx, 10), "tenant": pa.array([tenant] * len(idx)),
            "type": pc.if_else(web, pa.scalar("page"), pa.scalar("track")),
            "event": ev, "channel": ch,
            "user_id": pc.if_else(pa.array(an), pa.scalar(None, pa.string()), _strs("C", o, 8)),
            "anonymous_id": pc.if_else(pa.array(an), _strs("A", cookie[idx], 10), pa.scalar(None, pa.string())),
            "properties": pc.binary_join_element_wise(
                pa.scalar('{"page":"/p/'), pa.array((idx % 97).astype(str)), pa.scalar('","value":'),
                pa.array((idx % 500).astype(str)), pa.scalar("}"), ""),
            "timestamp": t, "received_at": t,
        })
        written += ws.write(tenant, "events", table)
    # invoices: every second month; verbatims for 5 % of the customers
    inv_owner = np.repeat(cust, 6)
    k = np.tile(np.arange(6), customers)
    issued = t0 + (k * 61 + 5) * 86400 * 10**6 + rng.integers(0, 86400 * 10**6, len(k))
    amount = np.round(rng.gamma(4.0, 25.0, len(k)), 2)
    ws.write(tenant, "invoices", pa.table({
        "invoice_id": _strs("I", np.arange(len(k)), 10), "customer_number": _strs("C", inv_owner, 8),
        "issued_at": pa.array(issued, pa.timestamp("us", tz="UTC")),
        "period_start": pa.array((issued // (86400 * 10**6) - 61).astype("datetime64[D]")),
        "kwh": pa.array(np.round(amount * 4.2, 1)), "amount_eur": pa.array(amount),
        "status": pa.array(np.where(rng.random(len(k)) < 0.03, "overdue", "paid")),
    }))
    vc = rng.choice(customers, max(1, customers // 20), replace=False)
    v_owner = np.repeat(vc, 2)
    ws.write(tenant, "verbatims", pa.table({
        "verbatim_id": _strs("V", np.arange(len(v_owner)), 9),
        "channel": pa.array(rng.choice(["complaint", "email", "advisor"], len(v_owner))),
        "user_id": _strs("C", v_owner, 8),
        "ts": pa.array(t0 + rng.integers(0, span, len(v_owner)), pa.timestamp("us", tz="UTC")),
        "subject": pa.array(["invoice"] * len(v_owner)),
        "text": pa.array(["My invoice is higher than expected, please call me back."] * len(v_owner)),
    }))
    return {"events": written, "max_events_per_customer": int(n_ev.max()),
            "mean_events_per_customer": round(float(n_ev.mean()), 1),
            "p99_events_per_customer": int(np.percentile(n_ev, 99))}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _size_mib(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 1)


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds used so far by a process and its children (Linux /proc)."""
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def _wait_idle(pid: int, limit_s: float = 900) -> float:
    """Wait for the server's start-up warm-up (the hub's cached aggregates) to finish:
    until the server uses under 0.1 s of CPU in 2 s. Returns the seconds waited."""
    start = time.perf_counter()
    prev = _tree_cpu_s(pid)
    while time.perf_counter() - start < limit_s:
        time.sleep(2)
        now = _tree_cpu_s(pid)
        if now - prev < 0.1:
            break
        prev = now
    return round(time.perf_counter() - start, 1)


def bench_360(folder: Path, customers: int, clients: int, requests_per_client: int,
              world: str = "synthetic", per_customer: int = 100, workers: int = 2) -> dict:
    import httpx

    from parcours.identity import resolve
    from parcours.identity import serving as serving_mod
    from parcours.privacy.users import UserStore

    ws = parcours.init(folder / "world-360")
    out: dict = {"world": world, "customers": customers, "load_at_start": _load()}
    t = time.perf_counter()
    if world == "demo":
        from parcours.demo import build_demo

        build_demo(ws, customers=customers, seed=11)
    else:
        out["generated"] = generate_360(ws, customers, per_customer)
    out["world_build_s"] = round(time.perf_counter() - t, 1)
    print("world:", out, flush=True)
    t = time.perf_counter()
    res = resolve(ws, "energie", serve=False)
    out["resolve_s"] = round(time.perf_counter() - t, 1)
    out["resolve_timings"] = res.timings
    out["profiles"] = res.profiles
    out["load_after_resolve"] = _load()
    print("resolved:", out, flush=True)
    store_s = {}
    for zone in ("raw", "analytics"):  # what resolve(serve=True) runs, timed per zone
        t = time.perf_counter()
        serving_mod.refresh(ws, "energie", zone)
        store_s[zone] = {"seconds": round(time.perf_counter() - t, 1), "tables_s": dict(serving_mod.last_timings)}
    out["serving_store"] = {**store_s, "size_mib": _size_mib(ws.serving_dir / "energie"),
                            "load_after": _load()}
    print("store:", out["serving_store"], flush=True)
    out["events"] = ws.lake.info("energie", "raw", "events").rows
    token = UserStore(ws).create_user("bench-advisor", {"energie": "advisor"}, password=None)
    keys = ws.lake.read("energie", "raw", "customers", ["customer_number"]).column(0).to_pylist()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "parcours.cli", "serve", "-w", str(ws.path), "--port", str(port),
         "--workers", str(workers)],
        env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(base + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers) as c:  # warm-up: connections, imports
            for k in keys[:100]:
                assert c.get(f"/api/v1/tenants/energie/customers/{k}").status_code == 200
        # measure the steady state, not the hub's start-up warm-up running beside it
        out["server_warmup_wait_s"] = _wait_idle(server.pid)
        latencies: list[float] = []
        errors = []
        lock = threading.Lock()

        def client(i: int) -> None:
            rnd = random.Random(i)
            mine = []
            with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
                for _ in range(requests_per_client):
                    k = rnd.choice(keys)
                    s = time.perf_counter()
                    r = c.get(f"/api/v1/tenants/energie/customers/{k}")
                    mine.append(time.perf_counter() - s)
                    if r.status_code != 200:
                        errors.append(r.status_code)
            with lock:
                latencies.extend(mine)

        out["load_before_clients"] = _load()
        start = time.perf_counter()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - start
        out["load_after_clients"] = _load()
    finally:
        server.terminate()
        server.wait(timeout=30)
    q = statistics.quantiles(latencies, n=100)
    # what a user would otherwise do: the same view's timeline straight from the lake
    # (DuckDB over the Delta table's Parquet files, through the identity map)
    from parcours.identity.api import events_with_profiles

    lake_lat = []
    for k in keys[:5]:
        s = time.perf_counter()
        pid = ws.customer("energie", k).profile_id  # lookup only; the heavy part is below
        ev = events_with_profiles(ws, "energie", "raw")
        ev.filter(ev.profile_id == pid).order_by(ev.timestamp.desc()).limit(50).to_pyarrow()
        lake_lat.append(time.perf_counter() - s)
    lake_p50 = statistics.median(lake_lat) * 1000
    out.update({
        "server_workers": workers, "clients": clients, "requests": len(latencies),
        "errors": len(errors), "throughput_rps": round(len(latencies) / wall, 1),
        "p50_ms": round(q[49] * 1000, 2), "p99_ms": round(q[98] * 1000, 2),
        "lake_direct_p50_ms": round(lake_p50, 1),
        "lake_direct_over_store_p50": round(lake_p50 / (q[49] * 1000), 1),
    })
    return out


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
    p.add_argument("--customers", type=int, default=50_000, help="customers of the 360 benchmark's world")
    p.add_argument("--world", choices=("synthetic", "demo"), default="synthetic",
                   help="360 world: synthetic (events only, fast to build) or the demo world")
    p.add_argument("--events-per-customer", type=int, default=100, help="mean events per synthetic customer")
    p.add_argument("--workers", type=int, default=2, help="server worker processes for the 360 benchmark")
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--requests", type=int, default=100, help="requests per client")
    p.add_argument("--skip-resolve", action="store_true")
    p.add_argument("--skip-360", action="store_true")
    a = p.parse_args()
    result: dict = {"command": "python bench/bench_identity.py " + " ".join(sys.argv[1:])}
    with tempfile.TemporaryDirectory(prefix="bench-identity-") as tmp:
        folder = Path(tmp)
        if not a.skip_resolve:
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
        if not a.skip_360:
            result["endpoint_360"] = bench_360(folder, a.customers, a.clients, a.requests, world=a.world,
                                               per_customer=a.events_per_customer, workers=a.workers)
            print("360:", result["endpoint_360"], flush=True)
    previous = Path(__file__).resolve().parent / "results" / "identity.json"
    if previous.exists() and (a.skip_resolve or a.skip_360):  # keep the other part's figures
        old = json.loads(previous.read_text())
        kept = {k: v for k, v in old.items() if k not in result and k not in ("benchmark", "machine", "when")}
        if kept:
            result = {**kept, **result, "command_360" if a.skip_resolve else "command_resolve": result["command"]}
    path = save("identity", result)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
