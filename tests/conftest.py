"""Shared fixtures: one Spark session and one demo world per test run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import copy_workspace

#: Size of the shared demo world. Small enough for a fast suite, large enough for
#: the planted truth to be recovered with the stated tolerances.
DEMO_CUSTOMERS = int(os.environ.get("PARCOURS_TEST_CUSTOMERS", "3000"))
DEMO_SEED = 7


@pytest.fixture(scope="session")
def spark_session():
    """The one SparkSession of the test run (local mode, 2 threads)."""
    pytest.importorskip("pyspark")
    from parcours.engine.spark import spark_session as make

    return make("local[2]")


@pytest.fixture(scope="session")
def demo_ws(tmp_path_factory: pytest.TempPathFactory):
    """The demo world, built once per test run. Tests must not modify it: tests that
    write (GDPR erasure, loads) copy it or build their own workspace."""
    import parcours
    from parcours.demo import build_demo

    path: Path = tmp_path_factory.mktemp("demo") / "ws"
    ws = parcours.init(path)
    build_demo(ws, customers=DEMO_CUSTOMERS, seed=DEMO_SEED)
    return ws


@pytest.fixture(scope="session")
def demo_resolved(demo_ws, tmp_path_factory: pytest.TempPathFactory):
    """A copy of the demo world with identities resolved for both tenants, built once per
    run: ``(workspace, {tenant: ResolveResult})``. Read-only too: tests that write copy
    it with :func:`copy_workspace`."""
    import parcours
    from parcours.identity import resolve

    ws = parcours.open(copy_workspace(demo_ws, tmp_path_factory, "demo-resolved"))
    results = {tenant: resolve(ws, tenant) for tenant in ("energie", "fidelite")}
    yield ws, results
    ws.close()


@pytest.fixture(scope="session")
def demo_resolved_ws(demo_resolved):
    """The resolved demo world's workspace (see ``demo_resolved``)."""
    return demo_resolved[0]


@pytest.fixture()
def workspace(tmp_path: Path):
    """An empty workspace with the two tenants created."""
    import parcours

    ws = parcours.init(tmp_path / "ws")
    ws.create_tenant("energie")
    ws.create_tenant("fidelite")
    yield ws
    ws.close()
