"""Render time of the data hub's pages in a real browser, on a demo world.

    python bench/bench_web.py --workspace demo-workspace   # a world built by `parcours demo`
    python bench/bench_web.py --customers 3000              # builds a world in a temp folder

Serves the workspace with ``parcours serve`` on a loopback port, signs in to Debian's
Chromium (Playwright, never a downloaded browser) as a benchmark admin, and opens every
page twice: cold (first visit after the server started) and warm (aggregates cached
per table version). By default the first visits start once ``/health`` says the
start-up warm-up is done (its duration is recorded); ``--no-wait-warm`` starts them as
soon as the server answers, while the warm-up still runs. The time is from navigation
start to the page loaded and its charts drawn. Results: bench/results/web.json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
RESULTS = Path(__file__).resolve().parent / "results" / "web.json"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keys(ws, tenant: str) -> dict[str, str]:
    """The busiest customer of the tenant (the heaviest 360 page) and common events."""
    key = ws.sql(tenant, "select e.user_id from events e join identity_map m on m.identifier = e.user_id "
                 "and m.id_type = 'user_id' and m.status = 'linked' group by 1 "
                 "order by count(*) desc limit 1", zone="raw").column(0)[0].as_py()
    return {"customer": key}


def _churn(ws, tenant: str) -> dict:
    """The tenant's planted churn sequence and target (demo/truth.json of the world)."""
    truth = json.loads((ws.path / "demo" / "truth.json").read_text(encoding="utf-8"))
    return truth[tenant]["churn"]


def pages(ws, tenant: str) -> list[tuple[str, str]]:
    k = _keys(ws, tenant)
    churn = _churn(ws, tenant)
    seq, target = churn["sequence"], churn["target"]
    steps = "&".join(f"step={quote(s)}" for s in [*seq, target])
    return [
        ("overview", f"/t/{tenant}/overview"),
        ("sources", f"/t/{tenant}/sources"),
        ("customer 360", f"/t/{tenant}/customers/{k['customer']}"),
        ("paths", f"/t/{tenant}/journeys/paths?event={quote(seq[0])}&steps=3"),
        ("funnel", f"/t/{tenant}/journeys/funnel?{steps}&window_days=30"),
        ("precursors", f"/t/{tenant}/journeys/precursors?target={quote(target)}&lookback_days=30"),
        ("channels", f"/t/{tenant}/journeys/channels"),
        ("retention", f"/t/{tenant}/journeys/retention"),
    ]


def measure(page, url: str) -> tuple[float | None, float | None]:
    """(server answer, page drawn) in ms from navigation start."""
    response = page.goto(url)
    if response is None or response.status != 200:
        return None, None
    alert = page.locator("[role=alert]")
    if alert.count():  # the page answered with an error message, not its figures
        print(f"  {url}: {alert.first.inner_text()}", file=sys.stderr)
        return None, None
    if page.locator("script[data-chart]").count():
        page.wait_for_selector("html[data-charts=drawn]", timeout=30_000)
    t = page.evaluate("[performance.getEntriesByType('navigation')[0].responseEnd, performance.now()]")
    return float(t[0]), float(t[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", type=Path)
    ap.add_argument("--customers", type=int, default=3000)
    ap.add_argument("--no-wait-warm", dest="wait_warm", action="store_false",
                    help="visit while the start-up warm-up may still run")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args()

    import parcours
    from parcours.privacy.users import UserStore

    if args.workspace is None:
        from parcours.demo import build_demo
        from parcours.identity import resolve

        args.workspace = Path(tempfile.mkdtemp()) / "ws"
        ws = parcours.init(args.workspace)
        build_demo(ws, customers=args.customers, seed=42)
        for t in ws.tenants():
            resolve(ws, t)
    ws = parcours.open(args.workspace)
    customers = ws.lake.info("energie", "raw", "customers").rows
    store = UserStore(ws)
    name, password = f"bench-{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    store.create_user(name, dict.fromkeys(ws.tenants(), "admin"), password)

    port = _port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "parcours.cli", "serve", "-w", str(args.workspace), "--port", str(port)],
        env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    results: dict[str, dict[str, float | None]] = {}
    try:
        import httpx

        started = time.monotonic()
        for _ in range(300):
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        warmup_s = None
        if args.wait_warm:
            while not httpx.get(url + "/health", timeout=5).json().get("warm", True):
                if time.monotonic() - started > 1800:
                    sys.exit("the server's warm-up did not finish in 30 minutes")
                time.sleep(0.5)
            warmup_s = round(time.monotonic() - started, 1)
            print(f"server up and warm after {warmup_s} s")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900}, base_url=url)
            page.set_default_timeout(180_000)  # a cold precursors page computes for ~16 s on a 20k world
            page.goto("/login")
            page.fill("input[name=user]", name)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_load_state("load")
            for tenant in ws.tenants():
                for label, path in pages(ws, tenant):
                    cold_server, cold = measure(page, path)
                    warm_server, warm = measure(page, path)
                    results[f"{tenant} {label}"] = {
                        "cold_ms": cold, "warm_ms": warm,
                        "cold_server_ms": cold_server, "warm_server_ms": warm_server,
                    }
                    nan = float("nan")
                    print(f"{tenant:9} {label:13} cold {cold or nan:6.0f} ms (server {cold_server or nan:5.0f})"
                          f"   warm {warm or nan:6.0f} ms (server {warm_server or nan:5.0f})")
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        store.revoke(name)
    args.results.parent.mkdir(exist_ok=True)
    args.results.write_text(json.dumps({
        "customers_per_tenant": customers, "waited_for_warm_up": args.wait_warm,
        "warm_up_seconds": warmup_s if args.wait_warm else None, "pages": results}, indent=2))
    print(f"results: {args.results}")


if __name__ == "__main__":
    main()
