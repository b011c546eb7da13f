"""``build_demo``: both demo worlds, written through the workspace, with their planted truth."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq

from parcours.demo.common import Reporter, WorldResult
from parcours.demo.errors import DemoError
from parcours.lake import ZONES
from parcours.progress import Progress

TENANTS = ("energie", "fidelite")
MIN_CUSTOMERS = 100
MAX_CUSTOMERS = 5_000_000


@dataclass
class DemoSummary:
    """What :func:`build_demo` wrote: rows per tenant and table, and where the truth is."""

    customers: int
    seed: int
    counts: dict[str, dict[str, int]]
    truth_path: str
    seconds: float
    truth: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(sum(t.values()) for t in self.counts.values())

    def describe(self) -> str:
        """A few lines for the CLI: rows per table, planted truth, time taken."""
        lines = [f"demo world: {self.customers} customers per tenant, seed {self.seed}, "
                 f"{self.total_rows:,} rows in {self.seconds:.1f} s"]
        for tenant, tables in self.counts.items():
            parts = ", ".join(f"{name} {rows:,}" for name, rows in sorted(tables.items()))
            lines.append(f"  {tenant}: {parts}")
            t = self.truth.get(tenant, {})
            for key in ("churn", "call"):
                if key in t:
                    lines.append(f"    planted {key}: {' > '.join(t[key]['sequence'])} > "
                                 f"{t[key]['target']} (lift {t[key]['lift']:.1f})")
        lines.append(f"  planted truth: {self.truth_path}")
        return "\n".join(lines)


def _reset(ws: Any, tenant: str) -> None:
    """The demo owns its tenants: drop their tables so a rebuild never appends twice."""
    for zone in ZONES:
        for table in ws.lake.tables(tenant, zone):
            ws.lake.drop(tenant, zone, table)


def build_demo(ws: Any, customers: int = 20_000, seed: int = 42, progress: Progress | None = None) -> DemoSummary:
    """Build the two demo tenants (``energie``, ``fidelite``) with planted truth.

    Every table goes through ``ws.write`` (raw + pseudonymized analytics zones); events
    are written a month at a time. The planted truth is saved to
    ``<workspace>/demo/truth.json`` with the files it points to (see docs/demo.md).
    The same ``customers`` and ``seed`` always give the same world.

    Example:
        >>> ws = parcours.init("demo-workspace")               # doctest: +SKIP
        >>> print(build_demo(ws, customers=3000).describe())   # doctest: +SKIP
    """
    from parcours.demo import energie, fidelite

    if not isinstance(customers, int) or not MIN_CUSTOMERS <= customers <= MAX_CUSTOMERS:
        raise DemoError(
            f"customers must be an integer between {MIN_CUSTOMERS} and {MAX_CUSTOMERS:,}, got {customers!r}",
            customers=customers,
        )
    began = time.perf_counter()
    results: list[WorldResult] = []
    for tenant, module in (("energie", energie), ("fidelite", fidelite)):
        ws.create_tenant(tenant)
        _reset(ws, tenant)
        results.append(module.build(ws, customers, seed, Reporter(progress, tenant)))
    folder = ws.path / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    truth: dict[str, Any] = {
        "format": 1,
        "seed": seed,
        "customers": customers,
        "calendar": {"start": "2025-01-01", "end": "2025-12-31"},
    }
    for res in results:
        truth[res.tenant] = res.truth
        for name, table in res.files.items():
            pq.write_table(table, folder / f"{name}.parquet")
    path = folder / "truth.json"
    path.write_text(json.dumps(truth, indent=2, ensure_ascii=False), encoding="utf-8")
    return DemoSummary(
        customers=customers,
        seed=seed,
        counts={r.tenant: r.counts for r in results},
        truth_path=str(path),
        seconds=time.perf_counter() - began,
        truth=truth,
    )
