"""The collect commands: keys, load, quarantine, import — and one-line errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from parcours.cli import app
from parcours.collect.keys import WriteKeyStore

runner = CliRunner()


def run(*args: str) -> str:
    r = runner.invoke(app, list(args), catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.output


def test_keys_load_quarantine_import_commands(workspace, harness, tmp_path):
    w = str(workspace.path)
    key = run("keys", "create", "--tenant", "energie", "--channel", "call_center", "-w", w).strip()
    rows = json.loads(run("keys", "list", "--tenant", "energie", "-w", w, "--json"))
    assert len(rows) == 1 and rows[0]["channel"] == "call_center" and key.startswith(rows[0]["key_id"])
    assert WriteKeyStore(workspace.state_dir).lookup(key).tenant == "energie"
    r = harness.post("/v1/batch", auth=(key, ""), json={"batch": [
        {"type": "track", "messageId": "1", "userId": "u", "event": "E"},
        {"type": "track", "messageId": "2", "event": "E"}]})
    assert r.status_code == 400
    harness.seal()
    loaded = json.loads(run("load", "-w", w, "--json"))
    assert (loaded["events"], loaded["quarantined"]) == (1, 1)
    q = json.loads(run("quarantine", "list", "--tenant", "energie", "-w", w, "--json"))
    assert len(q) == 1 and "userId or anonymousId" in q[0]["reason"]
    replay = json.loads(run("quarantine", "replay", "--tenant", "energie", "-w", w, "--json"))
    assert replay["still_invalid"] == 1 and replay["replayed"] == 0
    f = tmp_path / "w.csv"
    f.write_text("region,date,t\nIDF,2026-01-01,3.5\nIDF,bad,1\n")
    m = tmp_path / "w.toml"
    m.write_text('table = "weather"\n[columns]\nregion = "region"\ndate = "date"\ntemp_mean_c = "t"\n')
    out = json.loads(run("import", str(f), "--tenant", "energie", "--source", "meteo", "--mapping", str(m),
                         "-w", w, "--json"))
    assert (out["written"], out["quarantined"]) == (1, 1)
    run("keys", "revoke", rows[0]["key_id"], "--tenant", "energie", "-w", w)
    assert WriteKeyStore(workspace.state_dir).lookup(key) is None


def test_user_mistakes_are_one_line_errors(workspace, tmp_path):
    import os
    import subprocess
    import sys

    w = str(workspace.path)
    m = tmp_path / "bad.toml"
    m.write_text('table = "invoices"\n[columns]\nnope = "x"\n')
    f = tmp_path / "x.csv"
    f.write_text("a\n1\n")
    for args in (["import", str(f), "--tenant", "energie", "--source", "s", "--mapping", str(m)],
                 ["keys", "revoke", "wk_nothing", "--tenant", "energie"],
                 ["keys", "create", "--tenant", "nobody"]):
        env = {**os.environ, "COLUMNS": "400"}  # Rich would wrap a long line at 80 columns
        r = subprocess.run([sys.executable, "-m", "parcours.cli", *args, "-w", w], capture_output=True,
                           text=True, env=env)
        assert r.returncode == 1 and "Traceback" not in r.stderr
        assert r.stderr.strip().startswith("error:") and len(r.stderr.strip().splitlines()) == 1, r.stderr
