"""Connected components as Ibis expressions, so they run on DuckDB and on Spark.

Min-label propagation with pointer jumping: every identifier starts with a label (its own
id, or its previous component's label when resolving incrementally); each round takes
the smallest label among itself and its neighbours, then jumps to its label's label. Each
round is one Ibis expression, materialized before the next, until no label changes; a
round after the first joins only the edges of the nodes whose label just changed. Labels only ever point inside the component, so the fixpoint labels each
component with its smallest identifier, whatever the engine.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis

from parcours.identity.errors import IdentityError

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from parcours.progress import Progress


class Scratch:
    """Materialized intermediate tables of one resolution; dropped at the end.

    DuckDB materializes into temporary tables. On Spark a cached table keeps its whole
    lineage, and label propagation's self-joins double the plan each round, so Spark
    writes each intermediate table to Parquet and reads it back, which cuts the lineage
    (a checkpoint expressed with Ibis' own read/write calls).
    """

    _ids = itertools.count()

    def __init__(self, backend: Any, spill_dir: Path | None = None) -> None:
        self._backend = backend
        self._spill = spill_dir
        self._names: list[str] = []

    def keep(self, expr: ir.Table) -> ir.Table:
        name = f"_parcours_identity_{os.getpid()}_{next(self._ids)}"
        if self._spill is not None:
            path = self._spill / name
            self._backend.to_parquet(expr, str(path))
            return self._backend.read_parquet(str(path))
        table = self._backend.create_table(name, expr, temp=True)
        self._names.append(name)
        return table

    @staticmethod
    def _name(table: ir.Table) -> str | None:
        try:
            # DuckDB qualifies a temporary table's name ("temp.main.<name>"): compared
            # whole, no scratch table was ever dropped before the end of the resolution
            return str(table.get_name()).rsplit(".", 1)[-1]
        except AttributeError:  # an expression, not a table
            return None

    def holds(self, table: ir.Table) -> bool:
        """Whether ``table`` is one of this scratch space's materialized tables."""
        return self._name(table) in self._names

    def drop(self, table: ir.Table) -> None:
        name = self._name(table)
        if name is not None and name in self._names:
            self._names.remove(name)
            with contextlib.suppress(Exception):
                self._backend.drop_table(name, force=True)

    def release(self) -> None:
        for name in self._names:
            with contextlib.suppress(Exception):
                self._backend.drop_table(name, force=True)
        self._names.clear()
        if self._spill is not None:
            shutil.rmtree(self._spill, ignore_errors=True)


def components(
    node_names: ir.Table,
    edge_table: ir.Table,
    scratch: Scratch,
    *,
    start: ir.Table | None = None,
    max_iterations: int = 50,
    progress: Progress | None = None,
) -> tuple[ir.Table, int]:
    """Label every node with its component's smallest node.

    Semi-naive min-label propagation with pointer jumping: each round, only the edges
    from a node whose label changed in the previous round can lower a label, so only
    those are joined (the first round reads every edge); then every node jumps to its
    label's label. One materialized table per round.

    Each edge is read in both directions from one listing: a round joins the changed
    nodes with the edges' ``b`` ends and, separately, with their ``a`` ends. Without
    starting labels, the first round is one aggregate of each edge's smaller end by its
    larger end (a node's own id is its label: only a smaller neighbour can lower it).

    Args:
        node_names: one column ``node``.
        edge_table: undirected edges ``(a, b)``, each listed in either direction (or in
            both, which only costs more).
        scratch: where intermediate tables are materialized.
        start: optional ``(node, label)`` starting labels (incremental runs); each label
            must be a node of the same component.
    Returns:
        (``(node, label)`` table, rounds run).
    """
    # materialized once (the caller's table when it is already just that)
    given = scratch.holds(edge_table) and tuple(edge_table.columns) == ("a", "b")
    edges = edge_table if given else scratch.keep(edge_table.select("a", "b"))
    kept: ir.Table | None = None  # the previous round's table, dropped once replaced
    if start is not None:
        s = start.select(s_node="node", s_label="label")
        labels = node_names.left_join(s, node_names.node == s.s_node).select(
            node="node", label=ibis.least(ibis._.node, ibis.coalesce(ibis._.s_label, ibis._.node))
        )
        labels = kept = scratch.keep(labels)
        best = _smallest_neighbour_label(edges, labels.select(c_node="node", c_label="label"))
    else:
        labels = node_names.select(node="node", label="node")
        # every node starts as its own label: the neighbours' smallest label is their
        # smallest id, and only a neighbour smaller than the node can lower its label
        low = ibis.union(
            edges.filter(edges.a < edges.b).select(n="b", m="a"),
            edges.filter(edges.b < edges.a).select(n="a", m="b"),
            distinct=False,
        )
        best = low.group_by(a=low.n).agg(m=low.m.min())
    for round_ in range(1, max_iterations + 1):
        # propagate: a node takes the smallest label among itself and its (changed) neighbours
        step = scratch.keep(labels.left_join(best, labels.node == best.a).select(
            node="node", was="label",
            label=ibis.least(ibis._.label, ibis.coalesce(ibis._.m, ibis._.label)),
        ))
        # jump: to its label's label (which only ever points inside the component)
        parent = step.select(p_node="node", p_label="label")
        jumped = step.join(parent, step.label == parent.p_node).select(
            "node", "was", label=ibis.least(ibis._.label, ibis._.p_label)
        )
        jumped = scratch.keep(
            jumped.select("node", "label", changed=jumped.label != jumped.was)
        )
        scratch.drop(step)
        if kept is not None:
            scratch.drop(kept)
        kept = jumped
        labels = jumped.select("node", "label")
        moved = jumped.filter(jumped.changed).select(c_node="node", c_label="label")
        changed = int(moved.count().to_pyarrow().as_py())
        if progress is not None:
            progress("identity: label propagation", round_, round_ + (1 if changed else 0))
        if changed == 0:
            if not given:
                scratch.drop(edges)
            return labels, round_
        best = _smallest_neighbour_label(edges, moved)
    raise IdentityError(
        f"label propagation did not converge in {max_iterations} rounds", rounds=max_iterations
    )


def _smallest_neighbour_label(edges: ir.Table, labelled: ir.Table) -> ir.Table:
    """``(a, m)``: each node's smallest label among its neighbours in ``labelled``
    ``(c_node, c_label)``, through the edges in both directions."""
    to_a = edges.join(labelled, edges.b == labelled.c_node).select(n="a", m="c_label")
    to_b = edges.join(labelled, edges.a == labelled.c_node).select(n="b", m="c_label")
    nb = ibis.union(to_a, to_b, distinct=False)
    return nb.group_by(a=nb.n).agg(m=nb.m.min())


def split_around_anchors(
    labels: ir.Table,
    node_types: ir.Table,
    edge_table: ir.Table,
    caps: dict[str, int],
    anchor_types: tuple[str, ...],
    scratch: Scratch,
    *,
    max_iterations: int = 50,
) -> tuple[ir.Table, ir.Table]:
    """Split components holding more anchors of a type than its cap allows.

    In such a component the first over-cap anchor type (in ``anchor_types`` order) seeds
    the split: every identifier joins its nearest seed (fewest hops; ties to the smallest
    seed), by multi-source breadth-first search, one Ibis expression per hop.

    Returns:
        (``(node, label)`` for every node, ``(node, cut_type, component)`` of the split components).
    """
    nt = node_types.select(t_node="node", id_type="id_type")
    typed = labels.join(nt, labels.node == nt.t_node)
    counts = typed.group_by(["label", "id_type"]).agg(n=typed.node.count())
    over = None
    for t in anchor_types:
        cap = caps.get(t)
        if cap is None:
            continue
        cond = (counts.id_type == t) & (counts.n > cap)
        over = cond if over is None else over | cond
    if over is None:
        return labels, labels.select(
            node="node", cut_type=ibis.null("string"), component="label"
        ).limit(0)
    rank = ibis.cases(*((counts.id_type == t, i) for i, t in enumerate(anchor_types)), else_=99)
    bad = counts.filter(over).mutate(rank=rank)
    bad = bad.mutate(best=bad.rank.min().over(group_by="label")).filter(ibis._.rank == ibis._.best)
    bad = scratch.keep(bad.select(b_label="label", cut_type="id_type"))
    if int(bad.count().to_pyarrow().as_py()) == 0:
        return labels, labels.select(
            node="node", cut_type=ibis.null("string"), component="label"
        ).limit(0)
    members = scratch.keep(
        typed.join(bad, typed.label == bad.b_label).select(
            "node", "id_type", "cut_type", component="label"
        )
    )
    assigned = scratch.keep(
        members.filter(members.id_type == members.cut_type).select(node="node", label="node")
    )
    inside = members.select(m_node="node")
    # directed, both ways, within the split components only
    e = edge_table.select("a", "b")
    edges = scratch.keep(ibis.union(
        e.join(inside, e.a == inside.m_node).select("a", "b"),
        e.join(inside, e.b == inside.m_node).select(a="b", b="a"),
        distinct=False,
    ))
    for _ in range(max_iterations):
        al = assigned.select(n="node", nl="label")
        reach = edges.join(al, edges.b == al.n)
        new = reach.anti_join(assigned, reach.a == assigned.node).group_by("a").agg(label=ibis._.nl.min())
        new = scratch.keep(new.select(node="a", label="label"))
        if int(new.count().to_pyarrow().as_py()) == 0:
            break
        assigned = scratch.keep(ibis.union(assigned, new, distinct=False))
    split = members.select("node", "cut_type", "component")
    rest = labels.anti_join(split, labels.node == split.node)
    final = ibis.union(rest, assigned.select("node", "label"), distinct=False)
    return final, split
