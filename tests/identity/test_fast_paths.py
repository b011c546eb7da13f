"""The resolution's fast paths give what the plain expressions give."""

from __future__ import annotations

import json

import pytest

from parcours.identity import resolve
from parcours.identity.attributes import profile_events, traits
from parcours.identity.graph import Scratch
from tests.identity import world


def test_traits_extracted_once_equal_traits_extracted_per_trait(workspace):
    ws = workspace
    world.build(ws)
    # traits the CRM lacks, several identify calls per person (the latest wins), a value
    # with spaces and a comma, a key written with spaces around its colon, and a tie
    ws.write("energie", "events", world.events_table([
        world.event(type="identify", user_id="C003", traits={"city": "Lyon", "postalCode": "69001"},
                    minutes=20),
        world.event(type="identify", user_id="C003", traits={"city": " Paris, France "}, minutes=21),
        world.event(type="identify", user_id="C004", traits={"lastName": "Roux", "address": "1 rue A"},
                    minutes=22),
        world.event(type="identify", user_id="C004", traits={"address": "2 rue B"}, minutes=22),
    ]))
    ws.write("energie", "events", world.events_table([
        {**world.event(type="identify", user_id="C001", minutes=23),
         "traits": '{"city" :  "Nantes", "firstName":"Anne-Marie"}'},
    ]))
    resolve(ws, "energie")
    con = ws.engine.con
    for zone in ("analytics", "raw"):
        scratch = Scratch(con)
        try:
            events = scratch.keep(profile_events(ws, "energie", zone))
            fast = traits(ws, "energie", zone, events, keep=scratch.keep)
            plain = traits(ws, "energie", zone, events)
        finally:
            scratch.release()
        assert fast.to_pylist() == plain.to_pylist()
        got = {r["profile_id"]: json.loads(r["traits"]) for r in fast.to_pylist()}
        assert len(got) == 4
    # the raw zone's values, checked by hand: latest identify value per trait, CRM first
    by_last = {t["lastName"]: t for t in got.values()}
    chloe = next(t for t in got.values() if t.get("firstName") == "Chloé")
    # a string value is read whole (its comma too), its outer spaces stripped
    assert chloe["city"] == "Paris, France" and chloe["postalCode"] == "69001"
    anne = by_last["Martin"]
    assert anne["firstName"] == "Anne" and anne["city"] == "Nantes"  # the CRM's name wins
    david = next(t for t in got.values() if t.get("firstName") == "David")
    assert david["address"] == "1 rue A"  # a tie on time: the smallest value


def _shared_by_joins(pair_table, node_table, rules):
    """The guard rails as they were written before the id-range fast path: each pair
    joined with both identifiers for their types and values (the reference)."""
    import ibis

    from parcours.identity.edges import cut_nodes

    p = pair_table.select("a", "b").distinct()
    d = ibis.union(p, p.select(a="b", b="a"), distinct=False)
    nb = node_table.select(b_nid="nid", b_type="id_type", b_vid="vid")
    na = node_table.select(a_nid="nid", a_vid="vid")
    d = d.join(nb, d.b == nb.b_nid).join(na, ibis._.a == na.a_nid)
    aggs = {"degree": d.count()}
    for t in rules.max_anchor_neighbors:
        aggs[f"n_{t}"] = ibis.cases(((d.b_type == t) & (d.b_vid != d.a_vid), 1), else_=0).sum()
    return cut_nodes(d.group_by("a").agg(**aggs), rules)  # the verdict is not what differs


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_guard_rails_by_id_ranges_equal_guard_rails_by_joins(workspace, seed):
    import ibis
    import numpy as np
    import pyarrow as pa

    from parcours.identity.edges import distinct_pairs, nodes, pairs, shared_nodes
    from parcours.identity.rules import IdentityRules

    rng = np.random.default_rng(seed)
    types = ["anonymous_id", "card_id", "customer_number", "email", "user_id"]
    n = 400
    # values drawn from a small pool, so that many identifiers of different types share
    # one (a user id that is a customer number); rows of 2-4 identifiers, some hubs
    node_types = rng.choice(types, n)
    node_values = np.array([f"v{int(x)}" for x in rng.integers(0, 250, n)])
    rows = []
    for r in range(900):
        k = int(rng.integers(2, 5))
        members = rng.integers(0, 30, k) if r % 7 == 0 else rng.integers(0, n, k)
        rows += [(f"r{r}", str(node_types[m]), str(node_values[m])) for m in members]
    occ = ibis.memtable(pa.table({
        "row_key": [r for r, _, _ in rows], "id_type": [t for _, t, _ in rows],
        "value": [v for _, _, v in rows], "kind": ["cooccurrence"] * len(rows),
        "source": ["events:track"] * len(rows),
        "ts": pa.array([None] * len(rows), pa.timestamp("us", tz="UTC")),
    }))
    rules = IdentityRules(
        max_anchor_neighbors={"customer_number": 1, "user_id": 2, "card_id": 3, "phone": 1},
        max_degree=12,
    )
    con = workspace.engine.con
    scratch = Scratch(con)
    try:
        node_t = scratch.keep(nodes(occ))
        pair_t = scratch.keep(pairs(occ, node_t, rules))
        got = shared_nodes(distinct_pairs(pair_t), node_t, rules).to_pyarrow().to_pylist()
        want = _shared_by_joins(pair_t, node_t, rules).to_pyarrow().to_pylist()
        same_value = int(pair_t.filter(pair_t.kind == "same_value").count().to_pyarrow().as_py())
    finally:
        scratch.release()
    key = lambda r: r["node"]  # noqa: E731
    assert sorted(got, key=key) == sorted(want, key=key)
    # the case is not trivial: several rules cut, and same-value links exist
    assert same_value > 20
    assert {r["cut_by"] for r in want} >= {"max_degree", "shared_identifier:user_id"}
    assert len(want) > 10


@pytest.mark.parametrize("key", [b"k" * 32, b"k" * 64, b"k" * 65, bytes(range(256))[::3]])
def test_bulk_pseudonyms_equal_pseudonyms(key):
    """The raw map's DuckDB HMAC gives exactly the per-value HMAC: around the 64-byte
    block size, on non-ASCII and escape-looking text, and in input order over many rows
    (several DuckDB threads)."""
    import pyarrow as pa

    from parcours.privacy.keys import TenantSecret
    from parcours.privacy.pseudonymize import pseudonym, pseudonymize_array, pseudonymize_array_bulk

    secret = TenantSecret("energie", key)
    odd = ["é", "", None, "a\\x41b", "\x00z", "Zoë ✓", "x" * 300]
    values = pa.chunked_array([odd, [f"+336{i:08d}" for i in range(200_000)][::-1]])
    got = pseudonymize_array_bulk(secret, values)
    assert got.equals(pseudonymize_array(secret, values))
    assert got[0].as_py() == pseudonym(secret, "é") and got[2].as_py() is None


@pytest.mark.parametrize("seed", [1, 2])
def test_pairs_by_columns_equal_pairs_by_row_self_join(workspace, seed):
    """Pairing a wide row's numbered columns gives the self-join of its occurrences on
    the row key: the same edges, counts and dates (a row holding one identifier in two
    columns, empty columns and rows of one identifier included)."""
    import ibis
    import numpy as np
    import pyarrow as pa

    from parcours.identity.edges import (
        Rows,
        nodes,
        numbered_rows,
        pairs,
        populated,
        row_pairs,
        unpivot,
    )
    from parcours.identity.rules import IdentityRules

    rng = np.random.default_rng(seed)
    cols = {"c0": "user_id", "c1": "anonymous_id", "c2": "email", "c3": "customer_number", "c4": "email"}
    n = 600
    pool = [f"v{i}" for i in range(120)]  # shared values across types: same-value links too
    data = {c: [str(rng.choice(pool)) if rng.random() < 0.6 else None for _ in range(n)] for c in cols}
    data["c4"] = [data["c2"][i] if i % 5 == 0 else v for i, v in enumerate(data["c4"])]  # one email twice
    data["c5"] = [None] * n  # a column no row fills
    t0 = np.datetime64("2025-01-01T00:00:00", "us").astype(np.int64)
    wide = ibis.memtable(pa.table({
        "row_key": [f"r{i}" for i in range(n)],
        "kind": [str(rng.choice(["identify", "cooccurrence"])) for _ in range(n)],
        "source": [str(rng.choice(["events:identify", "events:track"])) for _ in range(n)],
        "ts": pa.array(t0 + rng.integers(0, 10**9, n), pa.timestamp("us", tz="UTC")),
        **{c: pa.array(v, pa.string()) for c, v in data.items()},
    }))
    rows = Rows(wide, {**cols, "c5": "phone"})
    rules = IdentityRules()
    scratch = Scratch(workspace.engine.con)
    try:
        occ = ibis.union(*unpivot(rows, row_key=True), distinct=False)
        node_t = scratch.keep(nodes(occ))
        want = pairs(occ, node_t, rules).to_pyarrow().to_pylist()
        numbered = populated(rows)
        assert "c5" not in numbered.types and "c5" not in numbered.table.columns
        got = row_pairs([numbered_rows(numbered, node_t)], node_t, rules).to_pyarrow().to_pylist()
    finally:
        scratch.release()
    key = lambda r: (r["a"], r["b"], r["kind"], r["source"])  # noqa: E731
    assert sorted(got, key=key) == sorted(want, key=key)
    assert any(r["occurrences"] > 1 for r in want) and any(r["kind"] == "same_value" for r in want)
