"""The SQL entry point (API and `parcours sql`): one tenant, one zone, no file access."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from parcours.engine.sql import SQLError, run_sql
from parcours.privacy import audit
from parcours.privacy.users import UserStore
from parcours.web.app import create_app

T0 = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture()
def env(workspace):
    workspace.write("energie", "customers", pa.table({
        "customer_number": ["C1", "C2", "C3"], "email": ["a@x.fr", "b@x.fr", "c@x.fr"]}))
    workspace.write("fidelite", "customers", pa.table({
        "customer_number": ["L1"], "email": ["secret-fidelite@x.fr"]}))
    store = UserStore(workspace)
    tokens = {
        "ds": store.create_user("ds", {"energie": "data_scientist"}),
        "dm": store.create_user("dm", {"energie": "data_manager"}),
        "mgr": store.create_user("mgr", {"energie": "manager"}),
    }
    return workspace, TestClient(create_app(workspace)), tokens


def _sql(client, token, query, zone="analytics"):
    return client.post("/api/v1/tenants/energie/sql", json={"query": query, "zone": zone},
                       headers={"Authorization": f"Bearer {token}"})


def _paths(ws):
    raw = ws.lake.files("energie", "raw", "customers")[0]
    other = ws.lake.files("fidelite", "analytics", "customers")[0]
    return raw, other


ESCAPES = [
    "SELECT * FROM read_parquet('{raw}')",
    "SELECT * FROM read_parquet('{other}')",
    "SELECT * FROM parquet_scan('{raw}')",
    "SELECT * FROM read_csv('{raw}')",
    "SELECT * FROM read_csv_auto('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM read_blob('{raw}')",
    "SELECT * FROM read_json_auto('{lake}/fidelite/raw/customers/_delta_log/00000000000000000000.json')",
    "SELECT * FROM glob('{lake}/*')",
    "SELECT * FROM '{raw}'",
    "ATTACH '{lake}/x.duckdb' AS x",
    "COPY (SELECT 1) TO '{lake}/out.csv'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SELECT * FROM fidelite.customers",
    "SELECT * FROM raw.customers",
]


def test_data_scientist_reads_analytics_only(env):
    ws, client, tokens = env
    r = _sql(client, tokens["ds"], "SELECT count(*) AS n, min(email) AS e FROM customers")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["columns"] == ["n", "e"] and body["rows"][0][0] == 3
    assert body["rows"][0][1].startswith("px")  # pseudonymized
    r = _sql(client, tokens["ds"], "SELECT * FROM customers", zone="raw")
    assert r.status_code == 403
    assert _sql(client, tokens["mgr"], "SELECT 1").status_code == 403
    # the data manager may read raw (and that read is audited)
    r = _sql(client, tokens["dm"], "SELECT email FROM customers ORDER BY 1", zone="raw")
    assert r.status_code == 200 and [x[0] for x in r.json()["rows"]] == ["a@x.fr", "b@x.fr", "c@x.fr"]
    lines = audit.read(ws, "energie")
    assert [(x["user"], x["action"]) for x in lines] == [("dm", "sql_raw")]


@pytest.mark.parametrize("query", ESCAPES)
def test_file_functions_and_other_tenants_are_refused(env, query):
    ws, client, tokens = env
    raw, other = _paths(ws)
    q = query.format(raw=raw, other=other, lake=ws.lake.root)
    for token in (tokens["ds"], tokens["dm"]):
        r = _sql(client, token, q)
        assert r.status_code == 400, (q, r.status_code, r.text)
        assert r.json()["error"]["type"] == "SQLError"
        assert "secret-fidelite" not in r.text and "a@x.fr" not in r.text
    with pytest.raises(SQLError):
        run_sql(ws.lake, "energie", "analytics", q)
    assert not (ws.lake.root / "out.csv").exists() and not (ws.lake.root / "x.duckdb").exists()


def test_cli_sql_is_locked_too(env):
    ws, _, _ = env
    raw, _ = _paths(ws)
    envvars = {**os.environ, "PARCOURS_WORKSPACE": str(ws.path)}
    run = subprocess.run(
        [sys.executable, "-m", "parcours.cli", "sql", f"SELECT * FROM read_parquet('{raw}')",
         "--tenant", "energie", "--json"], env=envvars, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "a@x.fr" not in run.stdout
    assert "error" in run.stderr and "Traceback" not in run.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "parcours.cli", "sql", "SELECT count(*) AS n FROM customers",
         "--tenant", "energie", "--json"], env=envvars, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and '"n": 3' in ok.stdout


def test_cli_sql_as_a_user_follows_the_roles(env):
    ws, _, tokens = env
    base = {**os.environ, "PARCOURS_WORKSPACE": str(ws.path)}

    def run(token, *args):
        return subprocess.run([sys.executable, "-m", "parcours.cli", "sql", *args, "--tenant", "energie", "--json"],
                              env={**base, "PARCOURS_TOKEN": token}, capture_output=True, text=True, timeout=120)

    raw = run(tokens["ds"], "SELECT email FROM customers", "--zone", "raw")
    assert raw.returncode == 1 and "may not query the raw zone" in raw.stderr and "a@x.fr" not in raw.stdout
    ok = run(tokens["ds"], "SELECT count(*) AS n FROM customers")
    assert ok.returncode == 0 and '"n": 3' in ok.stdout
    assert run(tokens["mgr"], "SELECT 1").returncode == 1
    assert run("pt_forged", "SELECT 1").returncode == 1
    other = subprocess.run([sys.executable, "-m", "parcours.cli", "sql", "SELECT 1", "--tenant", "fidelite"],
                           env={**base, "PARCOURS_TOKEN": tokens["ds"]}, capture_output=True, text=True, timeout=120)
    assert other.returncode == 1 and "unknown tenant" in other.stderr
    dm = run(tokens["dm"], "SELECT email FROM customers", "--zone", "raw")
    assert dm.returncode == 0 and "a@x.fr" in dm.stdout
    assert [(x["user"], x["action"]) for x in audit.read(ws, "energie")] == [("dm", "sql_raw")]
