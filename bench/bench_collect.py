"""Collector and loader throughput, durability on, against a FastAPI+pydantic collector
and a plain fsynced file (the physical limit).

    python bench/bench_collect.py --duration 10 --loader-events 10000000

Measures, on this machine (client and server share its cores):

1. ``POST /v1/batch`` with 100 events per request: events/s and latency percentiles;
2. single-event ``POST /v1/track``: requests/s and latency percentiles;
3. the same two loads against a minimal FastAPI app with pydantic models writing to the
   same group-commit spool (what one would otherwise write);
4. the same bodies appended to a plain file with one fdatasync per body, and with one
   fdatasync per 64 bodies (the group commit the collector does);
5. the loader: spool → lake (both zones, dedupe, pseudonymization) in events/s, with the
   peak memory of the process, for a spool of ``--loader-events`` events.

The load generator is ``wrk`` (Debian package ``wrk``) with a Lua script rotating
pre-built requests; it runs on the same 2 cores as the server.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import msgspec  # noqa: E402
from _common import PeakMemory, save  # noqa: E402
from fastapi import Request  # noqa: E402
from pydantic import BaseModel  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent


def event(i: int, n: int = 0, ip: bool = True) -> dict[str, Any]:
    e = {"type": "track", "messageId": f"{n:09d}-{i:03d}-{uuid.uuid4().hex[:12]}",
            "userId": f"C{(n * 7 + i) % 50_000}", "event": "Invoice Viewed",
            "timestamp": "2026-03-01T10:00:00.000Z",
            "properties": {"invoice": f"F{n}{i}", "amount": 42.5, "currency": "EUR"},
            "context": {"library": {"name": "analytics-python", "version": "2.3.4"}, "ip": "10.0.0.1"}}
    if not ip:  # no identifier inside the JSON columns: nothing to pseudonymize there
        del e["context"]["ip"]  # type: ignore[index, attr-defined]
    return e


def batch_body(n: int, size: int = 100, ip: bool = True) -> bytes:
    return json.dumps({"batch": [event(i, n, ip) for i in range(size)], "sentAt": "2026-03-01T10:00:00Z"}).encode()


# -- the reference collector: FastAPI + pydantic, same spool and group commit --------------


class Ev(BaseModel):
    type: str
    messageId: str
    userId: str | None = None
    anonymousId: str | None = None
    event: str | None = None
    timestamp: dt.datetime | None = None
    properties: dict[str, Any] | None = None
    context: dict[str, Any] | None = None


class Batch(BaseModel):
    batch: list[Ev]


def reference_app() -> Any:
    """uvicorn factory: what a FastAPI user would write (pydantic models, same durability)."""
    from fastapi import FastAPI

    from parcours.collect.spool import Meta, SpoolWriter, encode_record

    writer = SpoolWriter(os.environ["BENCH_SPOOL"])
    app = FastAPI()

    @app.post("/v1/batch")
    async def batch(b: Batch, request: Request) -> dict[str, bool]:
        body = await request.body()
        await writer.write(encode_record(Meta("bench", None, "batch", time.time_ns() // 1000), body))
        return {"success": True}

    @app.post("/v1/track")
    async def track(e: Ev, request: Request) -> dict[str, bool]:
        body = await request.body()
        await writer.write(encode_record(Meta("bench", None, "track", time.time_ns() // 1000), body))
        return {"success": True}

    return app


# -- the ceiling: a minimal durable endpoint (issue 3's calibration) ----------------------


class _MinimalEvent(msgspec.Struct):
    messageId: str
    type: str | None = None


class _MinimalBatch(msgspec.Struct):
    batch: list[_MinimalEvent]


def minimal_app() -> Any:
    """uvicorn factory: the least a durable endpoint does, as the ceiling to compare with.

    A plain ASGI function: each body checked by msgspec (a messageId per event), the raw
    body appended to the worker's own file and answered only after an fdatasync that a
    background thread repeats as soon as the previous one ends (group commit, no timer);
    the parsed objects are freed before the wait. No write keys, no limits, no gzip, no
    rejection reasons, no record framing, no segment rotation.
    """
    import asyncio
    import threading

    folder = Path(os.environ["BENCH_SPOOL"])
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"minimal-{os.getpid()}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    cond = threading.Condition()
    pending: list[bytes] = []
    waiters: list[tuple[Any, Any]] = []
    decoders = {b"/v1/batch": msgspec.json.Decoder(_MinimalBatch), b"/v1/track": msgspec.json.Decoder(_MinimalEvent)}

    def commit() -> None:
        nonlocal pending, waiters
        while True:
            with cond:
                while not pending:
                    cond.wait()
                data, woken = b"".join(pending), waiters
                pending, waiters = [], []
            os.write(fd, data)
            os.fdatasync(fd)
            loops: dict[Any, list[Any]] = {}
            for loop, fut in woken:
                loops.setdefault(loop, []).append(fut)
            for loop, futs in loops.items():
                loop.call_soon_threadsafe(lambda fs=futs: [f.set_result(None) for f in fs if not f.done()])

    threading.Thread(target=commit, daemon=True).start()
    ok = [(b"content-type", b"application/json")]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            decoders[scope["path"].encode()].decode(body)
        except (KeyError, msgspec.DecodeError):
            await send({"type": "http.response.start", "status": 400, "headers": ok})
            await send({"type": "http.response.body", "body": b'{"success":false}'})
            return
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        with cond:
            pending.append(body)
            waiters.append((loop, fut))
            cond.notify()
        del body
        await fut
        await send({"type": "http.response.start", "status": 200, "headers": ok})
        await send({"type": "http.response.body", "body": b'{"success":true}'})

    return app


# -- HTTP runs -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            httpx.post(f"http://127.0.0.1:{port}/v1/track", content=b"{}", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def lua_script(path: Path, url_path: str, bodies: list[bytes], auth: str) -> None:
    reqs = ",\n".join(f"wrk.format(nil, nil, nil, {json.dumps(b.decode())})" for b in bodies)
    path.write_text(f"""
wrk.method = "POST"
wrk.path = "{url_path}"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic {auth}"
local reqs = nil
local i = 0
init = function(args)
  reqs = {{ {reqs} }}
end
request = function()
  i = i % #reqs + 1
  return reqs[i]
end
""")


_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_wrk(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["requests_per_s"] = float(m.group(1)) if m else 0.0
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if m:
            out[f"p{pct}_ms"] = round(float(m.group(1)) * _UNIT[m.group(2)], 2)
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"(\d+) requests in", text)
    out["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: (.*)", text)
    out["socket_errors"] = m.group(1).strip() if m else ""
    return out


def session_cpu(sid: int) -> float:
    """CPU seconds (user + system, all threads) of the live processes of session ``sid``
    (the server and its workers: started with ``start_new_session``)."""
    ticks = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # field 6 of stat: the session id
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def run_wrk(port: int, url_path: str, bodies: list[bytes], auth: str, duration: int, connections: int,
            workdir: Path, server: subprocess.Popen[bytes] | None = None) -> dict[str, Any]:
    script = workdir / f"wrk_{url_path.strip('/').replace('/', '_')}.lua"
    lua_script(script, url_path, bodies, auth)
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script),
           f"http://127.0.0.1:{port}"]
    # the machine is shared (and wrk shares it with the server): CPU per request says what
    # the server costs whatever the load; the load average says how loaded it was
    load = os.getloadavg()[0]
    server_cpu = session_cpu(server.pid) if server is not None else 0.0
    wrk_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = parse_wrk(out.stdout)
    if server is not None and result["requests"]:
        cpu = session_cpu(server.pid) - server_cpu
        result["server_cpu_seconds"] = round(cpu, 2)
        result["server_cpu_us_per_request"] = round(cpu / result["requests"] * 1e6, 1)
        wrk = (wrk_after.ru_utime - wrk_cpu.ru_utime) + (wrk_after.ru_stime - wrk_cpu.ru_stime)
        result["wrk_cpu_seconds"] = round(wrk, 2)
    result["load_average_1m"] = [round(load, 2), round(os.getloadavg()[0], 2)]
    return result


def start_server(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_up(port, proc)
    except RuntimeError:
        stop_server(proc)  # its workers too: nothing left running
        raise
    return proc


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def http_runs(name: str, cmd: list[str], env: dict[str, str], port: int, auth: str, duration: int,
              workdir: Path, connections: int = 64) -> dict[str, Any]:
    batches = [batch_body(n) for n in range(20)]
    singles = [json.dumps(event(i, 10**6)).encode() for i in range(200)]
    proc = start_server(cmd, env, port)
    try:
        run_wrk(port, "/v1/batch", batches[:2], auth, 2, 16, workdir)  # warm-up
        b = run_wrk(port, "/v1/batch", batches, auth, duration, connections, workdir, proc)
        b["events_per_s"] = round(b["requests_per_s"] * 100)
        s = run_wrk(port, "/v1/track", singles, auth, duration, connections, workdir, proc)
    finally:
        stop_server(proc)
    print(f"{name}: batch {b['events_per_s']:,} events/s p99 {b.get('p99_ms')} ms "
          f"({b.get('server_cpu_us_per_request')} server CPU-µs/request); "
          f"single {s['requests_per_s']:,.0f} req/s p50 {s.get('p50_ms')} p99 {s.get('p99_ms')} ms "
          f"({s.get('server_cpu_us_per_request')} CPU-µs/request); load {b['load_average_1m'][0]}", flush=True)
    return {"batch_100": b, "single": s}


# -- the physical limit -------------------------------------------------------------------


def fsync_file(folder: Path, duration: float, group: int) -> dict[str, Any]:
    body = batch_body(0)
    path = folder / f"plain-{group}.log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    n = 0
    start = time.perf_counter()
    chunk = body * group
    while time.perf_counter() - start < duration:
        os.write(fd, chunk)
        os.fdatasync(fd)
        n += group
    seconds = time.perf_counter() - start
    os.close(fd)
    path.unlink()
    return {"bodies_per_fdatasync": group, "events_per_s": round(n * 100 / seconds),
            "fdatasyncs_per_s": round(n / group / seconds)}


# -- the loader ----------------------------------------------------------------------------


def fill_spool(spool: Path, events: int, ip: bool = True) -> float:
    """Write ``events`` unique events as 100-event records into 64 MB segments (no fsync)."""
    from parcours.collect.spool import SUFFIX, Meta, encode_record

    spool.mkdir(parents=True, exist_ok=True)
    marker = b"@@N@@"
    parts = batch_body(0, ip=ip).replace(b'"messageId": "000000000-', b'"messageId": "' + marker + b"-").split(marker)
    start = time.perf_counter()
    seg, fh, size = 0, None, 0
    for n in range(events // 100):
        body = f"{n:09d}".encode().join(parts)  # unique ids per record, same size
        rec = encode_record(Meta("bench", None, "batch", 1_772_000_000_000_000 + n), body)
        if fh is None or size > 64 << 20:
            if fh:
                fh.close()
            fh = open(spool / f"{seg:020d}-bench{SUFFIX}", "wb")  # noqa: SIM115
            seg, size = seg + 1, 0
        fh.write(rec)
        size += len(rec)
    if fh:
        fh.close()
    return time.perf_counter() - start


def loader_run(events: int, batch: int, workdir: Path, ip: bool = True, workers: int = 0) -> dict[str, Any]:
    import parcours
    from parcours.collect.loader import load_spool

    ws = parcours.init(workdir / f"loader-{events}")
    ws.create_tenant("bench")
    gen = fill_spool(ws.spool_dir, events, ip)
    spool_bytes = sum(f.stat().st_size for f in ws.spool_dir.iterdir())
    load_before = os.getloadavg()[0]
    cpu_before = os.times()
    with PeakMemory() as mem:
        r = load_spool(ws, batch_events=batch, workers=workers)
    cpu_after = os.times()
    # the machine is shared: CPU seconds (all threads, and the decode workers: children
    # waited for when the load ends) say what the loader costs, whatever the load
    cpu = sum(getattr(cpu_after, k) - getattr(cpu_before, k)
              for k in ("user", "system", "children_user", "children_system"))
    rows = ws.lake.info("bench", "raw", "events").rows
    assert r.events == events == rows, (r, rows)
    assert ws.lake.info("bench", "analytics", "events").rows == events
    out = {"events": events, "context_ip": ip, "batch_events": batch, "workers": workers,
           "seconds": round(r.seconds, 2),
           "events_per_s": round(events / r.seconds), "peak_rss_gib": round(mem.peak / 2**30, 3),
           "cpu_seconds": round(cpu, 2), "events_per_cpu_second": round(events / cpu),
           "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
           "spool_gib": round(spool_bytes / 2**30, 3), "spool_fill_seconds": round(gen, 1)}
    print(f"loader {events:,} events (batch {batch:,}, context.ip={ip}, workers={workers}): {out['events_per_s']:,} events/s, "
          f"{out['events_per_cpu_second']:,} events per CPU-second, peak RSS {out['peak_rss_gib']} GiB, "
          f"spool {out['spool_gib']} GiB, load average {out['load_average_1m']}", flush=True)
    shutil.rmtree(ws.path)
    return out


def dedupe_run(rows: int, batch: int, workdir: Path) -> dict[str, Any]:
    """History dedupe of one batch of new ids against a raw ``events`` table of ``rows``
    events (``rows / batch`` files): the snapshot scan against the key index (its first
    build, then a lookup after one more commit, what each micro-batch of a load does).

    The ids are random. The loader run's ids grow with the record number, so each batch's
    ids sort after the table's and DuckDB skips every row group by its min/max: that
    flatters the scan."""
    import pyarrow as pa

    import parcours
    from parcours.collect.dedupe import existing_mask, indexed_mask
    from parcours.collect.loader import Batch
    from parcours.collect.spool import Meta, Record

    ws = parcours.init(workdir / f"dedupe-{rows}")
    ws.create_tenant("bench")
    b = Batch("http")
    for n in range(batch // 100):
        b.add(Record("seg", n, Meta("bench", None, "batch", 1_772_000_000_000_000), batch_body(n)))
    b.prepare()
    template = b.tables["bench"]
    col = template.schema.get_field_index("message_id")

    def ids(k: int) -> pa.Array:  # random, as SDKs make them (uuid4): no row group is pruned by min/max
        return pa.array([str(uuid.uuid4()) for _ in range(template.num_rows)])

    for k in range(rows // template.num_rows):
        ws.lake.append("bench", "raw", "events", template.set_column(col, "message_id", ids(k)))

    def cpu_of(fn: Any) -> tuple[float, Any]:
        before = os.times()
        out = fn()
        after = os.times()
        return sum(getattr(after, k) - getattr(before, k) for k in ("user", "system")), out

    load_before = os.getloadavg()[0]
    probe = ids(10**6 - 1)
    scan_cpu, scan = cpu_of(lambda: existing_mask(ws, "bench", "raw", "events", "message_id", probe))
    build_cpu, built = cpu_of(lambda: indexed_mask(ws, "bench", "raw", "events", "message_id", probe))
    last = ids(10**6 - 2)
    ws.lake.append("bench", "raw", "events", template.set_column(col, "message_id", last))
    known = pa.concat_arrays([ids(10**6 - 3).slice(1000), last.slice(0, 1000)])  # 1,000 retries
    lookup_cpu, found = cpu_of(lambda: indexed_mask(ws, "bench", "raw", "events", "message_id", known))
    assert scan is None and built is None and found is not None and found.true_count == 1000
    out = {"table_rows": ws.lake.info("bench", "raw", "events").rows, "batch": template.num_rows,
           "scan_cpu_s": round(scan_cpu, 3), "index_build_cpu_s": round(build_cpu, 3),
           "index_lookup_after_one_commit_cpu_s": round(lookup_cpu, 3),
           "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    print("history dedupe:", out, flush=True)
    shutil.rmtree(ws.path)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10, help="seconds per HTTP run")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--loader-events", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--loader-batch", type=int, default=200_000)
    ap.add_argument("--loader-workers", type=int, nargs="+", default=[0],
                    help="decode processes (0: in the loader's process, load_spool's default)")
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--skip-loader", action="store_true")
    ap.add_argument("--skip-reference", action="store_true", help="skip the FastAPI+pydantic collector")
    ap.add_argument("--skip-no-ip", action="store_true",
                    help="skip the loader run without context.ip (nothing to pseudonymize in JSON)")
    ap.add_argument("--dedupe-rows", type=int, nargs="*", default=[],
                    help="also time one batch's history dedupe against a table of this many events")
    ap.add_argument("--connections", type=int, default=64, help="wrk connections")
    ap.add_argument("--name", default="collect", help="results file bench/results/<name>.json")
    args = ap.parse_args()

    import parcours
    from parcours.collect.keys import WriteKeyStore

    result: dict[str, Any] = {"settings": vars(args), "cores_shared_by_client_and_server": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-collect-") as tmp:
        work = Path(tmp)
        if not args.skip_http:
            if shutil.which("wrk") is None:
                sys.exit("wrk is needed as the load generator: apt-get install wrk")
            ws = parcours.init(work / "ws")
            ws.create_tenant("bench")
            key = WriteKeyStore(ws.state_dir).create("bench")
            auth = base64.b64encode(f"{key}:".encode()).decode()
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
            port = free_port()
            cmd = [sys.executable, "-m", "parcours.cli", "serve", "-w", str(ws.path), "--port", str(port),
                   "--workers", str(args.workers)]
            result["parcours"] = http_runs("parcours", cmd, env, port, auth, args.duration, work, args.connections)
            port = free_port()
            ref_env = {**env, "BENCH_SPOOL": str(work / "ref-spool")}
            ref_cmd = [sys.executable, "-m", "uvicorn", "--factory", "bench_collect:reference_app",
                       "--app-dir", str(BENCH_DIR), "--port", str(port), "--workers", str(args.workers),
                       "--log-level", "warning", "--no-access-log"]
            if not args.skip_reference:
                result["fastapi_pydantic"] = http_runs("fastapi+pydantic", ref_cmd, ref_env, port, auth,
                                                       args.duration, work, args.connections)
            port = free_port()
            min_cmd = [a.replace("reference_app", "minimal_app") for a in ref_cmd]
            min_cmd[min_cmd.index("--port") + 1] = str(port)
            min_env = {**env, "BENCH_SPOOL": str(work / "minimal-spool")}
            result["minimal_endpoint"] = http_runs("minimal durable endpoint (the ceiling)", min_cmd, min_env,
                                                   port, auth, args.duration, work, args.connections)
            result["plain_file"] = [fsync_file(work, min(args.duration, 5), g) for g in (1, 64)]
            print("plain fsynced file:", result["plain_file"], flush=True)
            p, m = result["parcours"], result["minimal_endpoint"]
            result["ratios"] = {
                "batch_cpu_per_request_vs_minimal": round(p["batch_100"].get("server_cpu_us_per_request", 0)
                                                          / max(m["batch_100"].get("server_cpu_us_per_request", 1), 1), 2),
                "single_cpu_per_request_vs_minimal": round(p["single"].get("server_cpu_us_per_request", 0)
                                                           / max(m["single"].get("server_cpu_us_per_request", 1), 1), 2),
                "batch_events_vs_minimal": round(p["batch_100"]["events_per_s"]
                                                 / max(result["minimal_endpoint"]["batch_100"]["events_per_s"], 1), 2),
                "single_req_vs_minimal": round(p["single"]["requests_per_s"]
                                               / max(result["minimal_endpoint"]["single"]["requests_per_s"], 1), 2),
                "batch_events_vs_plain_file_group64": round(
                    p["batch_100"]["events_per_s"] / result["plain_file"][1]["events_per_s"], 3),
            }
            if "fastapi_pydantic" in result:
                f = result["fastapi_pydantic"]
                result["ratios"]["batch_events_vs_fastapi"] = round(
                    p["batch_100"]["events_per_s"] / max(f["batch_100"]["events_per_s"], 1), 2)
                result["ratios"]["single_req_vs_fastapi"] = round(
                    p["single"]["requests_per_s"] / max(f["single"]["requests_per_s"], 1), 2)
            print("ratios:", result["ratios"], flush=True)
        if not args.skip_loader:
            result["loader"] = [loader_run(n, args.loader_batch, work, workers=k)
                                for n in args.loader_events for k in args.loader_workers]
            if not args.skip_no_ip:
                result["loader"].append(loader_run(min(args.loader_events), args.loader_batch, work, ip=False,
                                                   workers=args.loader_workers[0]))
        if args.dedupe_rows:
            result["dedupe"] = [dedupe_run(n, args.loader_batch, work) for n in args.dedupe_rows]
    print("results:", save(args.name, result))


if __name__ == "__main__":
    main()
