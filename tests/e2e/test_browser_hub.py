"""The data hub in a real browser: Debian's Chromium driven by Playwright against a
real ``parcours serve`` over a copy of the session demo world (3000 customers).

Checks: every role signs in and opens the pages its menu offers; numbers shown equal
the lake's; a funnel built in the page equals the API's; a manager cannot open a 360
page; no request leaves the loopback address; no warm page takes over 5 s (a guard:
the 1 s goal is bench/bench_web.py's; timings written to test-artifacts/web/timings.json,
screenshots beside them and copied to docs/img/ for the user guide).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    HubServer,
    RequestLog,
    render_timing,
    screenshot,
    write_timings,
)
from tests.support import copy_workspace

pytestmark = pytest.mark.slow

#: A broken-page guard, not the goal: a warm page, charts drawn, within 5 s. The goal
#: (under a second) is measured by bench/bench_web.py on a quiet machine; a wall-clock
#: bound this close to the goal fails whenever the shared machine is busy (1.14 s once
#: while the hub's start-up warm-up was running).
MAX_RENDER_MS = 5000.0
TIMINGS: dict[str, dict[str, float]] = {}


@pytest.fixture(scope="session")
def hub(demo_resolved_ws, tmp_path_factory):
    """A copy of the demo world (the tests write keys and replay), its demo users,
    and a real server on a loopback port."""
    import parcours
    from parcours.web.demo_users import create_demo_users

    # the resolved world (the 360 reads profiles), copied: the tests write keys and replay
    path: Path = copy_workspace(demo_resolved_ws, tmp_path_factory, "hub")
    ws = parcours.open(path)
    users = {u.name: u for u in create_demo_users(ws)}
    _quarantine_two_events(ws)
    server = HubServer(path).start()
    yield ws, users, server.url
    server.stop()
    ws.close()


REPLAYABLE_ID = "hub-replay-0001"


def _quarantine_two_events(ws) -> None:
    """One quarantined event that passes once replayed, one that never will."""
    import datetime as dt
    import json

    from parcours.collect import quarantine

    buf = quarantine.QuarantineBuffer()
    now = dt.datetime.now(dt.UTC)
    good = {"type": "track", "event": "hub_replayed", "userId": "C-replay", "messageId": REPLAYABLE_ID,
            "timestamp": "2025-06-01T10:00:00Z", "context": {"channel": "web"}}
    buf.add("hub-q-good", now, "http", "events", "sink was down (test)", json.dumps(good))
    buf.add("hub-q-bad", now, "http", "events", "not JSON", "{this is not json")
    assert quarantine.write(ws, "energie", buf) == 2


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def requests_seen() -> RequestLog:
    return RequestLog()


def open_as(browser, hub, requests_seen, name: str, viewport=(1280, 900)):
    """A fresh browser context signed in as ``name`` through the sign-in form."""
    _, users, url = hub
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                              base_url=url)
    ctx.on("request", requests_seen.record)
    ctx.on("console", requests_seen.console)
    page = ctx.new_page()
    page.goto("/login")
    page.fill("input[name=user]", name)
    page.fill("input[name=password]", users[name].password)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    assert "/login" not in page.url, page.content()[:500]
    return ctx, page


def visit(page, path: str, name: str | None = None, warm: bool = True) -> dict[str, float]:
    """Open ``path``, wait for its charts; the second (warm) load is timed."""
    for _ in range(2 if warm else 1):
        response = page.goto(path)
        assert response is not None and response.status == 200, (path, response and response.status)
        if page.locator("script[data-chart]").count():
            page.wait_for_selector("html[data-charts=drawn]", timeout=10_000)
    timing = render_timing(page)
    if name:
        TIMINGS[name] = timing
        screenshot(page, name)
    return timing


def kpi(page, id_: str) -> int:
    return int(re.sub(r"\D", "", page.locator(f"#{id_} [data-value]").inner_text()))


def test_overview_numbers_equal_the_lake(browser, hub, requests_seen):
    ws, _, _ = hub
    ctx, page = open_as(browser, hub, requests_seen, "admin-energie")
    t = visit(page, "/t/energie/overview", "overview")
    assert kpi(page, "kpi-events") == ws.sql("energie", "select count(*) n from events").column("n")[0].as_py()
    assert kpi(page, "kpi-customers") == ws.sql("energie", "select count(*) n from customers").column("n")[0].as_py()
    counts = ws.sql("energie", "select channel, count(*) n from events group by channel").to_pydict()
    per_channel = dict(zip(counts["channel"], counts["n"], strict=True))
    shown = {
        row.get_attribute("data-channel"): int(row.locator("[data-events]").get_attribute("data-events"))
        for row in page.locator("#channels tbody tr").all()
    }
    assert shown == per_channel
    assert page.locator("#chart-volumes .main-svg").count() > 0  # plotly drew the chart
    assert t["now"] < MAX_RENDER_MS, t
    ctx.close()


def test_sources_page_creates_and_revokes_a_write_key(browser, hub, requests_seen):
    ws, _, _ = hub
    from parcours.collect.keys import WriteKeyStore

    ctx, page = open_as(browser, hub, requests_seen, "data-manager-energie")
    visit(page, "/t/energie/sources", "sources")
    total = int(page.locator("#quarantine-total").inner_text())
    assert total == (ws.lake.info("energie", "raw", "quarantine").rows
                     if ws.lake.exists("energie", "raw", "quarantine") else 0)
    assert total >= 2
    reasons = page.locator("#quarantine-reasons").inner_text()
    assert "not JSON" in reasons
    page.click("#replay")
    page.wait_for_load_state("load")
    assert "1 passed" in page.locator("#replay-result").inner_text()
    assert int(page.locator("#quarantine-total").inner_text()) == total - 1
    replayed = ws.sql("energie", f"select count(*) n from events where message_id = '{REPLAYABLE_ID}'",
                      zone="raw").column("n")[0].as_py()
    assert replayed == 1
    page.fill("input[name=channel]", "web")
    page.click("text=Create a write key")
    key = page.locator("#new-key").inner_text().strip()
    found = WriteKeyStore(ws.state_dir).lookup(key)
    assert found is not None and found.tenant == "energie" and found.channel == "web"
    page.locator(f"tr[data-key='{key[:10]}'] button", has_text="Revoke").click()
    page.wait_for_load_state("load")
    assert WriteKeyStore(ws.state_dir).lookup(key) is None  # revoked keys no longer open
    assert "revoked" in page.locator(f"tr[data-key='{key[:10]}']").inner_text()
    ctx.close()


@pytest.mark.parametrize("user", [
    "admin-energie", "data-manager-energie", "data-scientist-energie", "advisor-energie",
    "manager-energie", "admin-fidelite", "manager-fidelite",
])
def test_each_role_opens_every_page_of_its_menu(browser, hub, requests_seen, user):
    ctx, page = open_as(browser, hub, requests_seen, user)
    links = [a.get_attribute("href") for a in page.locator("nav.nav a").all()]
    assert links, "the menu is empty"
    for href in links:
        visit(page, href, warm=False)
        assert page.locator("h1").count() == 1
    ctx.close()


PROFILE_EVENTS_SQL = """
with m as (select identifier, id_type, profile_id from identity_map where status = 'linked'),
e as (
  select coalesce(m1.profile_id, m2.profile_id, m3.profile_id) as pid from events ev
  left join m m1 on ev.user_id = m1.identifier and m1.id_type = 'user_id'
  left join m m2 on ev.anonymous_id = m2.identifier and m2.id_type = 'anonymous_id'
  left join m m3 on ev.previous_id = m3.identifier and m3.id_type = 'user_id')
select count(*) as n from e where pid = (select profile_id from m where identifier = '{key}' limit 1)
"""


@pytest.mark.parametrize("tenant", ["energie", "fidelite"])
def test_advisor_360_event_count_equals_sql(browser, hub, requests_seen, tenant):
    ws, _, _ = hub
    key = ws.sql(tenant, "select user_id from events where user_id is not null "
                 "group by user_id order by count(*) desc, user_id limit 1", zone="raw").column(0)[0].as_py()
    ctx, page = open_as(browser, hub, requests_seen, f"advisor-{tenant}")
    visit(page, f"/t/{tenant}/customers", warm=False)
    page.fill("input[name=q]", key)
    page.click("button[type=submit].primary")
    page.wait_for_load_state("load")
    assert page.url.endswith(f"/t/{tenant}/customers/{key}")
    expected = ws.sql(tenant, PROFILE_EVENTS_SQL.format(key=key), zone="raw").column("n")[0].as_py()
    assert expected > 10
    assert kpi(page, "kpi-customer-events") == expected
    per_channel = {
        r.get_attribute("data-channel"): int(r.locator("[data-count]").get_attribute("data-count"))
        for r in page.locator("#channel-counts tr").all()
    }
    assert sum(per_channel.values()) == expected
    # the REST API's 360 (identity's serving store) agrees with the page (the lake)
    import httpx

    api = httpx.get(f"{hub[2]}/api/v1/tenants/{tenant}/customers/{key}",
                    headers={"Authorization": f"Bearer {hub[1][f'advisor-{tenant}'].token}"}, timeout=60)
    assert api.status_code == 200, api.text
    assert api.json()["profile"]["events"] == expected
    assert api.json()["profile_id"] == page.locator("#profile-id").inner_text().strip()
    t = visit(page, f"/t/{tenant}/customers/{key}", f"customer-{tenant}")
    assert t["now"] < MAX_RENDER_MS, t
    from parcours.privacy import audit

    assert any(a["action"] == "view_360" and a["user"] == f"advisor-{tenant}" for a in audit.read(ws, tenant))
    ctx.close()


def test_data_scientist_360_is_pseudonymized(browser, hub, requests_seen):
    ws, _, _ = hub
    raw = ws.sql("energie", "select customer_number, email from customers order by customer_number limit 1",
                 zone="raw").to_pylist()[0]
    from parcours.privacy.pseudonymize import pseudonym

    px = pseudonym(ws.keys.get("energie"), raw["customer_number"])
    ctx, page = open_as(browser, hub, requests_seen, "data-scientist-energie")
    visit(page, f"/t/energie/customers/{px}", "customer-pseudonymized", warm=False)
    html = page.content()
    assert "Pseudonymized view" in html
    assert raw["customer_number"] not in html and raw["email"] not in html
    ctx.close()


def test_manager_cannot_open_a_customer_360(browser, hub, requests_seen):
    ws, _, _ = hub
    key = ws.sql("energie", "select customer_number from customers limit 1", zone="raw").column(0)[0].as_py()
    ctx, page = open_as(browser, hub, requests_seen, "manager-energie")
    assert "/customers" not in " ".join(a.get_attribute("href") for a in page.locator("nav.nav a").all())
    response = page.goto(f"/t/energie/customers/{key}")
    assert response.status == 403
    assert key not in page.content()
    screenshot(page, "manager-refused")
    ctx.close()


def _truth(ws) -> dict:
    import json

    return json.loads((ws.path / "demo" / "truth.json").read_text(encoding="utf-8"))


def test_funnel_built_in_the_page_equals_the_api(browser, hub, requests_seen):
    pytest.importorskip("parcours.journeys")
    import httpx

    ws, users, url = hub
    churn = _truth(ws)["energie"]["churn"]
    steps = [*churn["sequence"], churn["target"]]
    ctx, page = open_as(browser, hub, requests_seen, "manager-energie")
    visit(page, "/t/energie/journeys/funnel", warm=False)
    while page.locator("input[name=step]").count() < len(steps):
        page.click("button[name=add]")
        page.wait_for_load_state("load")
    for i, step in enumerate(steps, start=1):
        page.fill(f"input[data-step='{i}']", step)
    page.fill("input[name=window_days]", "30")
    page.click("#run-funnel")
    page.wait_for_selector("html[data-charts=drawn]")
    shown = [int(c.get_attribute("data-reached")) for c in page.locator("#funnel-steps [data-reached]").all()]
    api = httpx.get(
        url + "/api/v1/tenants/energie/journeys/funnel",
        params=[*(("steps", s) for s in steps), ("window", "30d")],
        headers={"Authorization": f"Bearer {users['manager-energie'].token}"}, timeout=60,
    )
    assert api.status_code == 200, api.text
    body = api.json()
    rows = body["steps"] if isinstance(body, dict) else body
    assert shown == [int(r.get("profiles", r.get("reached"))) for r in rows]
    assert shown[0] > shown[-1] > 0
    timing = visit(page, page.url.replace(url, ""), "journeys-funnel")
    assert timing["now"] < MAX_RENDER_MS, timing
    ctx.close()


def test_journey_pages_show_the_planted_patterns(browser, hub, requests_seen):
    pytest.importorskip("parcours.journeys")
    ws, _, _ = hub
    churn = _truth(ws)["energie"]["churn"]
    ctx, page = open_as(browser, hub, requests_seen, "data-scientist-energie")
    visit(page, f"/t/energie/journeys/paths?event={churn['sequence'][0]}&steps=3", "journeys-paths")
    assert page.locator("#chart-sankey .main-svg").count() > 0
    assert page.locator("#paths tbody tr").count() > 0
    visit(page, f"/t/energie/journeys/precursors?target={churn['target']}&lookback_days=30", "journeys-precursors")
    top3 = " ".join(r.inner_text() for r in page.locator("#precursors tbody tr").all()[:3])
    assert any(step in top3 for step in churn["sequence"]), top3
    visit(page, "/t/energie/journeys/channels", "journeys-channels")
    assert page.locator("#channel-matrix tbody tr").count() >= 3
    visit(page, "/t/energie/journeys/retention", "journeys-retention")
    assert page.locator("#retention tbody tr").count() >= 3
    for name in ("journeys-paths", "journeys-precursors", "journeys-channels",
                 "journeys-retention"):
        assert TIMINGS[name]["now"] < MAX_RENDER_MS, (name, TIMINGS[name])
    ctx.close()


def test_phone_layout_is_readable(browser, hub, requests_seen):
    ctx, page = open_as(browser, hub, requests_seen, "manager-energie", viewport=(390, 844))
    visit(page, "/t/energie/overview", "overview-phone")
    # nothing wider than the screen: no horizontal scrolling of the page itself
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    ctx.close()


def test_tenant_switch_and_sign_out(browser, hub, requests_seen):
    ctx, page = open_as(browser, hub, requests_seen, "admin")
    visit(page, "/t/energie/sources", warm=False)
    page.select_option("#tenant-switch", "fidelite")
    page.wait_for_url("**/t/fidelite/sources")
    assert "fidelite" in page.locator("h1").inner_text()
    page.click("text=Sign out")
    page.wait_for_url("**/login")
    page.goto("/t/fidelite/overview")
    assert "/login" in page.url  # the session is gone
    ctx.close()


def test_api_docs_render_offline(browser, hub, requests_seen):
    ctx = browser.new_context(base_url=hub[2])
    ctx.on("request", requests_seen.record)
    page = ctx.new_page()
    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
    assert "parcours" in page.locator(".swagger-ui .info .title").inner_text()
    screenshot(page, "api-docs")
    ctx.close()


def test_no_request_left_the_loopback_address(requests_seen):
    """Runs last in this module: every request every page made above was local."""
    assert len(requests_seen.urls) > 20
    assert any(u.endswith("/assets/plotly.min.js") for u in requests_seen.urls)
    assert requests_seen.foreign() == []
    # refused pages (403) log their status; nothing else may complain (CSP, scripts)
    assert [e for e in requests_seen.errors if "403" not in e and "Forbidden" not in e] == []
    write_timings(TIMINGS)
