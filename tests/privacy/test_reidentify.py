"""Re-identification: pseudonyms back to people, for data managers only, audited."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from parcours.privacy import audit
from parcours.privacy.errors import UserError
from parcours.privacy.reidentify import reidentify
from parcours.privacy.users import UserStore
from parcours.web.app import create_app


@pytest.fixture()
def ws(workspace):
    workspace.write("energie", "customers", pa.table({
        "customer_number": ["C1", "C2", "C3"], "email": ["a@x.fr", "b@x.fr", "c@x.fr"]}))
    workspace.write("fidelite", "customers", pa.table({"customer_number": ["C1"]}))
    return workspace


def _segment(ws, n):
    """What a data scientist finds in the analytics zone: pseudonyms."""
    rows = ws.sql("energie", "SELECT customer_number, email FROM customers ORDER BY customer_number")
    return rows.to_pylist()[:n]


def test_reidentify_round_trip_and_audit(ws):
    key = ws.keys.get("energie").reveal()
    truth = {"px" + hmac.new(key, v.encode(), hashlib.sha256).hexdigest()[:32]: v
             for v in ("C1", "C2", "C3", "a@x.fr", "b@x.fr", "c@x.fr")}
    seg = _segment(ws, 2)
    asked = [r["customer_number"] for r in seg] + [seg[0]["email"], "px" + "0" * 32]
    got = reidentify(ws, "energie", asked)
    # the unknown pseudonym is left out; the email comes back as an email; order kept
    assert [(r.pseudonym, r.value) for r in got] == [(p, truth[p]) for p in asked[:3]]
    assert [r.id_type for r in got] == ["customer_number", "customer_number", "email"]
    lines = audit.read(ws, "energie")
    assert [x["customer"] for x in lines] == [truth[p] for p in asked[:3]]
    assert {x["action"] for x in lines} == {"reidentify"}
    with pytest.raises(UserError):
        reidentify(ws, "energie", ["C1"])
    # another tenant's secret gives other pseudonyms: nothing comes back there
    assert reidentify(ws, "fidelite", [seg[0]["customer_number"]]) == []


def test_api_and_cli(ws):
    store = UserStore(ws)
    dm = {"Authorization": "Bearer " + store.create_user("dm", {"energie": "data_manager"})}
    ds = {"Authorization": "Bearer " + store.create_user("ds", {"energie": "data_scientist"})}
    client = TestClient(create_app(ws))
    seg = [r["customer_number"] for r in _segment(ws, 3)]
    url = "/api/v1/tenants/energie/reidentify"
    assert client.post(url, json={"pseudonyms": seg}, headers=ds).status_code == 403
    r = client.post(url, json={"pseudonyms": seg}, headers=dm)
    assert r.status_code == 200 and sorted(x["value"] for x in r.json()) == ["C1", "C2", "C3"]
    first = r.json()[0]["value"]
    bad = client.post(url, json={"pseudonyms": ["not-a-pseudonym"]}, headers=dm)
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "UserError"
    env = {**os.environ, "PARCOURS_WORKSPACE": str(ws.path)}
    run = subprocess.run([sys.executable, "-m", "parcours.cli", "reidentify", "--tenant", "energie", seg[0], "--json"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and f'"value": "{first}"' in run.stdout
    users = [(x["user"], x["customer"]) for x in audit.read(ws, "energie")]
    assert users == [("dm", x["value"]) for x in r.json()] + [("operator", first)]
