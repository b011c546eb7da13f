"""`parcours demo` end to end through the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "parcours.cli", *args], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=600)


@pytest.mark.slow
def test_demo_command_builds_a_queryable_world(tmp_path):
    ws = tmp_path / "w"
    out = run("demo", "--customers", "100", "--seed", "5", "--no-serve", "--workspace", str(ws))
    assert out.returncode == 0, out.stderr
    assert "planted churn" in out.stdout and "energie" in out.stdout and "fidelite" in out.stdout
    truth = json.loads((ws / "demo" / "truth.json").read_text())
    assert truth["seed"] == 5 and truth["customers"] == 100
    res = run("sql", "--workspace", str(ws), "--tenant", "energie",
              "select channel, count(*) as n from events group by 1", "--json")
    assert res.returncode == 0, res.stderr
    channels = {row["channel"] for row in json.loads(res.stdout)}
    assert {"web", "app", "call_center", "email", "advisor", "complaint", "social", "contract"} <= channels


def test_demo_command_rejects_too_few_customers(tmp_path):
    out = run("demo", "--customers", "5", "--no-serve", "--workspace", str(tmp_path / "w"))
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
