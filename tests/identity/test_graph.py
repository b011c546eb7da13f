"""Connected components as Ibis expressions agree with networkx; splits follow anchors."""

from __future__ import annotations

import ibis
import networkx as nx
import numpy as np
import pyarrow as pa
import pytest

from parcours.identity.graph import Scratch, components, split_around_anchors


def _edges(edges: list[tuple[int, int]]):
    return ibis.memtable(pa.table({"a": [a for a, _ in edges], "b": [b for _, b in edges]}))


def _both(edges: list[tuple[int, int]]):
    t = _edges(edges)
    return ibis.union(t, t.select(a="b", b="a"), distinct=False)


@pytest.mark.parametrize("listing", ["once", "both ways"])
@pytest.mark.parametrize("seeded", [False, True])
def test_components_match_networkx(workspace, listing, seeded):
    """Edges listed once each, in either direction (the chain's larger end first, so a
    node's smaller neighbour may sit on either side), or in both directions; from each
    node's own id, or from starting labels (an incremental run's)."""
    rng = np.random.default_rng(5)
    n = 3000
    edges = [(int(a), int(b)) for a, b in rng.integers(0, n, (1800, 2)) if a != b]
    # a long chain (diameter 400) exercises the pointer jumping
    edges += [(10_001 + i, 10_000 + i) for i in range(400)]
    nodes = sorted({x for e in edges for x in e} | set(range(n)))
    g = nx.Graph()
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    expected = {x: min(c) for c in nx.connected_components(g) for x in c}
    start = None
    if seeded:  # a label inside each node's component, not always its smallest node
        start = ibis.memtable(pa.table({
            "node": nodes, "label": [max(expected[x], x - 1) if x - 1 in expected and expected[x - 1] == expected[x] else x for x in nodes],
        }))
    con = workspace.engine.con
    scratch = Scratch(con)
    try:
        labels, rounds = components(
            ibis.memtable(pa.table({"node": nodes})),
            _edges(edges) if listing == "once" else _both(edges), scratch, start=start,
        )
        got = labels.to_pyarrow().to_pylist()
    finally:
        scratch.release()
    assert {r["node"]: r["label"] for r in got} == expected
    assert rounds <= 40  # pointer jumping: far fewer rounds than the chain's 400 hops


def test_split_around_anchors(workspace):
    # u1 - a1 - e - a2 - u2 : two user ids (cap 1) joined through a chain; e is equidistant
    # and goes to the smallest anchor; a1/a2 to their nearest one
    names = {"u1": 1, "a1": 2, "e": 3, "a2": 4, "u2": 5}
    edges = [(1, 2), (2, 3), (3, 4), (4, 5)]
    types = pa.table({"node": [1, 2, 3, 4, 5],
                      "id_type": ["user_id", "anonymous_id", "email", "anonymous_id", "user_id"]})
    con = workspace.engine.con
    scratch = Scratch(con)
    try:
        labels = ibis.memtable(pa.table({"node": list(names.values()), "label": [1] * 5}))
        final, split = split_around_anchors(
            labels, ibis.memtable(types), _edges(edges), {"user_id": 1}, ("customer_number", "user_id"),
            scratch,
        )
        got = {r["node"]: r["label"] for r in final.to_pyarrow().to_pylist()}
        cut = split.to_pyarrow().to_pylist()
    finally:
        scratch.release()
    assert got == {1: 1, 2: 1, 3: 1, 4: 5, 5: 5}
    assert {r["node"] for r in cut} == {1, 2, 3, 4, 5} and {r["cut_type"] for r in cut} == {"user_id"}


def test_scratch_drop_frees_the_table(workspace):
    """A dropped scratch table leaves DuckDB at once (DuckDB names a temporary table
    ``temp.main.<name>``: compared whole, drop kept every table until the end)."""
    con = workspace.engine.con
    scratch = Scratch(con)

    def temp_tables() -> set[str]:
        rows = con.con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
        return {r[0] for r in rows}

    try:
        kept = scratch.keep(ibis.memtable(pa.table({"a": [1, 2], "b": [2, 1]})))
        other = scratch.keep(kept.select(a="b", b="a"))
        assert scratch.holds(kept) and not scratch.holds(kept.select("a"))
        assert len(temp_tables()) == 2
        scratch.drop(kept)
        assert len(temp_tables()) == 1 and not scratch.holds(kept)
        assert other.to_pyarrow().num_rows == 2
    finally:
        scratch.release()
    assert temp_tables() == set()
