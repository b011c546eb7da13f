"""The CLI: commands work, a user's mistake prints one line and exits 1."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pyarrow as pa

UTC = dt.UTC


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "parcours.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_init_tables_sql(tmp_path):
    w = tmp_path / "w"
    r = run("init", str(w))
    assert r.returncode == 0 and (w / "parcours.toml").exists()
    import parcours

    ws = parcours.open(w)
    ws.create_tenant("energie")
    ts = [dt.datetime(2025, 1, 1, tzinfo=UTC)] * 3
    ws.write("energie", "events", pa.table({
        "message_id": ["a", "b", "c"], "tenant": ["energie"] * 3, "type": ["track"] * 3,
        "event": ["x"] * 3, "channel": ["web", "web", "app"], "timestamp": ts, "received_at": ts}))
    r = run("tables", "--workspace", str(w), "--json")
    assert r.returncode == 0, r.stderr
    rows = {(t["zone"], t["table"]): t["rows"] for t in json.loads(r.stdout)}
    assert rows == {("raw", "events"): 3, ("analytics", "events"): 3}
    r = run("sql", "--workspace", str(w), "--tenant", "energie",
            "select channel, count(*) as n from events group by 1 order by 1", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"channel": "app", "n": 1}, {"channel": "web", "n": 2}]


def test_user_mistakes_are_one_line(tmp_path):
    r = run("tables", "--workspace", str(tmp_path / "nowhere"))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "is not a parcours workspace (no parcours.toml)" in " ".join(r.stderr.split())
    run("init", str(tmp_path / "w"))
    r = run("sql", "--workspace", str(tmp_path / "w"), "--tenant", "nobody", "select 1")
    assert r.returncode == 1 and "unknown tenant 'nobody'" in r.stderr and "Traceback" not in r.stderr
