"""Normalize meter load curves to fixed intervals (30 minutes by default).

Utilities publish curves with mixed steps (10, 15, 30, 60 minutes), unsorted, with
duplicates and gaps. Each reading covers ``[ts, ts + interval_minutes)`` and its
energy is spread over the target slots it overlaps, in proportion to the overlap
(a flat profile within a reading):

* finer readings (10 min) are **summed** into their 30-minute slot;
* coarser readings (60 min) are **split** evenly into two 30-minute slots;
* a slot's ``quality`` is ``measured`` when readings of at most the slot's length
  cover it entirely, ``estimated`` when part of it comes from splitting a longer
  reading, ``partial`` when readings cover only part of it (its kWh is what was
  measured; nothing is extrapolated);
* gaps stay gaps: a slot without any reading gets no row (a reader sees the hole
  instead of an invented zero);
* a reading repeated in the file (same meter and start) counts once.
"""

from __future__ import annotations

import pyarrow as pa


def resample(readings: pa.Table, minutes: int = 30) -> pa.Table:
    """Readings (meter_readings columns, any steps) → one row per meter and slot."""
    import duckdb

    if readings.num_rows == 0:
        return readings
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("r", readings)
        out = con.sql(
            f"""
            WITH src AS (
                SELECT meter_point, any_value(site_id) AS site_id, ts,
                       any_value(interval_minutes)::INTEGER AS step, any_value(kwh) AS kwh,
                       any_value(quality) AS quality
                FROM r GROUP BY meter_point, ts
            ), parts AS (
                SELECT meter_point, site_id, ts, step, kwh, quality,
                       unnest(generate_series(
                           time_bucket(INTERVAL {minutes} MINUTE, ts),
                           ts + to_minutes(step) - INTERVAL 1 MICROSECOND,
                           INTERVAL {minutes} MINUTE)) AS slot
                FROM src WHERE step > 0
            ), shares AS (
                SELECT *, epoch(least(ts + to_minutes(step), slot + INTERVAL {minutes} MINUTE)
                                - greatest(ts, slot)) / 60.0 AS overlap
                FROM parts
            )
            SELECT meter_point, any_value(site_id) AS site_id, slot AS ts,
                   {minutes}::SMALLINT AS interval_minutes,
                   sum(kwh * overlap / step) AS kwh,
                   CASE WHEN sum(overlap) < {minutes} - 1e-9 THEN 'partial'
                        WHEN bool_or(step > {minutes}) OR bool_or(quality = 'estimated') THEN 'estimated'
                        ELSE 'measured' END AS quality
            FROM shares GROUP BY meter_point, slot ORDER BY meter_point, slot
            """
        ).to_arrow_table()
    finally:
        con.close()
    return out.cast(pa.schema([
        pa.field("meter_point", pa.string()), pa.field("site_id", pa.string()),
        pa.field("ts", pa.timestamp("us", tz="UTC")), pa.field("interval_minutes", pa.int16()),
        pa.field("kwh", pa.float64()), pa.field("quality", pa.string()),
    ]))
