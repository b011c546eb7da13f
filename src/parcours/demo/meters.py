"""Daily weather per region and 30-minute load curves with planted gradients and anomalies.

Model (per metered site *s*, day *d*, half-hour *h*)::

    kwh[s,d,h] = base_day[s] * base_shape[h] * f[s,d] * e[s,d,h]
               + gradient[s] * DD[region(s), d] * heat_shape[h] * e[s,d,h]

with ``DD = max(0, 15 - temp_mean_c)`` (degree-days, base 15 °C), both shapes summing
to 1 over the day, ``f`` a day-level factor (weekends for businesses, ±4 % noise) and
``e`` half-hour noise (±8 %). So a day's total is close to ``base_day + gradient × DD``:
a least-squares fit of daily kWh on DD recovers both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from parcours.demo.people import REGIONS, take
from parcours.demo.timeline import DAY, T0, US, month_bounds

DAYS = 365
SLOTS = 48
BASE_TEMP_C = 15.0
DATES = np.arange(np.datetime64("2025-01-01"), np.datetime64("2026-01-01"))


def weather(rng: np.random.Generator) -> tuple[pa.Table, np.ndarray]:
    """Daily mean temperatures per region: a seasonal cosine plus AR(1) noise.

    Returns the ``weather`` rows and the (regions × days) temperature matrix.
    """
    regions = list(REGIONS)
    doy = np.arange(DAYS)
    temps = np.empty((len(regions), DAYS))
    for i, r in enumerate(regions):
        _, mean, amp = REGIONS[r]
        noise = np.empty(DAYS)
        noise[0] = 0.0
        shocks = rng.normal(0, 1.6, DAYS)
        for d in range(1, DAYS):  # 365 steps per region: the AR(1) recursion
            noise[d] = 0.7 * noise[d - 1] + shocks[d]
        temps[i] = np.round(mean - amp * np.cos(2 * np.pi * (doy - 15) / 365) + noise, 1)
    table = pa.table(
        {
            "region": take(regions, np.repeat(np.arange(len(regions)), DAYS)),
            "date": pa.array(np.tile(DATES, len(regions))),
            "temp_mean_c": pa.array(temps.ravel()),
        }
    )
    return table, temps


def degree_days(temps: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, BASE_TEMP_C - temps)


def _shapes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    h = np.arange(SLOTS) / 2.0
    residential = 0.6 + 0.5 * np.exp(-((h - 8) ** 2) / 3) + 0.9 * np.exp(-((h - 20) ** 2) / 5)
    business = 0.35 + 1.0 * ((h >= 8) & (h < 19))
    heat = 1.2 + np.cos(2 * np.pi * (h - 6) / 24)  # more heating at night and morning
    return residential / residential.sum(), business / business.sum(), heat / heat.sum()


@dataclass
class MeteredSites:
    """The sites with a load curve and their planted parameters."""

    site_id: list[str]
    meter_point: list[str]
    region_idx: np.ndarray
    business: np.ndarray
    base_day: np.ndarray  # kWh per day
    gradient: np.ndarray  # kWh per degree-day
    anomalies: list[Anomaly]


@dataclass(frozen=True)
class Anomaly:
    """One planted anomaly: site index (into the metered sites), kind, [start, end) in µs."""

    site: int
    kind: str  # spike | zero | step
    start: int
    end: int


def plant_anomalies(rng: np.random.Generator, n: int) -> list[Anomaly]:
    """A few sites get one anomaly each: a spike, a zero period or a step change."""
    k = max(3, n // 15)
    chosen = rng.choice(n, min(k, n), replace=False)
    out = []
    for j, s in enumerate(chosen.tolist()):
        kind = ("spike", "zero", "step")[j % 3]
        day = int(rng.integers(20, 330))
        if kind == "spike":
            start = T0 + day * DAY + int(rng.integers(8, 16)) * 3600 * US
            end = start + 6 * 3600 * US
        elif kind == "zero":
            start = T0 + day * DAY
            end = start + int(rng.integers(3, 8)) * DAY
        else:
            start = T0 + day * DAY
            end = T0 + DAYS * DAY
        out.append(Anomaly(s, kind, start, end))
    return out


def load_curves(
    rng: np.random.Generator, sites: MeteredSites, temps: np.ndarray
) -> Iterator[pa.Table]:
    """The ``meter_readings`` rows, one month at a time."""
    res_shape, bus_shape, heat_shape = _shapes()
    dd = degree_days(temps)
    n = len(sites.site_id)
    base_shape = np.where(sites.business[:, None], bus_shape[None, :], res_shape[None, :])
    weekday = (np.arange(DAYS) + 2) % 7  # 2025-01-01 is a Wednesday (0 = Monday)
    site_ids = pa.array(sites.site_id, pa.string())
    meters = pa.array(sites.meter_point, pa.string())
    for m in range(12):
        a, b = month_bounds()[m]
        days = np.arange((a - T0) // DAY, (b - T0) // DAY)
        nd = len(days)
        f = 1 + rng.normal(0, 0.04, (n, nd))
        weekend = weekday[days] >= 5
        f = np.where(sites.business[:, None] & weekend[None, :], f * 0.45, f)
        e = 1 + rng.normal(0, 0.08, (n, nd, SLOTS))
        base = sites.base_day[:, None, None] * base_shape[:, None, :] * f[:, :, None]
        heat = (sites.gradient[:, None] * dd[sites.region_idx][:, days])[:, :, None] * heat_shape[None, None, :]
        kwh = (base + heat) * e
        ts = T0 + (days[:, None] * DAY + np.arange(SLOTS)[None, :] * 1800 * US)  # nd × 48
        ts_all = np.broadcast_to(ts[None], (n, nd, SLOTS))
        for anomaly in sites.anomalies:
            s = anomaly.site
            window = (ts_all[s] >= anomaly.start) & (ts_all[s] < anomaly.end)
            if anomaly.kind == "spike":
                kwh[s][window] *= 8.0
            elif anomaly.kind == "zero":
                kwh[s][window] = 0.0
            else:
                kwh[s][window] += (0.8 * base[s] * e[s])[window]
        rows = n * nd * SLOTS
        idx = np.repeat(np.arange(n), nd * SLOTS)
        yield pa.table(
            {
                "meter_point": meters.take(pa.array(idx)),
                "site_id": site_ids.take(pa.array(idx)),
                "ts": pa.array(ts_all.ravel(), pa.timestamp("us", tz="UTC")),
                "interval_minutes": pa.array(np.full(rows, 30, dtype=np.int16)),
                "kwh": pa.array(np.round(kwh.ravel(), 4)),
                "quality": take(["measured"], np.zeros(rows, dtype=np.int64)),
            }
        )


def to_date(us: int) -> str:
    return dt.datetime.fromtimestamp(us / US, tz=dt.UTC).isoformat()
