"""Resolved traits and computed attributes of profiles, as Ibis aggregations per zone.

Traits come from the CRM (``customers``, highest priority) then from identify calls'
traits (most recent first). Attributes are computed from everything the profile did.
Each function returns ``{profile_id: {...}}`` for one zone; values in the analytics zone
are pseudonyms where the source holds identifiers.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import ibis

from parcours.identity.api import events_with_profiles
from parcours.identity.edges import json_value

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
    """The columns attributes need, of events that have a profile."""
    ev = events_with_profiles(ws, tenant, zone)
    return ev.filter(ev.profile_id.notnull()).select(
        "profile_id", "type", "channel", "event", "timestamp",
        traits=ibis.ifelse(ev.type == "identify", ev.traits, ibis.null("string")),
    )


def traits(
    ws: Workspace, tenant: str, zone: str, events: ir.Table | None = None
) -> dict[str, dict[str, Any]]:
    """Traits per profile: for each trait, the CRM value, else the latest identify value."""
    parts: list[ir.Table] = []
    ts_type = "timestamp('UTC', 6)"
    if ws.lake.exists(tenant, zone, "customers"):
        c = ws.table(tenant, "customers", zone)
        link = _linked(ws, tenant, zone, "customer_number")
        cj = c.join(link, c.customer_number == link._ident)
        for trait, col in CRM_TRAITS.items():
            parts.append(cj.select(
                profile_id="profile_id", trait=ibis.literal(trait), value=cj[col].cast("string"),
                priority=ibis.literal(SOURCE_PRIORITY["crm"]),
                ts=ibis.coalesce(cj.updated_at, cj.created_at).cast(ts_type),
            ))
    if ws.lake.exists(tenant, zone, "events"):
        ev = events if events is not None else profile_events(ws, tenant, zone)
        ev = ev.filter((ev.type == "identify") & ev.traits.notnull())
        for trait in EVENT_TRAITS:
            parts.append(ev.select(
                profile_id="profile_id", trait=ibis.literal(trait), value=json_value(ev.traits, trait),
                priority=ibis.literal(SOURCE_PRIORITY["identify"]), ts=ev.timestamp.cast(ts_type),
            ))
    if not parts:
        return {}
    u = ibis.union(*parts, distinct=False)
    u = u.filter(u.value.notnull() & (u.value != ""))
    rank = ibis.row_number().over(
        group_by=["profile_id", "trait"], order_by=["priority", ibis.desc("ts"), "value"]
    )
    best = u.mutate(r=rank).filter(ibis._.r == 0).select("profile_id", "trait", "value")
    return {pid: {r["trait"]: r["value"] for r in rows} for pid, rows in _by_profile(best).items()}


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime | dt.date) else value


def activity(
    ws: Workspace, tenant: str, zone: str, events: ir.Table | None = None
) -> dict[str, dict[str, Any]]:
    """First/last seen, events, channels with counts, last call-center contact, open complaints."""
    if not ws.lake.exists(tenant, zone, "events"):
        return {}
    ev = events if events is not None else profile_events(ws, tenant, zone)
    per_channel = ev.group_by(["profile_id", "channel"]).agg(
        n=ev.count(), last=ev.timestamp.max(), first=ev.timestamp.min()
    )
    out: dict[str, dict[str, Any]] = {}
    for pid, rows in _by_profile(per_channel).items():
        counts = {r["channel"]: int(r["n"]) for r in rows}
        call = [r["last"] for r in rows if r["channel"] == "call_center"]
        out[pid] = {
            "first_seen": _iso(min(r["first"] for r in rows)),
            "last_seen": _iso(max(r["last"] for r in rows)),
            "events": sum(counts.values()),
            "channels": sorted(counts, key=lambda c: (-counts[c], c)),
            "events_per_channel": counts,
            "last_call_center_contact": _iso(call[0]) if call else None,
            "open_complaints": 0,
        }
    end = ev.timestamp.max().to_pyarrow().as_py()
    if end is not None:
        since = end - dt.timedelta(days=OPEN_COMPLAINT_DAYS)
        closed = ev.filter(ev.event.re_search("complaint_(resolved|closed)"))
        closed = closed.group_by("profile_id").agg(closed_at=closed.timestamp.max())
        closed = closed.select(c_pid="profile_id", closed_at="closed_at")
        filed = ev.filter((ev.channel == "complaint") & ~ev.event.re_search("resolved|closed"))
        filed = filed.filter(filed.timestamp >= ibis.literal(since, filed.timestamp.type()))
        filed = filed.select("profile_id", "timestamp")
        f = filed.left_join(closed, filed.profile_id == closed.c_pid)
        f = f.filter(f.closed_at.isnull() | (f.timestamp > f.closed_at))
        openc = f.group_by("profile_id").agg(n=f.count())
        for row in openc.to_pyarrow().to_pylist():
            if row["profile_id"] in out:
                out[row["profile_id"]]["open_complaints"] = int(row["n"])
    return out


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
