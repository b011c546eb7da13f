"""The Customer 360° page on a small resolved world: counts, zones, audit, access."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from parcours.web.app import create_app
from parcours.web.demo_users import create_demo_users
from parcours.web.pages import cache
from tests.web.conftest import T0, events_table


@pytest.fixture()
def resolved(small_world):
    """C1 also browses anonymously as cookie a1, which an identify call ties to C1."""
    from parcours.identity import resolve

    ws = small_world
    ws.write("energie", "events", events_table([
        {"message_id": "id1", "type": "identify", "event": "identify", "channel": "web",
         "user_id": "C1", "anonymous_id": "a1", "timestamp": T0 + timedelta(days=3)},
        {"message_id": "anon1", "type": "page", "event": "tariffs", "channel": "web",
         "anonymous_id": "a1", "timestamp": T0 + timedelta(days=4)},
    ]))
    resolve(ws, "energie")
    cache.clear()
    users = {u.name: u for u in create_demo_users(ws)}
    return ws, users


def client_as(ws, user) -> TestClient:
    c = TestClient(create_app(ws))
    r = c.post("/login", data={"user": user.name, "password": user.password}, follow_redirects=False)
    assert r.status_code == 303
    return c


def shown_events(html: str) -> int:
    m = re.search(r'id="kpi-customer-events".*?data-value>([\d\u202f]+)<', html, re.S)
    assert m, "no event count on the page"
    return int(m.group(1).replace("\u202f", ""))


def test_advisor_sees_the_nominative_view_and_is_audited(resolved):
    ws, users = resolved
    from parcours.privacy import audit

    c = client_as(ws, users["advisor-energie"])
    r = c.get("/t/energie/customers", params={"q": "C1"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/t/energie/customers/C1"
    page = c.get("/t/energie/customers/C1").text
    # 3 events as C1, the identify call and the anonymous page view of cookie a1
    assert shown_events(page) == 5
    assert page.count('<li data-channel="') == 5
    assert "C1@x.example" in page and "DoeC1" in page
    log = [line for line in audit.read(ws, "energie") if line["action"] == "view_360"]
    assert log and log[-1]["user"] == "advisor-energie" and log[-1]["role"] == "advisor"


def test_channel_filter_keeps_the_counts(resolved):
    ws, users = resolved
    c = client_as(ws, users["advisor-energie"])
    page = c.get("/t/energie/customers/C1", params={"channel": "call_center"}).text
    assert page.count('<li data-channel="call_center"') == 1
    assert '<li data-channel="web"' not in page
    assert 'data-channel="web"><td>' in page  # the per-channel counts still list every channel


def test_data_scientist_reads_pseudonyms_only(resolved):
    ws, users = resolved
    from parcours.privacy.pseudonymize import pseudonym

    c = client_as(ws, users["data-scientist-energie"])
    px = pseudonym(ws.keys.get("energie"), "C1")
    for key in (px, "C1"):  # a plain identifier is pseudonymized before the lookup
        page = c.get(f"/t/energie/customers/{key}")
        assert page.status_code == 200
        assert shown_events(page.text) == 5
        assert "C1@x.example" not in page.text and "DoeC1" not in page.text
        assert px in page.text and "Pseudonymized view" in page.text


def test_manager_cannot_open_a_360(resolved):
    ws, users = resolved
    c = client_as(ws, users["manager-energie"])
    r = c.get("/t/energie/customers/C1")
    assert r.status_code == 403 and "C1@x.example" not in r.text
    assert c.get("/t/energie/customers").status_code == 403


def test_unknown_key_says_so(resolved):
    ws, users = resolved
    c = client_as(ws, users["advisor-energie"])
    r = c.get("/t/energie/customers", params={"q": "nobody@nowhere.example"})
    assert r.status_code == 200 and "no customer with identifier" in r.text


def test_timeline_pages_back_in_time(resolved):
    ws, users = resolved
    c = client_as(ws, users["advisor-energie"])
    first = c.get("/t/energie/customers/C1", params={"limit": 2}).text
    assert first.count('<li data-channel="') == 2 and "Older interactions" in first
    assert 'href="?offset=2&amp;limit=2"' in first
    last = c.get("/t/energie/customers/C1", params={"offset": 4, "limit": 2}).text
    assert last.count('<li data-channel="') == 1 and "Older interactions" not in last
    # newest first: the anonymous page view (day 4) opens the timeline, the first web visit ends it
    assert first.index("tariffs") < first.index("identify")
    assert "page_view" in last
