"""Small journey event logs for the analyses' tests: the table's schema and where to run it."""

from __future__ import annotations

import datetime as dt

import ibis
import pyarrow as pa

#: Time zero of the hand-written logs.
T0 = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)

#: A journey events table (see parcours.journeys.base).
SCHEMA = pa.schema([
    ("profile_id", pa.string()), ("ts", pa.timestamp("us", tz="UTC")), ("event", pa.string()),
    ("channel", pa.string()), ("type", pa.string()), ("properties", pa.string()),
])


def connect() -> ibis.BaseBackend:
    """A new DuckDB connection (UTC, as parcours' engine sets it)."""
    con = ibis.duckdb.connect()
    con.raw_sql("SET TimeZone = 'UTC'")
    return con


def duck(tbl: pa.Table, name: str = "ev", con: ibis.BaseBackend | None = None) -> ibis.Table:
    """``tbl`` on ``con`` (a new DuckDB connection by default)."""
    con = con if con is not None else connect()
    con.con.register(name, tbl)
    return con.table(name)


def spark_table(spark, tbl: pa.Table, name: str) -> ibis.Table:
    """``tbl`` as a temporary view of the test run's Spark session."""
    spark.createDataFrame(tbl.to_pandas()).createOrReplaceTempView(name)
    return ibis.pyspark.connect(spark).table(name)


def stored(tbl: pa.Table, name: str = "ev", con: ibis.BaseBackend | None = None) -> ibis.Table:
    """``tbl`` through the journey store (parcours.journeys.store): ENUM event, channel
    and type, and the ``_order`` key, on ``con`` (a new DuckDB connection by default)."""
    from parcours.journeys.store import materialize, table

    src = duck(tbl, f"{name}_source", con)
    materialize(src, name)
    return table(src.get_backend(), name)
