"""Retention: monthly cohorts and the share of each that comes back month after month.

A profile's *cohort* is the calendar month (UTC in parcours' engines: the connection's
time zone) of its first event (``by="first_seen"``) or of its first purchase event
(``by="first_purchase"``). Its *return rate* at month offset ``m`` is the share of the
cohort's profiles with at least one event — a purchase event for ``first_purchase`` —
in calendar month ``cohort + m``; month 0 is 1.0 by definition. Cohorts and months are
those of the events given (a ``start`` .. ``end`` restriction moves them), and every
cohort gets a row per month up to the last month with an event, returning or not.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from parcours.journeys.base import JourneyResult, check_events
from parcours.journeys.errors import JourneysError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import ibis.expr.types as ir
    import pyarrow as pa

#: How a cohort is defined.
BY = ("first_seen", "first_purchase")

#: Purchase-like event names, used together when ``purchase_event`` is not given: the
#: Segment e-commerce spec's (``Order Completed``), common spellings, and the demo
#: worlds' — ``contract_subscribed`` (energie: a contract is the purchase),
#: ``store_visit`` and ``coupon_redeemed`` (fidelite: a basket at checkout).
PURCHASE_EVENTS = (
    "Order Completed",
    "order_completed",
    "purchase",
    "purchased",
    "checkout_completed",
    "transaction",
    "basket",
    "contract_subscribed",
    "store_visit",
    "coupon_redeemed",
)


class NoPurchaseEventError(JourneysError):
    """``by="first_purchase"`` without ``purchase_event`` and none of the default names."""

    def __init__(self) -> None:
        super().__init__(
            "no purchase event found: none of the default purchase names "
            f"({', '.join(PURCHASE_EVENTS)}) occurs; pass purchase_event=<event name>",
            parameter="purchase_event",
            defaults=list(PURCHASE_EVENTS),
        )


def retention(
    events: ir.Table,
    *,
    by: str = "first_seen",
    purchase_event: str | Sequence[str] | None = None,
) -> JourneyResult:
    """Monthly cohorts and their return rates.

    Args:
        events: a journey events table (see :mod:`parcours.journeys.base`).
        by: ``"first_seen"`` (any event) or ``"first_purchase"`` (purchase events only,
            for the cohort and for coming back).
        purchase_event: the purchase event name (or names); by default every name of
            :data:`PURCHASE_EVENTS` present, and :class:`NoPurchaseEventError` when
            none is.

    Returns:
        Rows ``cohort`` (a date: the month's first day), ``month`` (offset, 0 ..),
        ``cohort_size``, ``returning`` and ``rate`` (``returning / cohort_size``),
        by cohort and month. ``extra["purchase_events"]``: the names used.

    Example:
        >>> retention(events).to_pandas().head(2)                         # doctest: +SKIP
               cohort  month  cohort_size  returning  rate
        0  2025-01-01      0         2650       2650  1.00
        1  2025-01-01      1         2650       2569  0.97
    """
    if by not in BY:
        raise JourneysError(f"invalid by {by!r}: use first_seen or first_purchase", parameter="by")
    t = check_events(events)
    params: dict[str, Any] = {"by": by, "purchase_event": purchase_event}
    extra: dict[str, Any] = {}
    if by == "first_purchase":
        names = _purchase_names(t, purchase_event)
        extra["purchase_events"] = names
        t = t.filter(t.event.isin(names))
    elif purchase_event is not None:
        raise JourneysError("purchase_event applies to by='first_purchase' only",
                            parameter="purchase_event")

    # months as year * 12 + month - 1; every profile is active in its cohort's month,
    # so a cohort's size is its month-0 count (one pass, no self-join)
    act = t.select("profile_id", _m=t.ts.year() * 12 + t.ts.month() - 1).distinct()
    act = act.mutate(_c=act._m.min().over(group_by=act.profile_id))
    agg = act.group_by(["_c", "_m"]).agg(returning=act.count()).to_pyarrow()
    table = _grid(agg)
    if not table.num_rows:
        extra["message"] = ("no purchase events" if by == "first_purchase" else "no events")
    return JourneyResult("retention", params, table, extra)


def _purchase_names(t: ir.Table, purchase_event: str | Sequence[str] | None) -> list[str]:
    if purchase_event is not None:
        names = [purchase_event] if isinstance(purchase_event, str) else list(purchase_event)
        if not names or not all(isinstance(n, str) and n for n in names):
            raise JourneysError(f"invalid purchase_event {purchase_event!r}: give an event name",
                                parameter="purchase_event")
        return names
    present = t.filter(t.event.isin(PURCHASE_EVENTS)).select("event").distinct().to_pyarrow()
    found = set(present["event"].to_pylist())
    if not found:
        raise NoPurchaseEventError()
    return [n for n in PURCHASE_EVENTS if n in found]


def _grid(agg: pa.Table) -> pa.Table:
    """Every cohort × month offset up to the last active month, zeros included."""
    import pyarrow as pa

    back: dict[tuple[int, int], int] = {}
    sizes: dict[int, int] = {}
    for r in agg.to_pylist():
        back[(int(r["_c"]), int(r["_m"]))] = int(r["returning"])
        if r["_c"] == r["_m"]:
            sizes[int(r["_c"])] = int(r["returning"])
    last = max((m for _, m in back), default=0)
    cols: dict[str, list[Any]] = {k: [] for k in ("cohort", "month", "cohort_size", "returning",
                                                  "rate")}
    for c in sorted(sizes):
        for m in range(c, last + 1):
            n = back.get((c, m), 0)
            cols["cohort"].append(dt.date(c // 12, c % 12 + 1, 1))
            cols["month"].append(m - c)
            cols["cohort_size"].append(sizes[c])
            cols["returning"].append(n)
            cols["rate"].append(n / sizes[c])
    return pa.table({
        "cohort": pa.array(cols["cohort"], pa.date32()),
        "month": pa.array(cols["month"], pa.int64()),
        "cohort_size": pa.array(cols["cohort_size"], pa.int64()),
        "returning": pa.array(cols["returning"], pa.int64()),
        "rate": pa.array(cols["rate"], pa.float64()),
    })
