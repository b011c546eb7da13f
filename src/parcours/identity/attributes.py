"""Resolved traits and computed attributes of profiles, as Ibis aggregations per zone.

Traits come from the CRM (``customers``, highest priority) then from identify calls'
traits (most recent first). Attributes are computed from everything the profile did.
Traits and activity are aggregated by the engine and written as JSON text by vectorized
Arrow string kernels (no per-profile Python: a resolution holds millions of profiles);
the domain's few reference rows per profile are dictionaries. Values in the analytics
zone are pseudonyms where the source holds identifiers.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parcours.identity.api import EVENT_KEYS, events_with_profiles, with_profiles
from parcours.identity.edges import json_decode, json_raw, json_value

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from parcours.workspace import Workspace

#: trait name -> CRM column (customers table)
CRM_TRAITS = {
    "firstName": "first_name", "lastName": "last_name", "email": "email", "phone": "phone",
    "address": "address", "postalCode": "postal_code", "city": "city", "segment": "segment",
    "customerNumber": "customer_number",
}
#: trait names read from identify calls
EVENT_TRAITS = ("firstName", "lastName", "email", "phone", "address", "postalCode", "city", "customerNumber")
SOURCE_PRIORITY = {"crm": 0, "identify": 1}
OPEN_COMPLAINT_DAYS = 90
#: events that close a complaint
_CLOSING = "complaint_(resolved|closed)"


def _linked(ws: Workspace, tenant: str, zone: str, id_type: str) -> ir.Table:
    m = ws.table(tenant, "identity_map", zone)
    return m.filter((m.status == "linked") & (m.id_type == id_type)).select(
        _ident="identifier", profile_id="profile_id"
    )


def _by_profile(expr: ir.Table) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in expr.to_pyarrow().to_pylist():
        out[row.pop("profile_id")].append(row)
    return out


def profile_events(ws: Workspace, tenant: str, zone: str) -> ir.Table:
    """The columns attributes need, of events that have a profile: one row per event.

    The profiles step does not read this (it joins only what it needs to the map:
    :func:`identify_events`, :func:`_per_channel`, :func:`_complaint_events`); it is the
    reference those are tested against, and what :func:`activity` takes as ``events``.
    """
    ev = events_with_profiles(ws, tenant, zone)
    return ev.filter(ev.profile_id.notnull()).select(
        "profile_id", "type", "channel", "event", "timestamp",
        traits=ibis.ifelse(ev.type == "identify", ev.traits, ibis.null("string")),
    )


def _profiled(ws: Workspace, tenant: str, zone: str, which: Callable[[ir.Table], ir.BooleanValue],
              columns: tuple[str, ...]) -> ir.Table:
    """``(profile_id, *columns)`` of the events ``which`` selects that have a profile,
    selected *before* the join with the map (which then reads only those)."""
    ev = ws.table(tenant, "events", zone)
    ev = with_profiles(ws, tenant, zone, ev.filter(which(ev)).select(*(c for c, _ in EVENT_KEYS), *columns))
    return ev.filter(ev.profile_id.notnull()).select("profile_id", *columns)


def identify_events(ws: Workspace, tenant: str, zone: str) -> ir.Table:
    """The identify calls with traits that have a profile (what :func:`traits` reads):
    a few percent of the events."""
    return _profiled(ws, tenant, zone, lambda ev: (ev.type == "identify") & ev.traits.notnull(),
                     ("type", "timestamp", "traits"))


def _per_channel(ws: Workspace, tenant: str, zone: str) -> ir.Table:
    """``(profile_id, channel, n, last, first)`` from the events aggregated per
    identifier and channel *before* the join with the map: the join then reads one row
    per (user id, cookie, channel) instead of one per event (100 M events are a few
    million such rows), and a second aggregation sums them per profile."""
    ev = ws.table(tenant, "events", zone)
    keys = [c for c, _ in EVENT_KEYS]
    agg = ev.group_by([*keys, "channel"]).agg(
        n=ev.count(), last=ev.timestamp.max(), first=ev.timestamp.min()
    )
    j = with_profiles(ws, tenant, zone, agg)
    j = j.filter(j.profile_id.notnull())
    return j.group_by(["profile_id", "channel"]).agg(n=j.n.sum(), last=j["last"].max(), first=j["first"].min())


def _complaint_events(ws: Workspace, tenant: str, zone: str) -> ir.Table:
    """The complaints and their closing events that have a profile (what
    :func:`_open_complaints` reads)."""
    return _profiled(ws, tenant, zone, lambda ev: (ev.channel == "complaint") | ev.event.re_search(_CLOSING),
                     ("channel", "event", "timestamp"))


def traits(
    ws: Workspace, tenant: str, zone: str, events: ir.Table | None = None,
    keep: Callable[[ir.Table], ir.Table] | None = None,
    drop: Callable[[ir.Table], None] | None = None,
) -> pa.Table:
    """Traits per profile: for each trait, the CRM value, else the latest identify value.

    Args:
        keep: materializes a table (the resolution's scratch space); when given, the
            identify calls' trait values are extracted from their JSON once, into one
            column per trait, before being unpivoted: the engine would otherwise run each
            extraction (a regex) in the filter on values and again in the projection.
        drop: frees a table ``keep`` made that is no longer needed.

    Returns:
        ``(profile_id, traits)``, ``traits`` a JSON object (traits in ``CRM_TRAITS`` order),
        for the profiles that have any.
    """
    ts_type = "timestamp('UTC', 6)"
    best: list[ir.Table] = []  # per source, in priority order: (profile_id, one column per trait)
    if ws.lake.exists(tenant, zone, "customers"):
        c = ws.table(tenant, "customers", zone)
        link = _linked(ws, tenant, zone, "customer_number")
        cj = c.join(link, c.customer_number == link._ident)
        crm = cj.select(
            "profile_id", ts=ibis.coalesce(cj.updated_at, cj.created_at).cast(ts_type),
            **{trait: cj[col].cast("string") for trait, col in CRM_TRAITS.items()},
        )
        best.append(_latest(crm, list(CRM_TRAITS)))
    if ws.lake.exists(tenant, zone, "events"):
        ev = events if events is not None else profile_events(ws, tenant, zone)
        ev = ev.filter((ev.type == "identify") & ev.traits.notnull())
        engine = ev.get_backend().name
        if keep is not None:  # raw texts first (one regex per trait and row), then decoded
            raw = keep(ev.select(
                "profile_id", ts=ev.timestamp.cast(ts_type),
                **{f"_t{i}": json_raw(ev.traits, trait) for i, trait in enumerate(EVENT_TRAITS)},
            ))
            wide = keep(raw.select(
                "profile_id", "ts",
                **{trait: json_decode(raw[f"_t{i}"], engine) for i, trait in enumerate(EVENT_TRAITS)},
            ))
            if drop is not None:
                drop(raw)
        else:
            wide = ev.select(
                "profile_id", ts=ev.timestamp.cast(ts_type),
                **{trait: json_value(ev.traits, trait, engine) for trait in EVENT_TRAITS},
            )
        best.append(_latest(wide, list(EVENT_TRAITS)))
    if not best:
        return pa.table({"profile_id": pa.array([], pa.string()), "traits": pa.array([], pa.string())})
    top = best[0]
    for other in best[1:]:  # a later source fills only what the sources before it lack
        o = other.rename(lambda c: f"_o_{c}")
        j = top.outer_join(o, top.profile_id == o._o_profile_id)

        def pick(c: str, j: ir.Table = j) -> ir.Value:
            vals = [j[n] for n in (c, f"_o_{c}") if n in j.columns]
            return ibis.coalesce(*vals) if len(vals) > 1 else vals[0]

        names = [c for c in CRM_TRAITS if c in j.columns or f"_o_{c}" in j.columns]
        top = j.select(profile_id=pick("profile_id"), **{c: pick(c) for c in names})
    t = top.to_pyarrow()
    members = [
        pc.if_else(pc.is_valid(t.column(trait)), pc.binary_join_element_wise(
            json.dumps(trait, ensure_ascii=False) + ": ", json_text(t.column(trait)), ""
        ), pa.nulls(t.num_rows, pa.string()))
        for trait in CRM_TRAITS if trait in t.column_names
    ]
    body = pc.binary_join_element_wise(*members, ", ", null_handling="skip")
    has = pc.is_valid(pc.coalesce(*(t.column(c) for c in CRM_TRAITS if c in t.column_names)))
    out = pa.table({
        "profile_id": t.column("profile_id"),
        "traits": pc.binary_join_element_wise("{", body, "}", ""),
    }).filter(has)
    return out.sort_by("profile_id")


def _latest(wide: ir.Table, names: list[str]) -> ir.Table:
    """``(profile_id, *names)``: per profile, each column's value in its latest row (``ts``;
    a null time counts as the oldest) that holds one, ties to the smallest value; empty
    texts are no value.

    Two aggregations and a join, not a rank over the unpivoted values (a window sorts
    every value of every trait).
    """
    ok = {c: wide[c].notnull() & (wide[c] != "") for c in names}
    m = wide.group_by("profile_id").agg(
        **{f"_m{i}": wide.ts.max(where=ok[c]) for i, c in enumerate(names)}
    ).rename(_pid="profile_id")
    j = wide.join(m, wide.profile_id == m._pid)
    at = {c: (j.ts == j[f"_m{i}"]) | (j.ts.isnull() & j[f"_m{i}"].isnull()) for i, c in enumerate(names)}
    return j.group_by("profile_id").agg(
        **{c: j[c].min(where=j[c].notnull() & (j[c] != "") & at[c]) for c in names}
    )


def activity(ws: Workspace, tenant: str, zone: str, events: ir.Table | None = None) -> pa.Table:
    """First/last seen, events, channels with counts, last call-center contact, open complaints.

    Args:
        events: one row per event with its profile (:func:`profile_events`), the
            reference; by default the events are aggregated per identifier and channel
            before their profile is looked up (same result, a fraction of the join).

    Returns:
        ``(profile_id, events, activity)`` for profiles with events; ``activity`` holds the
        members of a JSON object without its braces (the caller adds the domain's).
    """
    if not ws.lake.exists(tenant, zone, "events"):
        return pa.table({
            "profile_id": pa.array([], pa.string()), "events": pa.array([], pa.int64()),
            "activity": pa.array([], pa.string()),
        })
    if events is not None:
        per_channel = events.group_by(["profile_id", "channel"]).agg(
            n=events.count(), last=events.timestamp.max(), first=events.timestamp.min()
        ).to_pyarrow()
        complaints = events
    else:
        per_channel = _per_channel(ws, tenant, zone).to_pyarrow()
        complaints = _complaint_events(ws, tenant, zone)
    # channels by count (descending), then name: the order of the "channels" list
    per_channel = per_channel.sort_by(
        [("profile_id", "ascending"), ("n", "descending"), ("channel", "ascending")]
    )
    channel = per_channel.column("channel")
    n = per_channel.column("n").cast(pa.int64())
    call = pc.if_else(
        pc.fill_null(pc.equal(channel, "call_center"), False), per_channel.column("last"),
        pa.nulls(len(per_channel), per_channel.column("last").type),
    )
    rows = pa.table({
        "profile_id": per_channel.column("profile_id"),
        "ch": json_text(channel),
        "count": pc.binary_join_element_wise(
            json_text(pc.fill_null(channel, "null")), pc.cast(n, pa.string()), ": "
        ),
        "n": n, "first": per_channel.column("first"), "last": per_channel.column("last"), "call": call,
    })
    # one thread keeps each profile's lists in the sorted order
    g = rows.group_by("profile_id", use_threads=False).aggregate([
        ("ch", "list"), ("count", "list"), ("n", "sum"), ("first", "min"), ("last", "max"),
        ("call", "max"),
    ])
    head = pc.binary_join_element_wise(
        '"first_seen": ', json_time(g.column("first_min")),
        ', "last_seen": ', json_time(g.column("last_max")),
        ', "events": ', pc.cast(g.column("n_sum"), pa.string()),
        ', "channels": [', pc.binary_join(g.column("ch_list"), ", "),
        '], "events_per_channel": {', pc.binary_join(g.column("count_list"), ", "),
        '}, "last_call_center_contact": ', json_time(g.column("call_max")),
        ', "open_complaints": ', "",
    )
    t = pa.table({"profile_id": g.column("profile_id"), "events": g.column("n_sum").cast(pa.int64()), "head": head})
    end = pc.max(per_channel.column("last")).as_py()  # the newest event with a profile
    t = t.join(_open_complaints(complaints, end), "profile_id", join_type="left outer")
    members = pc.binary_join_element_wise(
        t.column("head"), pc.cast(pc.fill_null(t.column("open"), 0), pa.string()), ""
    )
    return pa.table({"profile_id": t.column("profile_id"), "events": t.column("events"), "activity": members})


def _open_complaints(ev: ir.Table, end: dt.datetime | None) -> pa.Table:
    """``(profile_id, open)``: complaints of the 90 days before ``end`` with no later
    closing event; ``ev`` holds at least the profiles' complaints and closing events."""
    empty = pa.table({"profile_id": pa.array([], pa.string()), "open": pa.array([], pa.int64())})
    if end is None:
        return empty
    since = end - dt.timedelta(days=OPEN_COMPLAINT_DAYS)
    closed = ev.filter(ev.event.re_search(_CLOSING))
    closed = closed.group_by("profile_id").agg(closed_at=closed.timestamp.max())
    closed = closed.select(c_pid="profile_id", closed_at="closed_at")
    filed = ev.filter((ev.channel == "complaint") & ~ev.event.re_search("resolved|closed"))
    filed = filed.filter(filed.timestamp >= ibis.literal(since, filed.timestamp.type()))
    filed = filed.select("profile_id", "timestamp")
    f = filed.left_join(closed, filed.profile_id == closed.c_pid)
    f = f.filter(f.closed_at.isnull() | (f.timestamp > f.closed_at))
    out = f.group_by("profile_id").agg(open=f.count()).to_pyarrow()
    return pa.table({"profile_id": out.column("profile_id"), "open": out.column("open").cast(pa.int64())})


def json_text(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Each string as JSON text, exactly as ``json.dumps(v, ensure_ascii=False)`` writes it
    (null as ``null``), vectorized."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    values = values.cast(pa.string())
    esc = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    out = pc.fill_null(pc.binary_join_element_wise('"', esc, '"', ""), "null")
    control = pc.fill_null(pc.match_substring_regex(values, r"[\x00-\x1f]"), False)
    if pc.any(control).as_py():  # rare: let json escape control characters
        idx = pc.indices_nonzero(control)
        fixed = pa.array([json.dumps(v, ensure_ascii=False) for v in pc.take(values, idx).to_pylist()])
        mask = pa.array(np.isin(np.arange(len(values)), idx.to_numpy()))
        out = pc.replace_with_mask(out, mask, fixed)
    return out


def json_time(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Each timestamp as JSON text of its ``isoformat()`` (microseconds only when non-zero,
    ``+00:00`` when time-zoned), null as ``null``, vectorized."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    tz = values.type.tz
    us = values.cast(pa.timestamp("us", tz=tz))
    whole = pc.floor_temporal(us, 1, "second")
    frac = pc.subtract(pc.cast(us, pa.int64()), pc.cast(whole, pa.int64()))
    if tz in (None, "UTC"):
        # Arrow's cast writes "YYYY-MM-DD HH:MM:SS" (the UTC wall time): 30x faster than
        # strftime, the same text once its one space is a "T"
        text = pc.replace_substring(
            pc.cast(whole.cast(pa.timestamp("s")), pa.string()), " ", "T", max_replacements=1
        )
    else:
        text = pc.strftime(whole.cast(pa.timestamp("s", tz=tz)), "%Y-%m-%dT%H:%M:%S")
    dot = pc.if_else(
        pc.equal(frac, 0), "", pc.binary_join_element_wise(".", pc.utf8_lpad(pc.cast(frac, pa.string()), 6, "0"), "")
    )
    out = pc.binary_join_element_wise('"', text, dot, "+00:00\"" if tz else '"', "")
    return pc.fill_null(out, "null")


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime | dt.date) else value


def domain(ws: Workspace, tenant: str, zone: str) -> dict[str, dict[str, Any]]:
    """Contract and sites (energy), cards and spend (loyalty), for profiles that have them."""
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    if ws.lake.exists(tenant, zone, "sites"):
        s = ws.table(tenant, "sites", zone)
        link = _linked(ws, tenant, zone, "customer_number")
        sj = s.join(link, s.customer_number == link._ident).select(
            "profile_id", "site_id", "meter_point", "kind", "city", "power_kva", "heating", "site_group"
        )
        for pid, rows in _by_profile(sj.order_by("site_id")).items():
            out[pid]["sites"] = rows
    if ws.lake.exists(tenant, zone, "contract_events"):
        c = ws.table(tenant, "contract_events", zone)
        link = _linked(ws, tenant, zone, "customer_number")
        cj = c.join(link, c.customer_number == link._ident)
        last = cj.mutate(r=ibis.row_number().over(group_by="profile_id", order_by=ibis.desc("ts")))
        last = last.filter(last.r == 0).select("profile_id", "kind", "ts", "customer_number")
        for pid, rows in _by_profile(last).items():
            r = rows[0]
            out[pid]["contract"] = {
                "customer_number": r["customer_number"],
                "status": "terminated" if r["kind"] == "termination" else "active",
                "last_change": r["kind"],
                "last_change_at": _iso(r["ts"]),
            }
    if ws.lake.exists(tenant, zone, "cards"):
        cards = ws.table(tenant, "cards", zone)
        link = _linked(ws, tenant, zone, "card_id")
        cj = cards.join(link, cards.card_id == link._ident).select(
            "profile_id", "card_id", "status", "home_store_id", "issued_at"
        )
        for pid, rows in _by_profile(cj.order_by("card_id")).items():
            out[pid]["cards"] = [{k: _iso(v) for k, v in r.items()} for r in rows]
    if ws.lake.exists(tenant, zone, "transactions"):
        t = ws.table(tenant, "transactions", zone)
        link = _linked(ws, tenant, zone, "card_id")
        tj = t.join(link, t.card_id == link._ident)
        spend = tj.group_by("profile_id").agg(
            spend_eur=tj.amount_eur.sum(), baskets=tj.transaction_id.nunique(), last_purchase=tj.ts.max()
        )
        for pid, rows in _by_profile(spend).items():
            r = rows[0]
            out[pid]["spend"] = {
                "total_eur": round(float(r["spend_eur"] or 0), 2),
                "baskets": int(r["baskets"]),
                "last_purchase": _iso(r["last_purchase"]),
            }
    return dict(out)
