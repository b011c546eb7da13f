"""Retention cohorts: exact logs across a year boundary, a reference, DuckDB/Spark parity."""

from __future__ import annotations

import datetime as dt
import random

import pyarrow as pa
import pytest

from parcours.journeys import JourneysError
from parcours.journeys.retention import NoPurchaseEventError, retention
from tests.journeys.logs import SCHEMA, duck, spark_table


def _at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def _log(rows: list[tuple]) -> pa.Table:
    """(profile, datetime, event) rows as a journey events table."""
    full = [(p, ts, e, "web", "track", None) for p, ts, e in rows]
    return pa.Table.from_pylist([dict(zip(SCHEMA.names, r, strict=True)) for r in full], SCHEMA)



def _tuples(res) -> list[tuple]:
    return [tuple(r.values()) for r in res.table.to_pylist()]


def test_first_seen_cohorts_across_the_year_boundary():
    log = [
        ("a", _at(2024, 11, 15, 12), "home"), ("a", _at(2024, 12, 31, 23, 59, 59), "home"),
        ("a", _at(2025, 2, 1), "home"),
        ("b", _at(2024, 12, 1), "home"), ("b", dt.datetime(2025, 1, 31, 23, 59, 59, 999999,
                                                          tzinfo=dt.UTC), "offers"),
        ("c", _at(2024, 12, 20), "home"), ("c", _at(2024, 12, 25), "home"),  # one month, once
        ("d", _at(2025, 1, 1), "home"), ("d", _at(2025, 2, 14), "home"),
    ]
    res = retention(duck(_log(log)))
    assert res.table.column_names == ["cohort", "month", "cohort_size", "returning", "rate"]
    assert res.table.schema.field("cohort").type == pa.date32()
    nov, dec, jan = dt.date(2024, 11, 1), dt.date(2024, 12, 1), dt.date(2025, 1, 1)
    assert _tuples(res) == [
        (nov, 0, 1, 1, 1.0), (nov, 1, 1, 1, 1.0), (nov, 2, 1, 0, 0.0), (nov, 3, 1, 1, 1.0),
        (dec, 0, 2, 2, 1.0), (dec, 1, 2, 1, 0.5), (dec, 2, 2, 0, 0.0),
        (jan, 0, 1, 1, 1.0), (jan, 1, 1, 1, 1.0),
    ]
    assert res.to_dict()["rows"][0]["cohort"] == "2024-11-01"


PURCHASES = [
    ("a", _at(2025, 1, 3), "home"), ("a", _at(2025, 1, 10), "store_visit"),
    ("a", _at(2025, 3, 5), "store_visit"), ("a", _at(2025, 4, 1), "home"),
    ("b", _at(2024, 12, 20), "home"),
    ("b", _at(2025, 1, 20), "coupon_redeemed"), ("b", _at(2025, 2, 2), "store_visit"),
    ("c", _at(2025, 1, 5), "home"),  # never buys: in no cohort
]


def test_first_purchase_default_and_explicit_events():
    jan, feb = dt.date(2025, 1, 1), dt.date(2025, 2, 1)
    res = retention(duck(_log(PURCHASES)), by="first_purchase")
    assert res.extra["purchase_events"] == ["store_visit", "coupon_redeemed"]
    # months run to the last month with a purchase (March; April's visit is no purchase)
    assert _tuples(res) == [(jan, 0, 2, 2, 1.0), (jan, 1, 2, 1, 0.5), (jan, 2, 2, 1, 0.5)]
    only = retention(duck(_log(PURCHASES)), by="first_purchase", purchase_event="store_visit")
    assert _tuples(only) == [(jan, 0, 1, 1, 1.0), (jan, 1, 1, 0, 0.0), (jan, 2, 1, 1, 1.0),
                             (feb, 0, 1, 1, 1.0), (feb, 1, 1, 0, 0.0)]
    both = retention(duck(_log(PURCHASES)), by="first_purchase",
                     purchase_event=["store_visit", "coupon_redeemed"])
    assert _tuples(both) == _tuples(res)


def test_purchase_errors_and_empty_results():
    t = duck(_log([("a", _at(2025, 1, 3), "home")]))
    with pytest.raises(NoPurchaseEventError, match="purchase_event"):
        retention(t, by="first_purchase")
    with pytest.raises(JourneysError):
        retention(t, by="last_seen")
    with pytest.raises(JourneysError):
        retention(t, purchase_event="store_visit")  # only with by="first_purchase"
    with pytest.raises(JourneysError):
        retention(t, by="first_purchase", purchase_event="")
    none = retention(t, by="first_purchase", purchase_event="store_visit")
    assert len(none) == 0 and "message" in none.extra
    assert none.table.column_names == ["cohort", "month", "cohort_size", "returning", "rate"]


def reference(rows, names=None):
    active: dict[str, set[int]] = {}
    for r in rows:
        if names is None or r["event"] in names:
            active.setdefault(r["profile_id"], set()).add(r["ts"].year * 12 + r["ts"].month - 1)
    last = max(m for ms in active.values() for m in ms)
    cohorts: dict[int, list[set[int]]] = {}
    for ms in active.values():
        cohorts.setdefault(min(ms), []).append(ms)
    out = []
    for c in sorted(cohorts):
        for m in range(c, last + 1):
            n = sum(m in ms for ms in cohorts[c])
            out.append((dt.date(c // 12, c % 12 + 1, 1), m - c, len(cohorts[c]), n,
                        n / len(cohorts[c])))
    return out


def random_log(seed: int, profiles: int = 60) -> pa.Table:
    rng = random.Random(seed)
    start = _at(2024, 9, 1)
    rows = []
    for p in range(profiles):
        first = rng.randint(0, 200)
        for _ in range(rng.randint(1, 8)):
            rows.append((f"p{p:02d}", start + dt.timedelta(days=first + rng.randint(0, 150),
                                                           minutes=rng.randint(0, 1439)),
                         rng.choice(["home", "home", "store_visit"])))
    return _log(rows)


@pytest.mark.parametrize("seed", [21, 22])
def test_matches_reference_on_random_logs(seed):
    tbl = random_log(seed)
    t, rows = duck(tbl), tbl.to_pylist()
    got = _tuples(retention(t))
    assert len({r[0] for r in got}) >= 6 and got == reference(rows)
    assert _tuples(retention(t, by="first_purchase")) == reference(rows, {"store_visit"})


@pytest.mark.spark
def test_same_cohorts_on_duckdb_and_spark(spark_session):
    tbl = random_log(23, profiles=30)
    spark_t = spark_table(spark_session, tbl, "retention_parity")
    a, b = retention(duck(tbl)), retention(spark_t)
    assert len(a) > 10 and a.to_dict() == b.to_dict()
