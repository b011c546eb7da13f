"""Per-domain blocks of the 360 page: reference traits, verbatims, consumption and
invoices (energie), transactions and coupons (fidelite). Each block reads only the
rows of this customer's identifiers, in the page's zone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis

from parcours.web.pages.base import fmt_num, fmt_ts
from parcours.web.pages.charts import colour, figure

if TYPE_CHECKING:
    from parcours.workspace import Workspace

TRAIT_COLUMNS = ("first_name", "last_name", "email", "phone", "postal_code", "city", "segment")


def _ids(idents: list[dict[str, Any]], *types: str) -> list[str]:
    return sorted({i["identifier"] for i in idents if i["id_type"] in types})


def _has(ws: Workspace, tenant: str, zone: str, table: str) -> bool:
    return ws.lake.exists(tenant, zone, table)


def traits_and_numbers(
    ws: Workspace, tenant: str, zone: str, idents: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Traits from the CRM reference row, and the customer's keys per domain table."""
    numbers = {
        "customer_number": _ids(idents, "customer_number", "user_id"),
        "card_id": _ids(idents, "card_id"),
        "meter_point": _ids(idents, "meter_point"),
        "user_id": _ids(idents, "user_id"),
    }
    traits: dict[str, Any] = {}
    if numbers["customer_number"] and _has(ws, tenant, zone, "customers"):
        c = ws.table(tenant, "customers", zone)
        rows = c.filter(c.customer_number.isin(numbers["customer_number"])).limit(1).to_pyarrow().to_pylist()
        if rows:
            traits = {k: rows[0][k] for k in TRAIT_COLUMNS if rows[0].get(k)}
            traits["customer_number"] = rows[0]["customer_number"]
    if numbers["customer_number"] and _has(ws, tenant, zone, "sites"):
        s = ws.table(tenant, "sites", zone)
        mp = s.filter(s.customer_number.isin(numbers["customer_number"])).select("meter_point")
        numbers["meter_point"] = sorted(set(numbers["meter_point"]) | set(mp.to_pyarrow().column(0).to_pylist()))
    if numbers["customer_number"] and _has(ws, tenant, zone, "cards"):
        k = ws.table(tenant, "cards", zone)
        cards = k.filter(k.customer_number.isin(numbers["customer_number"])).select("card_id")
        numbers["card_id"] = sorted(set(numbers["card_id"]) | set(cards.to_pyarrow().column(0).to_pylist()))
    return traits, numbers


def _table_block(id_: str, title: str, rows: list[dict[str, Any]], numeric: tuple[str, ...] = (),
                 chart: str | None = None, span: int = 6) -> dict[str, Any]:
    return {"id": id_, "title": title, "rows": rows, "columns": list(rows[0]) if rows else [],
            "numeric": numeric, "chart": chart, "span": span}


def _verbatims(ws: Workspace, tenant: str, zone: str, numbers: dict[str, list[str]]) -> list[dict[str, Any]]:
    if not numbers["user_id"] or not _has(ws, tenant, zone, "verbatims"):
        return []
    v = ws.table(tenant, "verbatims", zone)
    q = v.filter(v.user_id.isin(numbers["user_id"])).order_by(ibis.desc("ts")).limit(10)
    return q.select("ts", "channel", "subject", "text").to_pyarrow().to_pylist()


def _energie(ws: Workspace, tenant: str, zone: str, numbers: dict[str, list[str]]) -> list[dict[str, Any]]:
    blocks = []
    if numbers["meter_point"] and _has(ws, tenant, zone, "meter_readings"):
        r = ws.table(tenant, "meter_readings", zone)
        daily = (
            r.filter(r.meter_point.isin(numbers["meter_point"]))
            .group_by("day").agg(kwh=r.kwh.sum()).order_by("day").to_pyarrow().to_pylist()
        )
        if daily:
            chart = figure(
                [{"type": "scatter", "mode": "lines", "name": "kWh per day",
                  "x": [d["day"] for d in daily], "y": [round(d["kwh"], 2) for d in daily],
                  "line": {"color": colour(0), "width": 1.5}}],
                yaxis={"title": {"text": "kWh per day"}}, showlegend=False,
            )
            blocks.append(_table_block("consumption", "Consumption", [], chart=chart))
    if numbers["customer_number"] and _has(ws, tenant, zone, "invoices"):
        inv = ws.table(tenant, "invoices", zone)
        rows = (
            inv.filter(inv.customer_number.isin(numbers["customer_number"]))
            .order_by(ibis.desc("issued_at")).limit(12).to_pyarrow().to_pylist()
        )
        blocks.append(_table_block("invoices", "Invoices", [
            {"issued": fmt_ts(r["issued_at"]), "period": f"{r['period_start'] or ''} → {r['period_end'] or ''}",
             "kWh": fmt_num(r["kwh"], 0), "amount €": fmt_num(r["amount_eur"]), "status": r["status"] or ""}
            for r in rows
        ], numeric=("kWh", "amount €")))
    return blocks


def _fidelite(ws: Workspace, tenant: str, zone: str, numbers: dict[str, list[str]]) -> list[dict[str, Any]]:
    blocks = []
    cards = numbers["card_id"]
    if cards and _has(ws, tenant, zone, "transactions"):
        t = ws.table(tenant, "transactions", zone)
        mine = t.filter(t.card_id.isin(cards))
        month = mine.ts.truncate("M").name("month")
        per = (
            mine.group_by(month).agg(baskets=mine.transaction_id.nunique(), spend=mine.amount_eur.sum())
            .order_by("month").to_pyarrow().to_pylist()
        )
        if per:
            chart = figure(
                [{"type": "bar", "name": "spend €", "x": [p["month"] for p in per],
                  "y": [round(p["spend"], 2) for p in per], "marker": {"color": colour(1)}},
                 {"type": "scatter", "mode": "lines+markers", "name": "baskets", "yaxis": "y2",
                  "x": [p["month"] for p in per], "y": [p["baskets"] for p in per],
                  "line": {"color": colour(4)}}],
                yaxis={"title": {"text": "spend €"}},
                yaxis2={"title": {"text": "baskets"}, "overlaying": "y", "side": "right"},
            )
            blocks.append(_table_block("transactions", "Transactions", [], chart=chart))
    if cards and _has(ws, tenant, zone, "coupons"):
        c = ws.table(tenant, "coupons", zone)
        mine_c = c.filter(c.card_id.isin(cards))
        if _has(ws, tenant, zone, "redemptions"):
            r = ws.table(tenant, "redemptions", zone)
            red = r.filter(r.card_id.isin(cards)).select(rc=r.coupon_id, redeemed_at=r.redeemed_at)
            mine_c = mine_c.left_join(red, mine_c.coupon_id == red.rc)
            cols = ["coupon_id", "campaign_id", "loaded_at", "value_eur", "category", "redeemed_at"]
        else:
            cols = ["coupon_id", "campaign_id", "loaded_at", "value_eur", "category"]
        rows = mine_c.select(*cols).order_by(ibis.desc("loaded_at")).limit(12).to_pyarrow().to_pylist()
        blocks.append(_table_block("coupons", "Coupons", [
            {"campaign": r["campaign_id"], "loaded": fmt_ts(r["loaded_at"]), "value €": fmt_num(r["value_eur"]),
             "category": r["category"] or "", "redeemed": fmt_ts(r.get("redeemed_at")) if r.get("redeemed_at") else "no"}
            for r in rows
        ], numeric=("value €",)))
    return blocks


def domain_blocks(
    ws: Workspace, tenant: str, zone: str, idents: list[dict[str, Any]], numbers: dict[str, list[str]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Verbatims, and the domain blocks this tenant's tables allow. The three reads run
    side by side: each thread has its own engine cursor, and DuckDB releases the GIL."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="parcours-360") as pool:
        verbatims = pool.submit(_verbatims, ws, tenant, zone, numbers)
        energie = pool.submit(_energie, ws, tenant, zone, numbers)
        fidelite = pool.submit(_fidelite, ws, tenant, zone, numbers)
        return verbatims.result(), energie.result() + fidelite.result()


#: Tables the 360 page reads, in each zone.
TABLES_360 = ("identity_map", "events", "customers", "sites", "cards", "meter_readings", "invoices",
              "transactions", "coupons", "redemptions", "verbatims")


def warm_views(ws: Workspace, tenant: str) -> int:
    """Register the 360 page's tables with the engine (both zones) ahead of the first
    visit; returns how many. The engine rebuilds a view only when its table changes."""
    n = 0
    for zone in ("raw", "analytics"):
        for name in TABLES_360:
            if _has(ws, tenant, zone, name):
                ws.table(tenant, name, zone)
                n += 1
    return n
