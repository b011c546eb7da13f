"""What parcours exports is what the docs document, and importing it stays light."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import parcours

ROOT = Path(__file__).resolve().parents[1]


def test_exports_are_documented():
    guide = (ROOT / "docs" / "user-guide.md").read_text(encoding="utf-8")
    guide = guide.split("## The Python API", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`parcours\.(\w+)`", guide))
    exported = set(parcours.__all__) - {"__version__"}
    assert exported == documented, f"exported but undocumented: {exported - documented}; documented but not exported: {documented - exported}"
    for name in parcours.__all__:
        assert hasattr(parcours, name)


def test_import_does_not_load_heavy_modules():
    code = ("import sys, parcours; heavy = [m for m in ('pyspark', 'lightgbm', 'sklearn', 'confluent_kafka') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
