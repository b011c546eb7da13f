"""`parcours demo` prints the demo users; the printed passwords sign in."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import parcours
from parcours.privacy.users import UserStore


def test_demo_command_prints_working_passwords(tmp_path):
    ws_path = tmp_path / "demo"
    out = subprocess.run(
        [sys.executable, "-m", "parcours.cli", "demo", "--customers", "300", "--no-serve",
         "-w", str(ws_path)],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rows = re.findall(r"^\s+(\S+-(?:energie|fidelite)|admin)\s+(\S+)\s+(\w+) on", out.stdout, re.M)
    assert len(rows) == 11, out.stdout[-2000:]
    store = UserStore(parcours.open(ws_path))
    for name, password, role in rows:
        user = store.check_password(name, password)
        assert role in user.tenant_roles.values()
