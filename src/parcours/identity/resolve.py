"""Resolution: edges -> guard rails -> components -> stable profile ids -> lake tables.

The graph is resolved once per tenant over the *analytics* zone (identifiers are
pseudonyms there, so the graph and its explanations hold no personal data). The raw
zone's identity map is the same map keyed by the raw values: each raw identifier is
pseudonymized with the tenant secret and looked up, so both zones give every person the
same profile id.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import ibis
import pyarrow as pa
import pyarrow.compute as pc

from parcours.identity import edges as E
from parcours.identity.errors import IdentityError
from parcours.identity.graph import Scratch, components, split_around_anchors
from parcours.identity.ids import assign_ids
from parcours.identity.rules import IdentityRules

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from parcours.progress import Progress
    from parcours.workspace import Workspace

ZONE = "analytics"


@dataclass
class ResolveResult:
    """What one resolution did."""

    tenant: str
    engine: str
    incremental: bool
    rounds: int
    identifiers: int
    edges: int
    cut_edges: int
    shared_identifiers: int
    split_components: int
    profiles: int
    merges: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    #: seconds per phase: graph (edges, guard rails, components, ids), maps, profiles, serving
    timings: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        mode = "incremental" if self.incremental else "full"
        return (
            f"{self.tenant}: {self.profiles} profiles from {self.identifiers} identifiers and "
            f"{self.edges} edges ({mode}, {self.rounds} rounds on {self.engine}, {self.seconds:.1f}s); "
            f"guard rails: {self.shared_identifiers} shared identifiers, {self.cut_edges} edges cut, "
            f"{self.split_components} over-merged components split; {len(self.merges)} merges"
        )


def _count(t: ir.Table) -> int:
    return int(t.count().to_pyarrow().as_py())


def _previous(ws: Workspace, tenant: str) -> tuple[ir.Table | None, ir.Table | None, set[str]]:
    if not (
        ws.lake.exists(tenant, ZONE, "identity_map") and ws.lake.exists(tenant, ZONE, "profiles")
    ):
        return None, None, set()
    m = ws.table(tenant, "identity_map", ZONE)
    linked = m.filter(m.status == "linked").select(
        node=m.id_type + ":" + m.identifier, profile_id=m.profile_id
    )
    shared = m.filter(m.status == "shared").select(node=m.id_type + ":" + m.identifier).distinct()
    shared_set = set(shared.to_pyarrow().column("node").to_pylist())
    p = ws.table(tenant, "profiles", ZONE)
    live = p.filter(p.merged_into.isnull()).select("profile_id", "created_at")
    if _count(linked) == 0:
        return None, None, shared_set
    return linked, live, shared_set


def resolve(
    ws: Workspace,
    tenant: str,
    *,
    rules: IdentityRules | None = None,
    incremental: bool = True,
    run_at: dt.datetime | None = None,
    serve: bool = True,
    progress: Progress | None = None,
) -> ResolveResult:
    """Resolve a tenant's identities and write ``identity_edges``, ``identity_map`` and
    ``profiles`` (both zones), then refresh the serving store.

    Args:
        incremental: start from the previous run's components (new edges only add work);
            falls back to a full run when the guard rails cut a different set of
            identifiers than last time (a cut can split an old component).
        run_at: the run's timestamp (new profiles' ``created_at``); default now.
        serve: refresh the serving store (360 view) afterwards.

    Example:
        >>> from parcours.identity import resolve
        >>> resolve(ws, "energie").profiles          # doctest: +SKIP
        2981
    """
    ws.require_tenant(tenant)
    rules = rules or IdentityRules()
    run_at = run_at or dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    report = progress or (lambda step, done, total: None)
    scratch = _scratch(ws, run_at)
    try:
        report("identity: edges", 0, 4)
        # each source is read once into a wide table (one column per identifier), numbered
        # column by column, and its rows' identifiers paired column by column
        wide: list[ir.Table] = []
        rows = E.sources(
            ws, tenant, ZONE, rules, keep=lambda t: _kept(scratch, t, wide), drop=scratch.drop
        )
        occ = ibis.union(*(p for r in rows for p in E.unpivot(r)), distinct=False)
        node_t = scratch.keep(E.nodes(occ))
        rows = [E.populated(r) for r in rows]
        rows = [E.Rows(scratch.keep(E.numbered_rows(r, node_t).table), r.types) for r in rows]
        for t in wide:
            scratch.drop(t)
        report("identity: edges", 1, 4)
        pair_t = scratch.keep(E.row_pairs(rows, node_t, rules))
        for r in rows:
            scratch.drop(r.table)
        ab = scratch.keep(E.distinct_pairs(pair_t))  # read twice: by the guard rails, by the graph
        shared = scratch.keep(E.shared_nodes(ab, node_t, rules))
        report("identity: edges", 2, 4)
        edge_t = scratch.keep(E.edges(pair_t, shared))
        scratch.drop(pair_t)  # scratch lives in DuckDB's memory budget: drop what is done
        linked = scratch.keep(E.linked_pairs(ab, shared))
        scratch.drop(ab)
        report("identity: edges", 3, 4)
        linking = node_t.anti_join(shared, node_t.nid == shared.node).select(node="nid")
        prev_names, prev_profiles, prev_shared = _previous(ws, tenant)
        names = node_t.select(_name="node", _nid="nid")
        shared_set = set(
            shared.join(names, shared.node == names._nid).select("_name").to_pyarrow().column(0).to_pylist()
        )
        prev_map = None
        if prev_names is not None:
            prev_map = scratch.keep(
                prev_names.join(names, prev_names.node == names._name).select(
                    node="_nid", profile_id="profile_id"
                )
            )
        start = None
        use_incremental = incremental and prev_map is not None and shared_set == prev_shared
        if use_incremental and prev_map is not None:
            start = prev_map.group_by("profile_id").mutate(label=prev_map.node.min()).select(
                "node", "label"
            )
            start = scratch.keep(start)
        report("identity: edges", 4, 4)
        labels, rounds = components(
            linking, linked, scratch, start=start, max_iterations=rules.max_iterations,
            progress=progress,
        )
        labels, split = split_around_anchors(
            labels, node_t.select(node="nid", id_type="id_type"), linked, rules.max_per_profile, rules.anchor_types, scratch,
            max_iterations=rules.max_iterations,
        )
        labels = scratch.keep(labels)
        split = scratch.keep(split)
        scratch.drop(linked)
        assignment, merges = assign_ids(labels, prev_map, prev_profiles, run_at)
        assignment = scratch.keep(assignment)
        node_profile = scratch.keep(
            labels.join(assignment, labels.label == assignment.label).select("node", "profile_id")
        )
        report("identity: outputs", 0, 3)
        n_split = _count(split.select("component").distinct())
        edge_out = _edges_with_cap_cuts(edge_t, node_profile, split if n_split else None)
        edges_arrow = _named_ends(edge_out.to_pyarrow(), _names_by_nid(node_t))
        # written and freed now: the largest output must not sit in memory beside the map
        ws.lake.overwrite(tenant, ZONE, "identity_edges", edges_arrow)
        n_edges = edges_arrow.num_rows
        cut = pc.sum(pc.is_valid(edges_arrow.column("cut_by"))).as_py() or 0
        del edges_arrow
        report("identity: outputs", 1, 3)
        map_arrow = _identity_map(node_t, shared, node_profile, edge_t).to_pyarrow()
        report("identity: outputs", 2, 3)
        merges_list = [
            (r["profile_id"], r["merged_into"]) for r in merges.to_pyarrow().to_pylist()
        ]
        created = assignment.select("profile_id", "created_at").to_pyarrow()
        report("identity: outputs", 3, 3)
    finally:
        scratch.release()

    timings = {"graph": time.perf_counter() - started}
    # the analytics map's Delta write (one core) runs beside the raw map's engine work
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parcours-map") as pool:
        written = pool.submit(ws.lake.overwrite, tenant, ZONE, "identity_map", map_arrow)
        raw_map = raw_identity_map(ws, tenant, map_arrow, rules)
        written.result()
    ws.lake.overwrite(tenant, "raw", "identity_map", raw_map)

    timings["maps"] = time.perf_counter() - started - sum(timings.values())
    report("identity: maps", 1, 1)
    from parcours.identity.profiles import build_profiles

    n_profiles = build_profiles(ws, tenant, created, merges_list, run_at, progress=progress)
    timings["profiles"] = time.perf_counter() - started - sum(timings.values())
    if serve:
        from parcours.identity.serving import refresh

        for zone in ("raw", "analytics"):
            refresh(ws, tenant, zone, progress=progress)
        timings["serving"] = time.perf_counter() - started - sum(timings.values())
    return ResolveResult(
        tenant=tenant,
        engine=ws.engine.kind,
        incremental=use_incremental,
        rounds=rounds,
        identifiers=int(pc.count_distinct(
            pc.binary_join_element_wise(map_arrow.column("id_type"), map_arrow.column("identifier"), ":")
        ).as_py()) if map_arrow.num_rows else 0,
        edges=n_edges,
        cut_edges=int(cut),
        shared_identifiers=len(shared_set),
        split_components=n_split,
        profiles=n_profiles,
        merges=merges_list,
        seconds=time.perf_counter() - started,
        timings={k: round(v, 3) for k, v in timings.items()},
    )


def _kept(scratch: Scratch, table: ir.Table, into: list[ir.Table]) -> ir.Table:
    kept = scratch.keep(table)
    into.append(kept)
    return kept


def _scratch(ws: Workspace, run_at: dt.datetime) -> Scratch:
    if ws.engine.kind == "spark":
        folder = ws.state_dir / "identity-scratch" / run_at.strftime("%Y%m%dT%H%M%S%f")
        folder.mkdir(parents=True, exist_ok=True)
        return Scratch(ws.engine.con, folder)
    return Scratch(ws.engine.con)


def _edges_with_cap_cuts(
    edge_t: ir.Table, node_profile: ir.Table, split: ir.Table | None
) -> ir.Table:
    """Edges by node id ``(a, b, …)``, with ``cut_by = max_per_profile:<type>`` where a
    split separated the ends (``split`` None: nothing was split, so every uncut edge joins
    two identifiers of one profile)."""
    cols = ("a", "b", "kind", "source", "occurrences", "first_seen", "last_seen")
    if split is None:
        return edge_t.select(*cols, "cut_by")
    a = node_profile.select(pa_node="node", pa_id="profile_id")
    b = node_profile.select(pb_node="node", pb_id="profile_id")
    s = split.select(s_node="node", cut_type="cut_type")
    e = (
        edge_t.left_join(a, edge_t.a == a.pa_node)
        .left_join(b, ibis._.b == b.pb_node)
        .left_join(s, ibis._.a == s.s_node)
    )
    cap_cut = ibis.ifelse(
        e.cut_by.isnull() & e.pa_id.notnull() & e.pb_id.notnull() & (e.pa_id != e.pb_id),
        ibis.literal("max_per_profile:") + e.cut_type.fill_null("anchor"),
        e.cut_by,
    )
    return e.select(*cols, cut_by=cap_cut)


def _names_by_nid(node_t: ir.Table) -> pa.Array:
    """Every identifier's name ``<id_type>:<value>``, at the position of its node id (ids
    are ranks, ``0 … n-1``)."""
    t = node_t.select("nid", "node").order_by("nid").to_pyarrow()
    nid = t.column("nid")
    if t.num_rows and (nid[0].as_py() != 0 or nid[-1].as_py() != t.num_rows - 1):
        raise IdentityError("node ids are not the ranks 0 … n-1")  # cannot happen: see edges.nodes
    return t.column("node").combine_chunks()


def _named_ends(edges: pa.Table, names: pa.Array) -> pa.Table:
    """``identity_edges`` rows: the integer ends ``a, b`` replaced by names ``src, dst``
    (an Arrow take: the engine joining 10 M edges with 5 M names twice cost more)."""
    src = pc.take(names, edges.column("a"))
    dst = pc.take(names, edges.column("b"))
    rest = edges.drop_columns(["a", "b"])
    return pa.table([src, dst, *rest.columns], names=["src", "dst", *rest.column_names])


def _identity_map(
    node_t: ir.Table, shared: ir.Table, node_profile: ir.Table, edge_t: ir.Table
) -> ir.Table:
    """Linked identifiers with their profile, and shared identifiers with each profile
    they were seen with."""
    np_ = node_profile.select(l_node="node", profile_id="profile_id")
    linked = node_t.join(np_, node_t.nid == np_.l_node).select(
        identifier="value", id_type="id_type", profile_id="profile_id",
        status=ibis.literal("linked"), first_seen="first_seen", last_seen="last_seen",
        occurrences=ibis._.occurrences.cast("int64"),
    )
    sh = shared.select(s_node="node")
    e = edge_t.select("a", "b")
    ends = ibis.union(
        e.join(sh, e.a == sh.s_node).select(s="a", o="b"),
        e.join(sh, e.b == sh.s_node).select(s="b", o="a"),
        distinct=False,
    )
    seen_with = ends.join(np_, ends.o == np_.l_node).select("s", "profile_id").distinct()
    shared_rows = seen_with.join(node_t, seen_with.s == node_t.nid).select(
        identifier="value", id_type="id_type", profile_id="profile_id",
        status=ibis.literal("shared"), first_seen="first_seen", last_seen="last_seen",
        occurrences=ibis._.occurrences.cast("int64"),
    )
    return ibis.union(linked, shared_rows, distinct=False)


def raw_identity_map(
    ws: Workspace, tenant: str, analytics_map: pa.Table, rules: IdentityRules
) -> pa.Table:
    """The raw zone's identity map: raw identifiers, pseudonymized to find their profile."""
    from parcours.privacy.pseudonymize import pseudonymize_array_bulk

    if not analytics_map.num_rows:
        return analytics_map
    scratch = _scratch(ws, dt.datetime.now(dt.UTC))
    try:
        raw = E.identifier_values(ws, tenant, "raw", rules, keep=scratch.keep).to_pyarrow()
    finally:
        scratch.release()
    # on the embedded engine's own DuckDB (its memory limit holds), else on a local one
    # over Arrow: several times faster than Arrow's hash join on two-string keys
    import uuid

    import duckdb

    own = ws.engine.kind != "duckdb"
    con = duckdb.connect(":memory:") if own else ws.engine.duckdb  # type: ignore[attr-defined]
    pseudo = pseudonymize_array_bulk(ws.keys.get(tenant), raw.column("value"), con)
    raw = pa.table({"id_type": raw.column("id_type"), "raw": raw.column("value"), "identifier": pseudo})
    m_name, r_name = (f"_parcours_{t}_{uuid.uuid4().hex}" for t in ("map", "raw"))
    try:
        con.register(m_name, analytics_map)
        con.register(r_name, raw)
        cols = ", ".join(f'm."{c}"' for c in analytics_map.column_names if c != "identifier")
        out = con.sql(
            f"SELECT {cols}, r.raw AS identifier FROM {m_name} m JOIN {r_name} r "
            "ON m.identifier = r.identifier AND m.id_type = r.id_type"
        ).to_arrow_table()
    finally:
        if own:
            con.close()
        else:
            con.unregister(m_name)
            con.unregister(r_name)
    return out
