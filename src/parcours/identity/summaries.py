"""Domain summaries of the 360 view: energy (consumption, invoices), loyalty
(transactions, coupons), for every profile of a zone, as one JSON text per profile.

The inputs (a domain table joined to its profiles through the identity map) are Ibis
expressions, so they run on the configured engine; the per-profile aggregation and the
JSON are one DuckDB statement (:func:`summaries_sql`), run by the serving store where
its other tables are shaped (on the engine's own connection on the embedded default,
over Arrow results elsewhere). A million profiles are one statement, not a million
Python dictionaries.

A profile's summary is ``{"energy": {...}, "loyalty": {...}}`` with only the parts it
has data for (profiles with none have no row):

* ``energy.invoices_total`` ``{count, amount_eur, overdue, overdue_eur}``,
  ``energy.recent_invoices`` (the :data:`RECENT` newest, newest first),
  ``energy.consumption_kwh_by_month`` ``{"YYYY-MM": kWh}`` from the invoices' periods,
  ``energy.metered_kwh_by_month`` from the meter readings of the profile's sites;
* ``loyalty.transactions_total`` ``{baskets, spend_eur, last_purchase}``,
  ``loyalty.recent_baskets``, ``loyalty.coupons_total`` ``{loaded, redeemed,
  redeemed_eur}``, ``loyalty.recent_coupons``.

Amounts are rounded half to even (as Python's ``round``) to cents, energy to 0.1 kWh;
times are written as Python's ``isoformat()`` writes them; newest first means by time,
then by id descending (a tie has one order).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import ibis

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from parcours.workspace import Workspace

RECENT = 12  # invoices, baskets, coupons listed per profile


def _money(col: str, digits: int = 2) -> str:
    return f"round_even(coalesce({col}, 0)::DOUBLE, {digits})"


def _fields(expr: ir.Table, names: list[str], money: tuple[str, ...] = ()) -> str:
    """``json_object`` arguments for ``names`` (timestamps as ISO text, dates as
    ``YYYY-MM-DD``, ``money`` columns rounded to cents)."""
    from parcours.identity.serving import iso_sql  # serving imports this module

    schema = expr.schema()
    out = []
    for name in names:
        dtype = schema[name]
        if name in money:
            value = _money(name)
        elif dtype.is_timestamp():
            value = iso_sql(name, tz=dtype.timezone is not None)
        else:
            value = name
        out.append(f"'{name}', {value}")
    return ", ".join(out)


def _link(ws: Workspace, tenant: str, zone: str, id_type: str) -> ir.Table:
    m = ws.table(tenant, "identity_map", zone)
    return m.filter((m.status == "linked") & (m.id_type == id_type)).select(
        _ident="identifier", profile_id="profile_id"
    )


class _Parts:
    """The per-profile JSON values of one summary, each a statement of
    ``(profile_id, v)``, keyed by domain and name in the document's order."""

    def __init__(self, relation: Callable[[ir.Table], str]) -> None:
        self.relation = relation
        self.parts: list[tuple[str, str, str]] = []

    def one(self, domain: str, name: str, expr: ir.Table, fields: str) -> None:
        """One object per profile (``expr`` has one row per profile)."""
        self.parts.append((domain, name, f"SELECT profile_id, json_object({fields})::VARCHAR AS v "
                                             f"FROM {self.relation(expr)}"))

    def recent(self, domain: str, name: str, expr: ir.Table, fields: str, ts: str, key: str) -> None:
        """The :data:`RECENT` newest rows per profile, newest first, as an array."""
        order = f"{ts} DESC, {key} DESC"
        self.parts.append((domain, name, f"""
            SELECT profile_id, to_json(list(json_object({fields}) ORDER BY {order}))::VARCHAR AS v
            FROM (SELECT * FROM {self.relation(expr)}
                  QUALIFY row_number() OVER (PARTITION BY profile_id ORDER BY {order}) <= {RECENT})
            GROUP BY profile_id"""))

    def months(self, domain: str, name: str, expr: ir.Table) -> None:
        """``{"YYYY-MM": kWh}`` per profile, months in order (``expr``: profile_id,
        month, kwh, one row per profile and month)."""
        self.parts.append((domain, name, f"""
            SELECT profile_id, to_json(map(list(strftime(month, '%Y-%m') ORDER BY month),
                                           list({_money('kwh', 1)} ORDER BY month)))::VARCHAR AS v
            FROM {self.relation(expr)} GROUP BY profile_id"""))

    def statement(self) -> str | None:
        if not self.parts:
            return None
        ctes = ",\n".join(f"_p{i} AS ({sql})" for i, (_, _, sql) in enumerate(self.parts))
        ids = " UNION ".join(f"SELECT profile_id FROM _p{i}" for i in range(len(self.parts)))
        joins = " ".join(f"LEFT JOIN _p{i} USING (profile_id)" for i in range(len(self.parts)))
        domains: dict[str, list[str]] = {}
        for i, (domain, name, _) in enumerate(self.parts):
            domains.setdefault(domain, []).append(f"""'"{name}":' || _p{i}.v""")
        # concat_ws skips NULLs: a part a profile has no data for is left out, and a
        # domain with none of its parts too
        objects = [
            f"""CASE WHEN concat_ws(',', {", ".join(items)}) <> '' """
            f"""THEN '"{domain}":{{' || concat_ws(',', {", ".join(items)}) || '}}' END"""
            for domain, items in domains.items()
        ]
        return (f"WITH {ctes}, _ids AS ({ids})\n"
                f"SELECT profile_id, '{{' || concat_ws(',', {', '.join(objects)}) || '}}' AS summary "
                f"FROM _ids {joins}")


def summaries_sql(ws: Workspace, tenant: str, zone: str,
                  relation: Callable[[ir.Table], str]) -> str | None:
    """A DuckDB statement giving ``(profile_id, summary)``, the summary JSON text of
    every profile with domain data, or None when the zone has no domain table.

    Args:
        relation: turns an Ibis expression into something a FROM clause takes on the
            connection the statement runs on.
    """
    parts = _Parts(relation)
    has = lambda name: ws.lake.exists(tenant, zone, name)  # noqa: E731
    if has("invoices"):
        inv = ws.table(tenant, "invoices", zone)
        lk = _link(ws, tenant, zone, "customer_number")
        j = inv.join(lk, inv.customer_number == lk._ident)
        j = j.select("profile_id", "invoice_id", "issued_at", "period_start", "kwh", "amount_eur", "status")
        totals = j.group_by("profile_id").agg(
            count=j.count(),
            amount_eur=j.amount_eur.sum(),
            overdue=(j.status == "overdue").sum(),
            overdue_eur=ibis.ifelse(j.status == "overdue", j.amount_eur, 0.0).sum(),
        )
        parts.one("energy", "invoices_total", totals,
                  "'count', count, 'amount_eur', " + _money("amount_eur")
                  + ", 'overdue', coalesce(overdue, 0), 'overdue_eur', " + _money("overdue_eur"))
        parts.recent("energy", "recent_invoices", j,
                     _fields(j, ["invoice_id", "issued_at", "period_start", "kwh", "amount_eur", "status"]),
                     "issued_at", "invoice_id")
        monthly = j.filter(j.period_start.notnull()).mutate(
            month=j.period_start.truncate("M")
        ).group_by(["profile_id", "month"]).agg(kwh=ibis._.kwh.sum())
        parts.months("energy", "consumption_kwh_by_month", monthly)
    if has("meter_readings") and has("sites"):
        mr = ws.table(tenant, "meter_readings", zone)
        sites = ws.table(tenant, "sites", zone)
        link = _link(ws, tenant, zone, "customer_number")
        sp = sites.join(link, sites.customer_number == link._ident).select("profile_id", _mp="meter_point")
        j = mr.join(sp, mr.meter_point == sp._mp)
        monthly_m = j.mutate(month=j.ts.date().truncate("M")).group_by(["profile_id", "month"]).agg(
            kwh=ibis._.kwh.sum()
        )
        parts.months("energy", "metered_kwh_by_month", monthly_m)
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
        parts.one("loyalty", "transactions_total", totals,
                  "'baskets', baskets, 'spend_eur', " + _money("spend_eur") + ", "
                  + _fields(totals, ["last_purchase"]))
        parts.recent("loyalty", "recent_baskets", baskets,
                     _fields(baskets, ["transaction_id", "store_id", "retailer", "ts", "lines", "amount_eur"],
                             money=("amount_eur",)),
                     "ts", "transaction_id")
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
        parts.one("loyalty", "coupons_total", totals,
                  "'loaded', loaded, 'redeemed', coalesce(redeemed, 0), 'redeemed_eur', "
                  + _money("redeemed_eur"))
        parts.recent("loyalty", "recent_coupons", j,
                     _fields(j, ["coupon_id", "campaign_id", "loaded_at", "value_eur", "category",
                                 "redeemed_at"]),
                     "loaded_at", "coupon_id")
    return parts.statement()
