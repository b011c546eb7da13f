"""The customer 360 endpoint at scale (issue 5).

A synthetic ``energie`` world written through the platform's own writer (raw and
analytics zones) by :func:`generate_360`, streamed in time slices so memory stays flat
whatever the size: a CRM row per customer, 1-4 cookies tied by identify calls, a skewed
number of events per customer (log-normal, mean ``--events-per-customer``, a quarter of
them anonymous, on the cookie only), 6 invoices each, verbatims for 5 %. Then identity
resolution, the serving store built per zone (timed, sized), and
``GET /api/v1/tenants/energie/customers/{customer number}`` served by ``parcours serve``
(uvicorn) under ``--clients`` concurrent closed-loop clients as an advisor (nominative:
every request writes its audit line): ``wrk`` when installed (a C load generator, so the
clients take little of the machine), else Python threads with httpx. A share of the
requests may filter the timeline by channel (``--channel-share``).

A world can be kept and reused (``--workspace DIR``): generation and resolution are
skipped when done there before, so the store and the endpoint can be re-measured alone.

    python bench/bench_360.py --customers 200000
    python bench/bench_360.py --customers 1000000 --workspace <dir> --keep
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402

import parcours  # noqa: E402

TENANT = "energie"
CHANNELS_360 = np.array(["web", "app", "email", "call_center", "billing", "advisor", "complaint"])
CHANNEL_WEIGHTS = np.array([0.42, 0.25, 0.15, 0.06, 0.08, 0.02, 0.02])
EVENT_NAMES = np.array([f"{v}_{o}" for v in ("view", "click", "open", "submit", "call") for o in
                        ("offer", "invoice", "contract", "account")])
T0 = int(np.datetime64("2025-01-01T00:00:00", "us").astype(np.int64))
SPAN = 365 * 86400 * 10**6


def _strs(prefix: str, values: np.ndarray, width: int) -> pa.Array:
    return pc.binary_join_element_wise(
        pa.scalar(prefix), pc.utf8_lpad(pa.array(values).cast(pa.string()), width, "0"), ""
    )


def _bar(desc: str, total: int):  # noqa: ANN202 - a rich Progress and its task
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn(desc), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                   transient=False)
    return bar, bar.add_task(desc, total=total)


def generate_360(ws: parcours.Workspace, customers: int, per_customer: int = 100, seed: int = 5,
                 chunk: int = 2_000_000) -> dict:
    """Write the synthetic world; returns its counts.

    Events are drawn per time slice (each customer's total split over the slices
    binomially, so the totals are exact), sorted by time within the slice and written
    one slice per commit: a commit touches a few day partitions and memory holds one
    slice (``chunk`` events) at a time, not the whole log."""
    rng = np.random.default_rng(seed)
    if TENANT not in ws.tenants():
        ws.create_tenant(TENANT)
    cust = np.arange(customers)
    created = pa.array(T0 + rng.integers(0, SPAN // 4, customers), pa.timestamp("us", tz="UTC"))
    ws.write(TENANT, "customers", pa.table({
        "customer_number": _strs("C", cust, 8),
        "first_name": pa.array(rng.choice(["Anne", "Bruno", "Chloé", "David", "Emma", "Farid"], customers)),
        "last_name": pa.array(rng.choice(["Martin", "Bernard", "Petit", "Durand", "Leroy", "Moreau"], customers)),
        "email": pc.binary_join_element_wise(_strs("c", cust, 8), pa.scalar("@example.org"), ""),
        "phone": _strs("+336", cust, 8), "city": pa.array(rng.choice(["Lyon", "Lille", "Nantes"], customers)),
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
    m = len(id_owner)
    ident = pa.table({
        "message_id": _strs("i", id_cookie, 10), "tenant": pa.array([TENANT] * m),
        "type": pa.array(["identify"] * m), "event": pa.array(["identify"] * m),
        "channel": pa.array(["web"] * m), "user_id": _strs("C", id_owner, 8),
        "anonymous_id": _strs("A", id_cookie, 10),
        "traits": pc.binary_join_element_wise(
            pa.scalar('{"customerNumber":"'), _strs("C", id_owner, 8), pa.scalar('","email":"'),
            _strs("c", id_owner, 8), pa.scalar('@example.org"}'), ""),
        "timestamp": pa.array(T0 + rng.integers(0, SPAN // 8, m), pa.timestamp("us", tz="UTC")),
    })
    written = ws.write(TENANT, "events", ident.append_column("received_at", ident.column("timestamp")))
    del ident, id_owner, id_cookie
    total = int(n_ev.sum())
    slices = max(1, -(-total // chunk))
    remaining = n_ev.copy()
    seq = 0  # running event number: message ids stay unique across slices
    bar, task = _bar("events", total)
    with bar:
        for k in range(slices):
            cnt = remaining if k == slices - 1 else rng.binomial(remaining, 1 / (slices - k))
            remaining = remaining - cnt
            owner = np.repeat(cust, cnt)
            n = len(owner)
            lo, width = T0 + SPAN * k // slices, SPAN // slices
            ts = lo + rng.integers(0, width, n)
            order = np.argsort(ts, kind="stable")
            owner, ts = owner[order], ts[order]
            idx = seq + np.arange(n)
            seq += n
            an = rng.random(n) < 0.25
            cookie = cookie_base[owner] + (rng.random(n) * cookies[owner]).astype(np.int64)
            ch = pa.array(CHANNELS_360[rng.choice(len(CHANNELS_360), n, p=CHANNEL_WEIGHTS)])
            web = pc.is_in(ch, pa.array(["web", "app"]))
            t = pa.array(ts, pa.timestamp("us", tz="UTC"))
            table = pa.table({
                "message_id": _strs("e", idx, 10), "tenant": pa.array([TENANT] * n),
                "type": pc.if_else(web, pa.scalar("page"), pa.scalar("track")),
                "event": pa.array(EVENT_NAMES[rng.integers(0, len(EVENT_NAMES), n)]), "channel": ch,
                "user_id": pc.if_else(pa.array(an), pa.scalar(None, pa.string()), _strs("C", owner, 8)),
                "anonymous_id": pc.if_else(pa.array(an), _strs("A", cookie, 10), pa.scalar(None, pa.string())),
                "properties": pc.binary_join_element_wise(
                    pa.scalar('{"page":"/p/'), pa.array((idx % 97).astype(str)), pa.scalar('","value":'),
                    pa.array((idx % 500).astype(str)), pa.scalar("}"), ""),
                "timestamp": t, "received_at": t,
            })
            written += ws.write(TENANT, "events", table)
            bar.update(task, advance=n)
    # invoices: every second month, written per block of customers; verbatims for 5 %
    for a in range(0, customers, 250_000):
        block = cust[a:a + 250_000]
        inv_owner = np.repeat(block, 6)
        k6 = np.tile(np.arange(6), len(block))
        issued = T0 + (k6 * 61 + 5) * 86400 * 10**6 + rng.integers(0, 86400 * 10**6, len(k6))
        amount = np.round(rng.gamma(4.0, 25.0, len(k6)), 2)
        ws.write(TENANT, "invoices", pa.table({
            "invoice_id": _strs("I", 6 * a + np.arange(len(k6)), 10), "customer_number": _strs("C", inv_owner, 8),
            "issued_at": pa.array(issued, pa.timestamp("us", tz="UTC")),
            "period_start": pa.array((issued // (86400 * 10**6) - 61).astype("datetime64[D]")),
            "kwh": pa.array(np.round(amount * 4.2, 1)), "amount_eur": pa.array(amount),
            "status": pa.array(np.where(rng.random(len(k6)) < 0.03, "overdue", "paid")),
        }))
    vc = rng.choice(customers, max(1, customers // 20), replace=False)
    v_owner = np.repeat(vc, 2)
    ws.write(TENANT, "verbatims", pa.table({
        "verbatim_id": _strs("V", np.arange(len(v_owner)), 9),
        "channel": pa.array(rng.choice(["complaint", "email", "advisor"], len(v_owner))),
        "user_id": _strs("C", v_owner, 8),
        "ts": pa.array(T0 + rng.integers(0, SPAN, len(v_owner)), pa.timestamp("us", tz="UTC")),
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


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children (the uvicorn workers)."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _size_mib(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 1)


def _wait_warm(base: str, limit_s: float = 900) -> float:
    """Wait for the server's start-up warm-up (the hub's cached aggregates): /health says
    ``warm: true``. Returns the seconds waited."""
    import httpx

    start = time.perf_counter()
    while time.perf_counter() - start < limit_s:
        try:
            r = httpx.get(base + "/health", timeout=5)
            if r.status_code == 200 and r.json().get("warm", True):
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return round(time.perf_counter() - start, 1)


_WRK_SCRIPT = """
local keys = {}
for line in io.lines("%(keys)s") do keys[#keys + 1] = line end
local channels = {"web", "app", "email", "call_center", "billing", "advisor", "complaint"}
math.randomseed(%(seed)d)
wrk.headers["Authorization"] = "Bearer %(token)s"
request = function()
  local path = "/api/v1/tenants/energie/customers/" .. keys[math.random(#keys)]
  if math.random() < %(share)f then path = path .. "?channel=" .. channels[math.random(#channels)] end
  return wrk.format("GET", path)
end
done = function(summary, latency, requests)
  local out = {requests = summary.requests, errors = summary.errors.status + summary.errors.timeout
               + summary.errors.connect + summary.errors.read + summary.errors.write,
               seconds = summary.duration / 1e6, p50_ms = latency:percentile(50) / 1000,
               p90_ms = latency:percentile(90) / 1000, p99_ms = latency:percentile(99) / 1000,
               max_ms = latency.max / 1000}
  local parts = {}
  for k, v in pairs(out) do parts[#parts + 1] = string.format('"%%s": %%s', k, v) end
  io.write("WRK_JSON {" .. table.concat(parts, ", ") .. "}\\n")
end
"""


def _run_wrk(base: str, token: str, keys: list[str], clients: int, seconds: int, share: float,
             folder: Path) -> dict:
    kfile = folder / "keys.txt"
    kfile.write_text("\n".join(keys) + "\n")
    script = folder / "360.lua"
    script.write_text(_WRK_SCRIPT % {"keys": kfile, "seed": 7, "token": token, "share": share})
    out = subprocess.run(["wrk", "-t", "2", "-c", str(clients), "-d", f"{seconds}s", "--timeout", "30s",
                          "-s", str(script), base], capture_output=True, text=True, check=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith("WRK_JSON "))
    r = json.loads(line.removeprefix("WRK_JSON "))
    r["throughput_rps"] = round(r["requests"] / r["seconds"], 1)
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()}


def _run_threads(base: str, token: str, keys: list[str], clients: int, per_client: int,
                 share: float) -> dict:
    import httpx

    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {token}"}
    channels = [str(c) for c in CHANNELS_360]

    def client(i: int) -> None:
        rnd = random.Random(i)
        mine = []
        with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
            for _ in range(per_client):
                params = {"channel": rnd.choice(channels)} if rnd.random() < share else None
                s = time.perf_counter()
                r = c.get(f"/api/v1/tenants/energie/customers/{rnd.choice(keys)}", params=params)
                mine.append(time.perf_counter() - s)
                if r.status_code != 200:
                    errors.append(r.status_code)
        with lock:
            latencies.extend(mine)

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100)
    return {"requests": len(latencies), "errors": len(errors), "seconds": round(wall, 2),
            "throughput_rps": round(len(latencies) / wall, 1), "p50_ms": round(q[49] * 1000, 2),
            "p99_ms": round(q[98] * 1000, 2)}


def bench_360(folder: Path, customers: int, clients: int, seconds: int = 30, per_customer: int = 100,
              workers: int = 2, channel_share: float = 0.0, client: str = "auto",
              requests_per_client: int = 100, world_only: bool = False, reuse_store: bool = False,
              zones: tuple[str, ...] = ("raw", "analytics"), cold: bool = False) -> dict:
    import httpx

    from parcours.identity import resolve
    from parcours.identity import serving as serving_mod
    from parcours.privacy.users import UserStore

    path = folder / "world-360"
    marker = path / "bench-world.json"
    state = json.loads(marker.read_text()) if marker.exists() else {}
    if state and state.get("customers") != customers:
        raise SystemExit(f"{path} holds a world of {state.get('customers')} customers, not {customers}")
    ws = parcours.open(path) if path.exists() else parcours.init(path)
    out: dict = {"world": "synthetic", "customers": customers, "load_at_start": _load()}
    if "generated" not in state:
        t = time.perf_counter()
        state = {"customers": customers, "generated": generate_360(ws, customers, per_customer),
                 "world_build_s": round(time.perf_counter() - t, 1), "load_after_world": _load()}
        marker.write_text(json.dumps(state))
    if "resolve_s" not in state:
        t = time.perf_counter()
        res = resolve(ws, TENANT, serve=False)
        state.update(resolve_s=round(time.perf_counter() - t, 1), resolve_timings=res.timings,
                     profiles=res.profiles, load_after_resolve=_load())
        marker.write_text(json.dumps(state))
    out.update({k: v for k, v in state.items() if k != "customers"})
    print("world:", out, flush=True)
    if world_only:
        return out
    store_s = {}
    builds = state.get("store", {})
    for zone in zones:  # what resolve(serve=True) runs (both zones), timed per zone
        s = serving_mod.store(ws, TENANT, zone)
        if reuse_store and serving_mod.current(s) and zone in builds:
            store_s[zone] = {**builds[zone], "reused": True}
        else:
            t = time.perf_counter()
            serving_mod.refresh(ws, TENANT, zone)
            store_s[zone] = builds[zone] = {
                "seconds": round(time.perf_counter() - t, 1), "tables_s": dict(serving_mod.last_timings),
                "size_mib": round(s.path.stat().st_size / 2**20, 1), "load_after": _load(),
            }
            state["store"] = builds
            marker.write_text(json.dumps(state))
        print(f"store {zone}:", store_s[zone], flush=True)
    out["serving_store"] = {**store_s, "size_mib": _size_mib(ws.serving_dir / TENANT), "load_after": _load()}
    out["lake_mib"] = _size_mib(ws.lake.root / TENANT)
    out["events"] = ws.lake.info(TENANT, "raw", "events").rows
    token = UserStore(ws).create_user(f"bench-advisor-{os.getpid()}", {TENANT: "advisor"}, password=None)
    keys = ws.lake.read(TENANT, "raw", "customers", ["customer_number"]).column(0).to_pylist()
    if not cold:  # a serving node in steady state holds its store in the page cache
        t = time.perf_counter()
        _read_through(serving_mod.store(ws, TENANT, "raw").path)
        out["store_read_into_page_cache_s"] = round(time.perf_counter() - t, 1)
    out["cold_store"] = cold
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "parcours.cli", "serve", "-w", str(ws.path), "--port", str(port),
         "--workers", str(workers)],
        # an API node: the hub's start-up aggregates over every event (minutes at 100 M
        # events, in each worker) are not what this measures
        env={**os.environ, "PARCOURS__SERVE__WARM_UP": "false"}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    use_wrk = client == "wrk" or (client == "auto" and shutil.which("wrk") is not None)
    try:
        base = f"http://127.0.0.1:{port}"
        out["server_warmup_wait_s"] = _wait_warm(base)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers) as c:  # warm-up: connections, imports
            for k in keys[:200]:
                assert c.get(f"/api/v1/tenants/{TENANT}/customers/{k}").status_code == 200
        out["load_before_clients"] = _load()
        cpu0 = _tree_cpu(server.pid)
        if use_wrk:
            out["client"] = f"wrk -t 2 -c {clients} -d {seconds}s"
            out.update(_run_wrk(base, token, keys, clients, seconds, channel_share, folder))
        else:
            out["client"] = f"{clients} Python threads (httpx) x {requests_per_client} requests"
            out.update(_run_threads(base, token, keys, clients, requests_per_client, channel_share))
        out["load_after_clients"] = _load()
        served = out.get("requests") or clients * requests_per_client
        out["server_cpu_ms_per_request"] = round((_tree_cpu(server.pid) - cpu0) * 1000 / max(served, 1), 3)
    finally:
        server.terminate()
        server.wait(timeout=30)
    out.update({"server_workers": workers, "clients": clients, "channel_share": channel_share,
                "server_warm_up": False})
    return out


def _read_through(path: Path) -> int:
    """Read a file once, sequentially (so its pages are in the page cache); its bytes."""
    n = 0
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(8 << 20):
            n += len(chunk)
    return n


def _zones(text: str) -> tuple[str, ...]:
    zones = tuple(z.strip() for z in text.split(",") if z.strip())
    if "raw" not in zones or not set(zones) <= {"raw", "analytics"}:
        raise SystemExit(f"--zones {text!r}: raw (the advisor's zone), optionally analytics")
    return zones


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--customers", type=int, default=200_000)
    p.add_argument("--events-per-customer", type=int, default=100, help="mean events per customer")
    p.add_argument("--workers", type=int, default=2, help="server worker processes")
    p.add_argument("--clients", type=int, default=20, help="concurrent closed-loop clients")
    p.add_argument("--seconds", type=int, default=30, help="measuring time (wrk)")
    p.add_argument("--requests", type=int, default=100, help="requests per client (Python clients)")
    p.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--channel-share", type=float, default=0.0,
                   help="share of the requests filtering the timeline by a random channel")
    p.add_argument("--workspace", type=Path, default=None,
                   help="keep the world in this folder and reuse it (generation, resolution) next time")
    p.add_argument("--world-only", action="store_true", help="build (or reuse) the world and stop")
    p.add_argument("--reuse-store", action="store_true",
                   help="serve the serving store a previous run built in --workspace (its figures kept)")
    p.add_argument("--zones", default="raw,analytics",
                   help="the zones whose serving store is built (the advisor reads raw's)")
    p.add_argument("--keep", action="store_true", help="keep --workspace's world after the run")
    p.add_argument("--cold", action="store_true",
                   help="do not read the raw store through the page cache before the clients start")
    p.add_argument("--name", default="identity_360", help="results file name under bench/results/")
    a = p.parse_args()
    result: dict = {"command": "python bench/bench_360.py " + " ".join(sys.argv[1:])}
    folder = a.workspace or Path(tempfile.mkdtemp(prefix="bench-360-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        result["endpoint_360"] = bench_360(
            folder, a.customers, a.clients, a.seconds, per_customer=a.events_per_customer,
            workers=a.workers, channel_share=a.channel_share, client=a.client,
            requests_per_client=a.requests, world_only=a.world_only, reuse_store=a.reuse_store,
            zones=_zones(a.zones), cold=a.cold,
        )
    finally:
        if not (a.workspace and a.keep):
            shutil.rmtree(folder, ignore_errors=True)
    print("360:", result["endpoint_360"], flush=True)
    print(f"results: {save(a.name, result)}")


if __name__ == "__main__":
    main()
