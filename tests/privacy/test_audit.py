"""The audit log: one fsynced JSON line per nominative read, owner-only."""

from __future__ import annotations

import stat

from parcours.privacy import audit
from parcours.web.auth import Principal


def test_record_and_read(workspace):
    who = Principal(user="ann", tenant="energie", role="advisor")
    audit.record(workspace, who, action="view_360", customer="C1", detail={"table": "events"})
    audit.record(workspace, "operator", action="gdpr_export", customer="C2", tenant="energie")
    lines = audit.read(workspace, "energie")
    assert [(x["user"], x["role"], x["action"], x["customer"]) for x in lines] == [
        ("ann", "advisor", "view_360", "C1"),
        ("operator", "admin", "gdpr_export", "C2"),
    ]
    assert lines[0]["detail"] == {"table": "events"}
    assert audit.read(workspace, "fidelite") == []
    path = audit.log_path(workspace, "energie")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert audit.scrub_customer(workspace, "energie", {"C1"}, "[erased]") == 1
    assert [x["customer"] for x in audit.read(workspace, "energie")] == ["[erased]", "C2"]


def test_one_line_per_nominative_read(workspace, tmp_path):
    """Nominative reads through the API and the CLI each write one line; analytics reads
    and refused calls write none."""
    import os
    import subprocess
    import sys

    import pyarrow as pa
    from fastapi.testclient import TestClient

    from parcours.privacy.users import UserStore
    from parcours.web.app import create_app

    workspace.write("energie", "customers", pa.table({"customer_number": ["C1", "C2"], "email": ["a@x.fr", "b@x.fr"]}))
    store = UserStore(workspace)
    dm = {"Authorization": "Bearer " + store.create_user("dm", {"energie": "data_manager"})}
    ds = {"Authorization": "Bearer " + store.create_user("ds", {"energie": "data_scientist"})}
    client = TestClient(create_app(workspace))
    base = "/api/v1/tenants/energie"
    assert client.post(f"{base}/sql", json={"query": "SELECT count(*) FROM customers"}, headers=ds).status_code == 200
    assert client.post(f"{base}/sql", json={"query": "SELECT 1", "zone": "raw"}, headers=ds).status_code == 403
    assert client.post(f"{base}/gdpr/export", json={"customer": "C1"}, headers=ds).status_code == 403
    assert client.post(f"{base}/sql", json={"query": "SELECT * FROM customers", "zone": "raw"}, headers=dm).status_code == 200
    r = client.post(f"{base}/gdpr/export", json={"customer": "C2"}, headers=dm)
    assert r.status_code == 200 and r.json()["tables"]["customers"]["count"] == 1
    assert client.post(f"{base}/gdpr/export", json={"customer": "nobody"}, headers=dm).status_code == 404
    env = {**os.environ, "PARCOURS_WORKSPACE": str(workspace.path)}
    cli = [sys.executable, "-m", "parcours.cli"]
    for args in (["gdpr", "export", "--tenant", "energie", "--customer", "C1", "--out", str(tmp_path / "e.json")],
                 ["sql", "SELECT email FROM customers", "--tenant", "energie", "--zone", "raw", "--json"],
                 ["sql", "SELECT email FROM customers", "--tenant", "energie", "--json"]):
        run = subprocess.run(cli + args, env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
    got = [(x["user"], x["role"], x["action"], x["customer"]) for x in audit.read(workspace, "energie")]
    assert got == [
        ("dm", "data_manager", "sql_raw", None),
        ("dm", "data_manager", "gdpr_export", "C2"),
        ("operator", "admin", "gdpr_export", "C1"),
        ("operator", "admin", "sql_raw", None),
    ]
