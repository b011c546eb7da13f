"""The Sources page: a real file import (one bad line quarantined), write keys, access."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from parcours.web.app import create_app
from parcours.web.demo_users import create_demo_users

MAPPING = """
table = "events"
format = "csv"
[columns]
message_id = { template = "call-{CallId}" }
type = { value = "track" }
event = { value = "call_center_call" }
channel = { value = "call_center" }
user_id = "CustomerNo"
timestamp = { column = "Start", format = "%d/%m/%Y %H:%M" }
"""

CALLS = "CallId,CustomerNo,Start\n1,C1,02/03/2026 10:00\n2,C2,03/03/2026 11:30\n3,C3,not a date\n"


@pytest.fixture()
def imported(small_world, tmp_path):
    from parcours.collect.importer import import_file

    (tmp_path / "calls.toml").write_text(MAPPING, encoding="utf-8")
    (tmp_path / "calls.csv").write_text(CALLS, encoding="utf-8")
    result = import_file(small_world, "energie", tmp_path / "calls.csv", source="call_center",
                         mapping=tmp_path / "calls.toml")
    assert (result.written, result.quarantined) == (2, 1)
    users = {u.name: u for u in create_demo_users(small_world)}
    return small_world, users


def signed_in(ws, user) -> TestClient:
    c = TestClient(create_app(ws))
    assert c.post("/login", data={"user": user.name, "password": user.password},
                  follow_redirects=False).status_code == 303
    return c


def test_sources_page_shows_the_import_and_its_quarantined_line(imported):
    ws, users = imported
    page = signed_in(ws, users["data-manager-energie"]).get("/t/energie/sources").text
    imports = re.search(r'<table id="imports">.*?</table>', page, re.S).group(0)
    assert "calls.csv" in imports and ">3<" in imports and ">2<" in imports and ">1<" in imports
    # the small world's 2 quarantined rows plus the bad CSV line
    assert re.search(r'id="quarantine-total">3<', page)
    rows = re.search(r'<table id="quarantine-rows">.*?</table>', page, re.S).group(0)
    assert "not a date" in rows and "import:call_center" in rows


def test_write_key_created_then_revoked_from_the_page(imported):
    ws, users = imported
    from parcours.collect.keys import WriteKeyStore

    c = signed_in(ws, users["admin-energie"])
    page = c.post("/t/energie/sources/keys", data={"channel": "app"}).text
    key = re.search(r'<p class="secret" id="new-key">([^<]+)</p>', page).group(1).strip()
    assert WriteKeyStore(ws.state_dir).lookup(key).channel == "app"
    c.post(f"/t/energie/sources/keys/{key[:10]}/revoke")
    assert WriteKeyStore(ws.state_dir).lookup(key) is None
    from parcours.privacy import audit

    actions = [a["action"] for a in audit.read(ws, "energie")]
    assert "write_key.create" in actions and "write_key.revoke" in actions


def test_sources_closed_to_analysts(imported):
    ws, users = imported
    for name in ("data-scientist-energie", "advisor-energie", "manager-energie"):
        assert signed_in(ws, users[name]).get("/t/energie/sources").status_code == 403
