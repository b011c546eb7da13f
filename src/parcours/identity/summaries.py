"""Domain summaries of the 360 view: energy (consumption, invoices), loyalty
(transactions, coupons). Computed per zone for every profile, as Ibis aggregations."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import ibis

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from parcours.workspace import Workspace

RECENT = 12  # invoices, baskets, coupons listed per profile


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.datetime | dt.date) else v


def _link(ws: Workspace, tenant: str, zone: str, id_type: str) -> ir.Table:
    m = ws.table(tenant, "identity_map", zone)
    return m.filter((m.status == "linked") & (m.id_type == id_type)).select(
        _ident="identifier", profile_id="profile_id"
    )


def _recent(t: ir.Table, ts: str, n: int = RECENT) -> ir.Table:
    r = ibis.row_number().over(group_by="profile_id", order_by=ibis.desc(ts))
    return t.mutate(_r=r).filter(ibis._._r < n).drop("_r")


def _rows(expr: ir.Table) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in expr.to_pyarrow().to_pylist():
        pid = row.pop("profile_id")
        out[pid].append({k: _iso(v) for k, v in row.items()})
    return out


def summaries(ws: Workspace, tenant: str, zone: str) -> dict[str, dict[str, Any]]:
    """``{profile_id: {"energy": {...}} | {"loyalty": {...}}}`` for profiles with domain data."""
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    has = lambda name: ws.lake.exists(tenant, zone, name)  # noqa: E731
    if has("invoices"):
        inv = ws.table(tenant, "invoices", zone)
        lk = _link(ws, tenant, zone, "customer_number")
        j = inv.join(lk, inv.customer_number == lk._ident)
        j = j.select("profile_id", "invoice_id", "issued_at", "period_start", "kwh", "amount_eur", "status")
        totals = j.group_by("profile_id").agg(
            invoices=j.count(),
            amount_eur=j.amount_eur.sum(),
            overdue=(j.status == "overdue").sum(),
            overdue_eur=ibis.ifelse(j.status == "overdue", j.amount_eur, 0.0).sum(),
        )
        monthly = j.filter(j.period_start.notnull()).mutate(
            month=j.period_start.truncate("M")
        ).group_by(["profile_id", "month"]).agg(kwh=ibis._.kwh.sum())
        recent = _recent(j, "issued_at").order_by(["profile_id", ibis.desc("issued_at")])
        for pid, rows in _rows(totals).items():
            r = rows[0]
            out[pid].setdefault("energy", {})["invoices_total"] = {
                "count": int(r["invoices"]), "amount_eur": round(float(r["amount_eur"] or 0), 2),
                "overdue": int(r["overdue"] or 0), "overdue_eur": round(float(r["overdue_eur"] or 0), 2),
            }
        for pid, rows in _rows(recent).items():
            out[pid].setdefault("energy", {})["recent_invoices"] = rows
        for pid, rows in _rows(monthly.order_by(["profile_id", "month"])).items():
            out[pid].setdefault("energy", {})["consumption_kwh_by_month"] = {
                str(r["month"])[:7]: round(float(r["kwh"] or 0), 1) for r in rows
            }
    if has("meter_readings") and has("sites"):
        mr = ws.table(tenant, "meter_readings", zone)
        sites = ws.table(tenant, "sites", zone)
        link = _link(ws, tenant, zone, "customer_number")
        sp = sites.join(link, sites.customer_number == link._ident).select("profile_id", _mp="meter_point")
        daily = mr.join(sp, mr.meter_point == sp._mp).group_by(["profile_id", "day"]).agg(kwh=ibis._.kwh.sum())
        monthly_m = daily.mutate(month=daily.day.truncate("M")).group_by(["profile_id", "month"]).agg(
            kwh=ibis._.kwh.sum()
        )
        for pid, rows in _rows(monthly_m.order_by(["profile_id", "month"])).items():
            out[pid].setdefault("energy", {})["metered_kwh_by_month"] = {
                str(r["month"])[:7]: round(float(r["kwh"] or 0), 1) for r in rows
            }
    if has("transactions"):
        t = ws.table(tenant, "transactions", zone)
        lk = _link(ws, tenant, zone, "card_id")
        j = t.join(lk, t.card_id == lk._ident)
        baskets = j.group_by(["profile_id", "transaction_id", "store_id", "retailer"]).agg(
            ts=j.ts.min(), lines=j.count(), amount_eur=j.amount_eur.sum()
        )
        totals = baskets.group_by("profile_id").agg(
            baskets=baskets.count(), spend_eur=baskets.amount_eur.sum(), last_purchase=baskets.ts.max()
        )
        for pid, rows in _rows(totals).items():
            r = rows[0]
            out[pid].setdefault("loyalty", {})["transactions_total"] = {
                "baskets": int(r["baskets"]), "spend_eur": round(float(r["spend_eur"] or 0), 2),
                "last_purchase": r["last_purchase"],
            }
        recent = _recent(baskets, "ts").order_by(["profile_id", ibis.desc("ts")])
        for pid, rows in _rows(recent).items():
            for r in rows:
                r["amount_eur"] = round(float(r["amount_eur"] or 0), 2)
            out[pid].setdefault("loyalty", {})["recent_baskets"] = rows
    if has("coupons"):
        c = ws.table(tenant, "coupons", zone)
        lk = _link(ws, tenant, zone, "card_id")
        j = c.join(lk, c.card_id == lk._ident).select(
            "profile_id", "coupon_id", "campaign_id", "loaded_at", "value_eur", "category"
        )
        if has("redemptions"):
            rd = ws.table(tenant, "redemptions", zone)
            rd = rd.group_by("coupon_id").agg(redeemed_at=rd.redeemed_at.min()).rename(_cid="coupon_id")
            j = j.left_join(rd, j.coupon_id == rd._cid).drop("_cid")
        else:
            j = j.mutate(redeemed_at=ibis.null(j.loaded_at.type()))
        totals = j.group_by("profile_id").agg(
            loaded=j.count(), redeemed=j.redeemed_at.notnull().sum(),
            redeemed_eur=ibis.ifelse(j.redeemed_at.notnull(), j.value_eur, 0.0).sum(),
        )
        for pid, rows in _rows(totals).items():
            r = rows[0]
            out[pid].setdefault("loyalty", {})["coupons_total"] = {
                "loaded": int(r["loaded"]), "redeemed": int(r["redeemed"] or 0),
                "redeemed_eur": round(float(r["redeemed_eur"] or 0), 2),
            }
        recent = _recent(j, "loaded_at").order_by(["profile_id", ibis.desc("loaded_at")])
        for pid, rows in _rows(recent).items():
            out[pid].setdefault("loyalty", {})["recent_coupons"] = rows
    return dict(out)
