"""Identity edges as Ibis expressions: who was seen with whom, and which guard rail cuts.

Every source row (an event, a CRM row, a site, a card, a verbatim) yields one
*occurrence* per identifier it carries. Identifiers in the same row are linked
(identify and alias calls, co-occurrence in any event, reference data). Identifiers are
graph nodes named ``<id_type>:<value>``; in the analytics zone the values are the
tenant's pseudonyms, so the graph holds no personal data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING

import ibis

from parcours.identity.rules import IdentityRules

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from parcours.workspace import Workspace

#: JSON keys of Segment traits / properties / context that carry linking identifiers.
JSON_KEYS: dict[str, dict[str, str]] = {
    "traits": {
        "email": "email",
        "phone": "phone",
        "customerNumber": "customer_number",
        "cardId": "card_id",
        "meterPoint": "meter_point",
    },
    "properties": {"customerNumber": "customer_number", "cardId": "card_id", "meterPoint": "meter_point"},
    "context": {"deviceId": "device_id"},
}

#: Reference tables: (table, identifier columns -> type, time column or None).
REFERENCE_SOURCES: dict[str, tuple[dict[str, str], str | None]] = {
    "customers": ({"customer_number": "customer_number", "email": "email", "phone": "phone"}, "updated_at"),
    "sites": ({"customer_number": "customer_number", "meter_point": "meter_point"}, None),
    "cards": ({"card_id": "card_id", "customer_number": "customer_number"}, "issued_at"),
    "verbatims": ({"user_id": "user_id", "author": "social_handle"}, "ts"),
}

#: Only these rows of a reference column carry the identifier (a verbatim's author is a
#: social handle on social posts; on advisor notes it is the advisor).
ONLY_WHEN = {("verbatims", "author"): lambda t: t.channel == "social"}

EVENT_COLUMNS = {"user_id": "user_id", "anonymous_id": "anonymous_id", "previous_id": "previous_id"}

_NULLISH = ("", "null", "true", "false")
_TS = "timestamp('UTC', 6)"


def json_value(column: ir.StringValue, key: str, engine: str = "duckdb") -> ir.StringValue:
    """A top-level-or-nested JSON string/number value by key, with a regex both engines run.

    A string value is read whole — commas, braces and escaped quotes included ("12, rue
    de la Paix") — and unescaped by the engine's JSON parser (``\\u00e9`` is "é": Python's
    ``json.dumps``, so the Segment Python SDK, escapes every non-ASCII letter); a number
    or a literal is read up to the next delimiter. Only texts holding the quoted key are
    searched (the regex could not match the others): a substring test costs far less
    than a regex search, and most texts lack most keys.

    The same as ``json_decode(json_raw(column, key), engine)``; a caller extracting from
    many rows materializes :func:`json_raw` first (the compiled expression names the raw
    text several times, and engines evaluate each occurrence: the regex ran six times).

    Args:
        engine: the table's backend name (``t.get_backend().name``): which JSON parser
            unescapes strings.
    """
    return json_decode(json_raw(column, key), engine)


def json_raw(column: ir.StringValue, key: str) -> ir.StringValue:
    """The JSON text of ``key``'s value (a string with its quotes), null where the text
    does not hold the quoted key (see :func:`json_value`)."""
    quoted = '"' + key + '"'
    pattern = re.escape(quoted) + r'\s*:\s*("(?:[^"\\]|\\.)*"|[^",}\s\]]*)'
    return ibis.ifelse(column.contains(quoted), column.re_extract(pattern, 1), ibis.null("string"))


def json_decode(raw: ir.StringValue, engine: str = "duckdb") -> ir.StringValue:
    """The value of a :func:`json_raw` text: a string unescaped, outer spaces stripped."""
    inner = raw.substr(1, raw.length() - 2)
    # a string the parser refuses (a raw tab, a bad escape: not from a JSON encoder) is
    # kept as written between its quotes; without a backslash there is nothing to
    # unescape, so the parser (the costly part) is skipped: its result is the same text
    parsed = ibis.coalesce(_json_string(ibis.literal('{"v":') + raw + ibis.literal("}"), engine), inner)
    text = ibis.ifelse(raw.contains("\\"), parsed, inner)
    value = ibis.ifelse(raw.startswith('"'), text, raw.nullif(""))
    return strip(value)


@ibis.udf.scalar.builtin(name="json_extract_string")
def _duckdb_json_string(doc: str, path: str) -> str:
    """DuckDB's JSON string extraction (run by the engine)."""
    raise NotImplementedError


@ibis.udf.scalar.builtin(name="json_valid")
def _duckdb_json_valid(doc: str) -> bool:
    """DuckDB's JSON validity test (run by the engine)."""
    raise NotImplementedError


@ibis.udf.scalar.builtin(name="get_json_object")
def _spark_json_string(doc: str, path: str) -> str:
    """Spark's JSON extraction (run by the engine; null for invalid JSON)."""
    raise NotImplementedError


def _json_string(doc: ir.StringValue, engine: str) -> ir.StringValue:
    """The string ``v`` of the one-key JSON object ``doc``, unescaped; null if ``doc`` is
    not valid JSON (DuckDB would raise; Spark's parser gives null)."""
    if engine == "pyspark":
        return _spark_json_string(doc, "$.v")
    if engine != "duckdb":
        raise ValueError(f"json_value has no JSON parser for engine {engine!r}")
    return ibis.ifelse(_duckdb_json_valid(doc), _duckdb_json_string(doc, "$.v"), ibis.null("string"))


def strip(value: ir.StringValue) -> ir.StringValue:
    """Leading and trailing whitespace removed, the same on every engine.

    Not Ibis' ``strip()``: on PySpark it compiles to ``TRIM(' \\t\\n\\r\\v\\f' FROM s)``
    and Spark reads ``\\v`` and ``\\f`` as the letters v and f, so a pseudonym ending in
    ``f`` lost its last character on Spark.
    """
    return value.re_replace(r"^\s+|\s+$", "")


def _clean(value: ir.StringValue) -> ir.StringValue:
    return ibis.ifelse(value.isin(_NULLISH), ibis.null("string"), value)


@dataclass(frozen=True)
class Rows:
    """One source's rows, wide: ``kind``, ``source``, ``ts`` (and ``row_key`` when asked
    for), then one column per identifier a row may carry (its value cleaned, null when
    the row lacks it); ``types`` maps each identifier column to its type."""

    table: ir.Table
    types: dict[str, str]


def sources(
    ws: Workspace, tenant: str, zone: str, rules: IdentityRules,
    keep: Callable[[ir.Table], ir.Table] | None = None,
    drop: Callable[[ir.Table], None] | None = None,
    *, row_key: bool = False,
) -> list[Rows]:
    """Every source with identifiers (events, then the reference tables) as :class:`Rows`.

    Args:
        keep: materializes a table (the resolution's scratch space); when given, the
            events are read once into their wide table (JSON values' raw texts first,
            one regex per key and row, then decoded), which is kept.
        drop: frees a table ``keep`` made that is no longer needed.
        row_key: add each row's key (``ev:<message_id>``, ``<table>:<key>``).
    """
    linking = set(rules.linking_types)
    out: list[Rows] = []
    ts_type = "timestamp('UTC', 6)"
    if ws.lake.exists(tenant, zone, "events"):
        ev = ws.table(tenant, "events", zone)
        engine = ev.get_backend().name
        ids, raws, types = _event_identifiers(ev, linking)
        # the JSON values' raw texts first (materialized: one regex per key and row), then
        # decoded; unmaterialized, the engine would run each regex several times
        base = ev.select(*(("message_id",) if row_key else ()), "type", "timestamp", **ids, **raws)
        if keep is not None:
            base = keep(base)
        key = {"row_key": ibis.literal("ev:") + base.message_id} if row_key else {}
        wide = base.select(
            **key,
            kind=ibis.cases(
                (base.type == "alias", "alias"), (base.type == "identify", "identify"),
                else_="cooccurrence",
            ),
            source=ibis.literal("events:") + base.type,
            ts=base.timestamp.cast(ts_type),
            **{k: _clean(base[k].cast("string")) for k in ids},
            **{k: _clean(json_decode(base[k], engine)) for k in raws},
        )
        if keep is not None:
            wide = keep(wide)
            if drop is not None:
                drop(base)
        out.append(Rows(wide, types))
    out += _reference_rows(ws, tenant, zone, linking, row_key=row_key)
    if not out:
        from parcours.identity.errors import IdentityError

        raise IdentityError(f"tenant {tenant!r} has no table with identifiers in the {zone} zone")
    return out


def unpivot(rows: Rows, *, row_key: bool = False) -> list[ir.Table]:
    """One table per identifier column: ``(row_key?, kind, source, id_type, value, ts)``,
    rows holding a value only."""
    t = rows.table
    key = ("row_key",) if row_key else ()
    return [
        t.select(
            *key, "kind", "source", id_type=ibis.literal(typ, "string"), value=t[col],
            ts=t.ts.cast(_TS),  # a table Spark kept (Parquet) reads back without its zone
        )
        .filter(ibis._.value.notnull())
        for col, typ in rows.types.items()
    ]


def populated(rows: Rows) -> Rows:
    """``rows`` without the identifier columns no row fills (one aggregate query): each
    column left costs a join to number it and a scan per column pair."""
    t = rows.table
    if not rows.types:
        return rows
    counts = t.aggregate(**{c: t[c].count() for c in rows.types}).to_pyarrow().to_pylist()[0]
    types = {c: typ for c, typ in rows.types.items() if counts[c]}
    drop = [c for c in rows.types if c not in types]
    return Rows(t.drop(*drop) if drop else t, types)


def identifier_values(
    ws: Workspace, tenant: str, zone: str, rules: IdentityRules,
    keep: Callable[[ir.Table], ir.Table] | None = None,
) -> ir.Table:
    """The distinct ``(id_type, value)`` of :func:`occurrences`, read more cheaply: no row
    keys, times or kinds, and each distinct JSON text decoded once.

    Args:
        keep: materializes a table; when given, the events' JSON texts are searched once
            (one regex per key and row) instead of once per key.
    """
    linking = set(rules.linking_types)
    parts: list[ir.Table] = []
    if ws.lake.exists(tenant, zone, "events"):
        ev = ws.table(tenant, "events", zone)
        engine = ev.get_backend().name
        ids, raws, types = _event_identifiers(ev, linking)
        for k, v in ids.items():
            parts.append(ev.select(id_type=ibis.literal(types[k], "string"), value=_clean(v.cast("string"))))
        base = ev.select(**raws)
        if keep is not None and raws:
            base = keep(base)
        for k in raws:
            texts = base.select(r=base[k]).filter(ibis._.r.notnull()).distinct()
            values = texts.select(
                id_type=ibis.literal(types[k], "string"), value=_clean(json_decode(texts.r, engine))
            )
            if keep is not None:
                # materialized: the union's null filter below would otherwise be pushed
                # under the distinct, decoding every row's text (in the filter, then again)
                values = keep(values)
            parts.append(values)
    parts += [
        p.select("id_type", "value")
        for rows in _reference_rows(ws, tenant, zone, linking) for p in unpivot(rows)
    ]
    if not parts:
        from parcours.identity.errors import IdentityError

        raise IdentityError(f"tenant {tenant!r} has no table with identifiers in the {zone} zone")
    u = ibis.union(*parts, distinct=False)
    return u.filter(u.value.notnull()).distinct()


def _event_identifiers(
    ev: ir.Table, linking: set[str]
) -> tuple[dict[str, ir.Value], dict[str, ir.Value], dict[str, str]]:
    """An events table's identifier columns: plain ones, JSON values' raw texts
    (:func:`json_raw`), and each one's identifier type."""
    types: dict[str, str] = {}
    ids: dict[str, ir.Value] = {}
    for col, typ in EVENT_COLUMNS.items():
        if typ in linking:
            ids[f"c_{col}"], types[f"c_{col}"] = ev[col], typ
    raws: dict[str, ir.Value] = {}
    for col, keys in JSON_KEYS.items():
        for jkey, typ in keys.items():
            if typ in linking:
                raws[f"j_{col}_{jkey}"], types[f"j_{col}_{jkey}"] = json_raw(ev[col], jkey), typ
    return ids, raws, types


def _reference_rows(
    ws: Workspace, tenant: str, zone: str, linking: set[str], *, row_key: bool = False
) -> list[Rows]:
    """The reference tables (customers, sites, cards, verbatims) as :class:`Rows`."""
    from parcours.events import spec

    out: list[Rows] = []
    ts_type = "timestamp('UTC', 6)"
    for table, (ref_cols, ts_col) in REFERENCE_SOURCES.items():
        if not ws.lake.exists(tenant, zone, table):
            continue
        t = ws.table(tenant, table, zone)
        cols: dict[str, ir.Value] = {}
        types: dict[str, str] = {}
        for i, (col, typ) in enumerate(ref_cols.items()):
            if typ not in linking:
                continue
            value = t[col]
            cond = ONLY_WHEN.get((table, col))
            if cond is not None:
                value = ibis.ifelse(cond(t), value, ibis.null("string"))
            cols[f"r{i}"], types[f"r{i}"] = _clean(value.cast("string")), typ
        if not cols:
            continue
        key: dict[str, ir.Value] = {}
        if row_key:
            k: ir.Value = ibis.literal(table + ":")
            for i, c in enumerate(spec(table).key):
                k = k + (ibis.literal("|") if i else ibis.literal("")) + t[c].cast("string")
            key["row_key"] = k
        kind = "reference" if table != "verbatims" else "cooccurrence"
        wide = t.select(
            **key, kind=ibis.literal(kind, "string"), source=ibis.literal(table, "string"),
            ts=t[ts_col].cast(ts_type) if ts_col else ibis.null(ts_type),
            **cols,
        )
        out.append(Rows(wide, types))
    return out


def nodes(occ: ir.Table) -> ir.Table:
    """Distinct identifiers with first/last seen and occurrence counts.

    Each gets an integer id ``nid`` (its rank by ``(id_type, value)``, which is its rank
    by name ``<id_type>:<value>`` since type names hold only letters and underscores) and
    ``vid`` (the smallest ``nid`` with the same value, shared by identifiers of different
    types with that value): the graph works on integers, which keeps joins fast and
    intermediate tables small. Ranks are the same on every engine, so the smallest ``nid``
    of a component is its smallest name.
    """
    n = occ.group_by(["id_type", "value"]).agg(
        first_seen=occ.ts.min(), last_seen=occ.ts.max(), occurrences=occ.count()
    )
    n = n.mutate(nid=ibis.row_number().over(order_by=["id_type", "value"]).cast("int64"))
    # vid by an aggregate over the values held twice or more, not a window partitioned by
    # value (which sorts every value): almost every value has one identifier
    v = n.group_by("value").agg(_vid=n.nid.min(), _k=n.count())
    v = v.filter(v._k > 1).select(_value="value", _vid="_vid")
    j = n.left_join(v, n.value == v._value)
    return j.select(
        *n.columns, node=j.id_type + ":" + j.value, vid=ibis.coalesce(j._vid, j.nid),
    )


def numbered(occ: ir.Table, node_table: ir.Table) -> ir.Table:
    """Occurrences by node id: ``(row_key, nid, kind, source, ts)``; passes through
    occurrences that already carry ``nid``."""
    if "nid" in occ.columns:
        return occ.select("row_key", "nid", "kind", "source", "ts")
    nn = node_table.select(_t="id_type", _v="value", nid="nid")
    return occ.join(nn, (occ.id_type == nn._t) & (occ.value == nn._v)).select(
        "row_key", "nid", "kind", "source", "ts"
    )


def pairs(occ: ir.Table, node_table: ir.Table, rules: IdentityRules) -> ir.Table:
    """Undirected edges ``a < b`` (node ids) per kind and source, with counts and dates:
    identifiers in the same row (a self-join of the occurrences on their row key), plus
    same-value links. The reference for :func:`row_pairs`, which the resolution uses.

    Args:
        occ: occurrences, by value or already :func:`numbered`.
    """
    o = numbered(occ, node_table)
    a = o.select(row_key="row_key", a="nid", kind="kind", source="source", ts="ts")
    b = o.select(row_key2="row_key", b="nid")
    co = a.join(b, a.row_key == b.row_key2).filter(ibis._.a < ibis._.b)
    return _with_same_value(_linked_in_rows(co), node_table, rules)


def numbered_rows(rows: Rows, node_table: ir.Table) -> Rows:
    """``rows`` with each identifier column replaced by its node id (``int64``): one join
    per column, with the identifiers of that column's type only."""
    t = rows.table
    for i, (col, typ) in enumerate(rows.types.items()):
        n = node_table.filter(node_table.id_type == typ).select(**{f"_v{i}": "value", f"_n{i}": "nid"})
        t = t.left_join(n, t[col] == n[f"_v{i}"]).drop(col, f"_v{i}").rename({col: f"_n{i}"})
    return Rows(t, rows.types)


def row_pairs(rows: list[Rows], node_table: ir.Table, rules: IdentityRules) -> ir.Table:
    """:func:`pairs` from :func:`numbered_rows`: the identifiers of each row paired
    column by column (no self-join on a row key: ~4 join rows per edge at 10 M edges).

    A row's two columns holding one identifier make no pair, and a pair seen in several
    column pairs of one row counts once per column pair, as in the self-join.
    """
    parts = []
    for r in rows:
        t = r.table
        for x, y in combinations(r.types, 2):
            parts.append(t.filter(t[x].notnull() & t[y].notnull() & (t[x] != t[y])).select(
                a=ibis.least(t[x], t[y]), b=ibis.greatest(t[x], t[y]),
                kind="kind", source="source", ts=t.ts.cast(_TS),
            ))
    if not parts:  # no row carries two identifier columns: only same-value links
        empty = node_table.select(
            a="nid", b="nid", kind=ibis.literal("", "string"), source=ibis.literal("", "string"),
            ts=ibis.null("timestamp('UTC', 6)"),
        ).limit(0)
        parts.append(empty)
    return _with_same_value(_linked_in_rows(ibis.union(*parts, distinct=False)), node_table, rules)


def _linked_in_rows(co: ir.Table) -> ir.Table:
    return co.group_by(["a", "b", "kind", "source"]).agg(
        occurrences=co.count(), first_seen=co.ts.min(), last_seen=co.ts.max()
    )


def _with_same_value(co: ir.Table, node_table: ir.Table, rules: IdentityRules) -> ir.Table:
    """``co`` and the same-value links: a ``user_id`` or ``previous_id`` to every
    identifier of another type with its value."""
    same = node_table.filter(node_table.id_type.isin(list(rules.same_value_types))).select(
        s_nid="nid", s_vid="vid"
    )
    other = node_table.select(o_nid="nid", o_vid="vid")
    sv = same.join(other, same.s_vid == other.o_vid).filter(ibis._.s_nid != ibis._.o_nid)
    sv = sv.select(
        a=ibis.least(sv.s_nid, sv.o_nid), b=ibis.greatest(sv.s_nid, sv.o_nid)
    ).distinct()
    sv = sv.select(
        "a", "b", kind=ibis.literal("same_value"), source=ibis.literal("values"),
        occurrences=ibis.literal(1, "int64"),
        first_seen=ibis.null(co.first_seen.type()), last_seen=ibis.null(co.last_seen.type()),
    )
    return ibis.union(co, sv, distinct=False)


def distinct_pairs(pair_table: ir.Table) -> ir.Table:
    """The pairs ``(a, b)`` of ``pair_table``, each once (a pair seen in several kinds or
    sources is one neighbour): what :func:`shared_nodes` and :func:`linked_pairs` read,
    materialized once by the resolution."""
    return pair_table.select("a", "b").distinct()


def shared_nodes(pairs_ab: ir.Table, node_table: ir.Table, rules: IdentityRules) -> ir.Table:
    """Identifiers the guard rails cut from the graph: ``(node, cut_by, degree)``.

    Args:
        pairs_ab: :func:`distinct_pairs` (each pair once).

    Counts, not distinct counts: the neighbour pairs are distinct, and within one type
    distinct identifiers have distinct values.

    No join of the pairs with the identifiers: a neighbour's type is read from its id
    (ids are ranked by type first, so each type holds one range of ids, see
    :func:`nodes`), and the few pairs of identifiers holding the same value (a user id
    that is also a customer number) are flagged from the identifiers alone.
    """
    p = pairs_ab.select("a", "b")
    same = same_value_pairs(node_table).select(s_a="a", s_b="b", s_same="same")
    p = p.left_join(same, (p.a == same.s_a) & (p.b == same.s_b)).select(
        "a", "b", same=ibis.coalesce(ibis._.s_same, False)
    )
    d = ibis.union(p, p.select(a="b", b="a", same="same"), distinct=False)
    ranges = type_ranges(node_table)
    aggs: dict[str, ir.Value] = {"degree": d.count()}
    for t in rules.max_anchor_neighbors:
        if t not in ranges:
            aggs[f"n_{t}"] = ibis.literal(0, "int64")
            continue
        lo, hi = ranges[t]
        aggs[f"n_{t}"] = ibis.cases(((d.b >= lo) & (d.b <= hi) & ~d.same, 1), else_=0).sum()
    return cut_nodes(d.group_by("a").agg(**aggs), rules)


def cut_nodes(stats: ir.Table, rules: IdentityRules) -> ir.Table:
    """The guard rails' verdict on neighbour counts ``(a, degree, n_<type>…)``: the
    identifiers cut, ``(node, cut_by, degree)``."""
    cases = [(stats.degree > rules.max_degree, ibis.literal("max_degree"))]
    for t, cap in rules.max_anchor_neighbors.items():
        cases.append((stats[f"n_{t}"] > cap, ibis.literal(f"shared_identifier:{t}")))
    cut_by = ibis.cases(*cases, else_=ibis.null("string"))
    return stats.mutate(cut_by=cut_by).filter(ibis._.cut_by.notnull()).select(
        node="a", cut_by="cut_by", degree=ibis._.degree.cast("int64")
    )


def type_ranges(node_table: ir.Table) -> dict[str, tuple[int, int]]:
    """Each identifier type's ``(smallest, largest)`` node id (one query; a few rows)."""
    r = node_table.group_by("id_type").agg(lo=node_table.nid.min(), hi=node_table.nid.max())
    return {row["id_type"]: (int(row["lo"]), int(row["hi"])) for row in r.to_pyarrow().to_pylist()}


def same_value_pairs(node_table: ir.Table) -> ir.Table:
    """``(a, b, same=True)``, ``a < b``: identifiers of different types with one value.

    Only values held by several identifiers take part (``nid != vid`` marks all but the
    first of them, ``vid`` is the first), so the self-join stays small.
    """
    n = node_table.select("nid", "vid")
    dup = n.filter(n.nid != n.vid)
    firsts = n.semi_join(dup, n.nid == dup.vid)
    held = ibis.union(dup, firsts, distinct=False)
    x = held.select(x_nid="nid", x_vid="vid")
    y = held.select(y_nid="nid", y_vid="vid")
    j = x.join(y, (x.x_vid == y.y_vid) & (x.x_nid < y.y_nid))
    return j.select(a="x_nid", b="y_nid", same=ibis.literal(True))


def edges(pair_table: ir.Table, shared: ir.Table) -> ir.Table:
    """Edges with ``cut_by`` set when an end is a shared identifier."""
    sa = shared.select(sa="node", cut_a="cut_by")
    sb = shared.select(sb="node", cut_b="cut_by")
    e = pair_table.left_join(sa, pair_table.a == sa.sa).left_join(sb, ibis._.b == sb.sb)
    return e.select(
        "a", "b", "kind", "source",
        occurrences=e.occurrences.cast("int64"),
        first_seen="first_seen", last_seen="last_seen",
        cut_by=ibis.coalesce(e.cut_a, e.cut_b),
    )


def linked_pairs(pairs_ab: ir.Table, shared: ir.Table) -> ir.Table:
    """The graph to resolve: the uncut edges ``(a, b)``, ``a < b``, each once.

    Args:
        pairs_ab: :func:`distinct_pairs`.
        shared: :func:`shared_nodes` (an edge is cut when an end is shared, see
            :func:`edges`).

    One direction only: :func:`parcours.identity.graph.components` reads both from it
    (listing both directions cost a 20 M-row table at 10 M edges).
    """
    sa = shared.select(sa="node")
    sb = shared.select(sb="node")
    return pairs_ab.anti_join(sa, pairs_ab.a == sa.sa).anti_join(sb, ibis._.b == sb.sb).select("a", "b")
