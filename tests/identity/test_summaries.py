"""The 360 view's domain summaries (one DuckDB statement) against a plain Python
reference over the lake's rows, on the resolved demo world, both tenants and zones."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from parcours.identity.summaries import RECENT, summaries_sql


def _rows(ws: Any, tenant: str, zone: str, table: str, columns: list[str]) -> list[dict[str, Any]]:
    if not ws.lake.exists(tenant, zone, table):
        return []
    return ws.lake.read(tenant, zone, table, columns).to_pylist()


def _iso(v: Any) -> Any:
    return v.isoformat() if hasattr(v, "isoformat") else v


def _newest(rows: list[dict[str, Any]], ts: str, key: str) -> list[dict[str, Any]]:
    rows = sorted(rows, key=lambda r: (r[ts], r[key]), reverse=True)[:RECENT]
    return [{k: _iso(v) for k, v in r.items()} for r in rows]


def reference(ws: Any, tenant: str, zone: str) -> dict[str, dict[str, Any]]:
    """What each profile's summary should say, computed row by row in Python."""
    links: dict[str, dict[str, str]] = defaultdict(dict)
    for m in _rows(ws, tenant, zone, "identity_map", ["identifier", "id_type", "profile_id", "status"]):
        if m["status"] == "linked":
            links[m["id_type"]][m["identifier"]] = m["profile_id"]
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    by_customer = links["customer_number"]
    invoices: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in _rows(ws, tenant, zone, "invoices", ["customer_number", "invoice_id", "issued_at",
                                                   "period_start", "kwh", "amount_eur", "status"]):
        if r["customer_number"] in by_customer:
            invoices[by_customer[r["customer_number"]]].append(
                {k: r[k] for k in ("invoice_id", "issued_at", "period_start", "kwh", "amount_eur", "status")})
    for pid, rows in invoices.items():
        energy = out[pid].setdefault("energy", {})
        overdue = [r for r in rows if r["status"] == "overdue"]
        energy["invoices_total"] = {
            "count": len(rows), "amount_eur": round(sum(r["amount_eur"] for r in rows), 2),
            "overdue": len(overdue), "overdue_eur": round(sum(r["amount_eur"] for r in overdue), 2),
        }
        energy["recent_invoices"] = _newest(rows, "issued_at", "invoice_id")
        months: dict[str, float] = defaultdict(float)
        for r in rows:
            if r["period_start"] is not None:
                months[r["period_start"].strftime("%Y-%m")] += r["kwh"] or 0.0
        if months:
            energy["consumption_kwh_by_month"] = {m: round(v, 1) for m, v in sorted(months.items())}
    meters: dict[str, list[str]] = defaultdict(list)  # meter point -> profiles (one per site row)
    for s in _rows(ws, tenant, zone, "sites", ["customer_number", "meter_point"]):
        if s["customer_number"] in by_customer:
            meters[s["meter_point"]].append(by_customer[s["customer_number"]])
    metered: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    if ws.lake.exists(tenant, zone, "meter_readings"):
        # millions of readings: summed per meter and month by Arrow first
        mr = ws.lake.read(tenant, zone, "meter_readings", ["meter_point", "ts", "kwh"])
        mr = pa.table({"meter_point": mr["meter_point"], "month": pc.strftime(mr["ts"], "%Y-%m"),
                       "kwh": mr["kwh"]})
        for r in mr.group_by(["meter_point", "month"]).aggregate([("kwh", "sum")]).to_pylist():
            for pid in meters.get(r["meter_point"], []):
                metered[pid][r["month"]] += r["kwh_sum"]
    for pid, months in metered.items():
        out[pid].setdefault("energy", {})["metered_kwh_by_month"] = {
            m: round(v, 1) for m, v in sorted(months.items())}
    by_card = links["card_id"]
    baskets: dict[tuple[str, ...], dict[str, Any]] = {}
    for r in _rows(ws, tenant, zone, "transactions", ["card_id", "transaction_id", "store_id",
                                                       "retailer", "ts", "amount_eur"]):
        if r["card_id"] not in by_card:
            continue
        key = (by_card[r["card_id"]], r["transaction_id"], r["store_id"], r["retailer"])
        b = baskets.setdefault(key, {"transaction_id": r["transaction_id"], "store_id": r["store_id"],
                                     "retailer": r["retailer"], "ts": r["ts"], "lines": 0, "amount_eur": 0.0})
        b["ts"] = min(b["ts"], r["ts"])
        b["lines"] += 1
        b["amount_eur"] += r["amount_eur"]
    per_profile: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (pid, *_), b in baskets.items():
        per_profile[pid].append(b)
    for pid, rows in per_profile.items():
        loyalty = out[pid].setdefault("loyalty", {})
        loyalty["transactions_total"] = {
            "baskets": len(rows), "spend_eur": round(sum(b["amount_eur"] for b in rows), 2),
            "last_purchase": max(b["ts"] for b in rows).isoformat(),
        }
        recent = _newest(rows, "ts", "transaction_id")
        for b in recent:
            b["amount_eur"] = round(b["amount_eur"], 2)
        loyalty["recent_baskets"] = recent
    redeemed: dict[str, Any] = {}
    for r in _rows(ws, tenant, zone, "redemptions", ["coupon_id", "redeemed_at"]):
        redeemed[r["coupon_id"]] = min(redeemed.get(r["coupon_id"], r["redeemed_at"]), r["redeemed_at"])
    coupons: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in _rows(ws, tenant, zone, "coupons", ["card_id", "coupon_id", "campaign_id", "loaded_at",
                                                  "value_eur", "category"]):
        if r["card_id"] in by_card:
            coupons[by_card[r["card_id"]]].append(
                {**{k: r[k] for k in ("coupon_id", "campaign_id", "loaded_at", "value_eur", "category")},
                 "redeemed_at": redeemed.get(r["coupon_id"])})
    for pid, rows in coupons.items():
        loyalty = out[pid].setdefault("loyalty", {})
        used = [r for r in rows if r["redeemed_at"] is not None]
        loyalty["coupons_total"] = {"loaded": len(rows), "redeemed": len(used),
                                    "redeemed_eur": round(sum(r["value_eur"] for r in used), 2)}
        loyalty["recent_coupons"] = _newest(rows, "loaded_at", "coupon_id")
    return dict(out)


def _rounded(path: str) -> float | None:
    """The unit of the last digit a value at ``path`` is rounded to (None: not rounded)."""
    if "_by_month" in path:
        return 0.1
    if "_total." in path or ("recent_baskets" in path and path.endswith(".amount_eur")):
        return 0.01
    return None


def _apart(a: Any, b: Any, path: str = "") -> list[str]:
    """Where ``a`` and ``b`` differ. A rounded float may differ by one unit of its last
    digit (a sum of doubles taken in another order may round the other way); every
    other value must be equal, of the same type."""
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return [f"{path}: keys {list(a)} != {list(b)}"]
        return [d for k in a for d in _apart(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _apart(x, y, f"{path}[{i}]")]
    unit = _rounded(path)
    if unit is not None and isinstance(a, int | float) and isinstance(b, int | float):
        return [] if abs(a - b) <= unit * 1.001 else [f"{path}: {a!r} != {b!r}"]
    return [] if a == b and type(a) is type(b) else [f"{path}: {a!r} != {b!r}"]


@pytest.mark.parametrize("tenant", ["energie", "fidelite"])
@pytest.mark.parametrize("zone", ["raw", "analytics"])
def test_summaries_match_a_row_by_row_reference(demo_resolved_ws, tenant, zone):
    ws = demo_resolved_ws
    sql = summaries_sql(ws, tenant, zone, lambda e: f"({ws.engine.con.compile(e)})")
    assert sql is not None
    got = {pid: json.loads(doc) for pid, doc in ws.engine.duckdb.sql(sql).fetchall()}
    want = reference(ws, tenant, zone)
    assert set(got) == set(want)
    domains = {"energie": {"energy"}, "fidelite": {"loyalty"}}[tenant]
    assert {d for s in got.values() for d in s} == domains
    apart = [d for pid in sorted(want) for d in _apart(got[pid], want[pid], pid)]
    assert apart == [], apart[:10]
    # every part of the document is there for some profile (none is silently empty)
    names = {n for s in got.values() for d in s.values() for n in d}
    assert names == {"energy": {"invoices_total", "recent_invoices", "consumption_kwh_by_month",
                                "metered_kwh_by_month"},
                     "loyalty": {"transactions_total", "recent_baskets", "coupons_total",
                                 "recent_coupons"}}[next(iter(domains))]
