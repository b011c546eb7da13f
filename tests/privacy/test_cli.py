"""The privacy commands, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow as pa

from parcours.privacy.errors import AuthenticationError
from parcours.privacy.pseudonymize import pseudonym
from parcours.privacy.users import UserStore


def _run(ws, *args, stdin=None):
    env = {**os.environ, "PARCOURS_WORKSPACE": str(ws.path)}
    return subprocess.run([sys.executable, "-m", "parcours.cli", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_users_lifecycle(workspace):
    r = _run(workspace, "users", "create", "alice", "--role", "energie=data_scientist",
             "--role", "fidelite=manager", "--password-stdin", stdin="a good password\n")
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    store = UserStore(workspace)
    assert store.authenticate_token(token).tenant_roles == {"energie": "data_scientist", "fidelite": "manager"}
    assert store.check_password("alice", "a good password").name == "alice"
    listed = json.loads(_run(workspace, "users", "list", "--json").stdout)
    assert listed[0]["user"] == "alice" and token not in json.dumps(listed)
    bad = _run(workspace, "users", "create", "bob", "--role", "energie=root")
    assert bad.returncode == 1 and "unknown role" in bad.stderr and "Traceback" not in bad.stderr
    assert _run(workspace, "users", "revoke", "alice").returncode == 0
    try:
        store.authenticate_token(token)
        raise AssertionError("revoked token still works")
    except AuthenticationError:
        pass


def test_rotate_and_audit_commands(workspace):
    workspace.write("energie", "customers", pa.table({"customer_number": ["C1"]}))
    old = workspace.keys.get("energie")
    r = _run(workspace, "tenant", "rotate-secret", "--tenant", "energie", "--yes", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["tables"] == {"customers": 1}
    new = workspace.keys.get("energie")
    assert new.reveal() != old.reveal()
    got = workspace.lake.read("energie", "analytics", "customers").column("customer_number").to_pylist()
    assert got == [pseudonym(new, "C1")]
    tenants = json.loads(_run(workspace, "tenant", "list", "--json").stdout)
    assert tenants == [{"tenant": "energie", "sealed": False}, {"tenant": "fidelite", "sealed": False}]
    _run(workspace, "sql", "SELECT * FROM customers", "--tenant", "energie", "--zone", "raw")
    lines = json.loads(_run(workspace, "audit", "--tenant", "energie", "--json").stdout)
    assert [(x["user"], x["action"]) for x in lines] == [("operator", "sql_raw")]
