"""The journey store: a tenant's journey events table, built once per version.

:func:`parcours.journeys.base.journey_events` joins the lake's events with the identity
map. Every analysis, page and API call used to run that join again and scan event
names as text. On the embedded engine (DuckDB) the store materializes the join once
per tenant, zone and pair of versions (events table, identity map) as a DuckDB table:

* ``event``, ``channel`` and ``type`` as DuckDB ``ENUM`` columns: dictionary codes, so
  filters, groupings and sorts on them compare one byte instead of a string (Ibis reads
  them as strings: the analyses are unchanged);
* ``_order`` (:data:`ORDER`): one ``BIGINT`` per event ordering a profile's events as the
  analyses do — time, then channel, event and type (nulls as empty strings) — so a
  window sorts one integer instead of a timestamp and three strings. It is
  ``(microseconds since the earliest event) * K + r``, ``r`` the rank of the event's
  ``(channel, event, type)`` among the ``K`` present; equal keys mean equal rows for
  every analysis. When that product would not fit in 62 bits the column is left out and
  the analyses sort on the columns themselves;
* ``_pid`` (:data:`PROFILE`): the profile as a small integer, which the funnel
  partitions and groups on instead of the ``profile_id`` text.

A new commit to either table gives a new key: the next call builds the new version and
drops the old one. On Spark (or any other engine) there is no store: the analyses run
on the plain Ibis expression, which is what the parity tests compare against.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from parcours.workspace import Workspace

#: The store's order key column (see module doc).
ORDER = "_order"
#: The store's profile code: a small integer per ``profile_id`` (null without one).
PROFILE = "_pid"

#: Largest order key: the product must stay well inside a signed 64-bit integer.
_MAX_KEY = 2**62

#: Per engine: {(tenant, zone): (versions, table name, type names, Ibis table)}.
_built: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], tuple[Any, ...]]] = (
    weakref.WeakKeyDictionary())
_lock = threading.Lock()
_building: dict[tuple[int, str, str], threading.Lock] = {}


def versions(ws: Workspace, tenant: str, zone: str) -> tuple[int, int]:
    """The (events, identity map) versions a tenant's journey events depend on."""
    return (ws.lake.head_version(tenant, zone, "events"),
            ws.lake.head_version(tenant, zone, "identity_map"))


def stored_events(ws: Workspace, tenant: str, zone: str, source: ir.Table) -> ir.Table:
    """The tenant's journey events from the store, built from ``source`` (the plain
    journey events expression) when its versions changed; ``source`` itself when the
    engine has no store (not DuckDB)."""
    if source.get_backend().name != "duckdb":
        return source
    engine = ws.engine
    key = (tenant, zone)
    vers = versions(ws, tenant, zone)
    with _lock:  # one build at a time per tenant and zone; other tenants go on
        building = _building.setdefault((id(engine), tenant, zone), threading.Lock())
    with building:
        with _lock:
            per = _built.setdefault(engine, {})
            got = per.get(key)
        if got is not None and got[0] == vers:
            return engine.con.table(got[1])
        name = f"parcours_journeys__{tenant}__{zone}__e{vers[0]}_m{vers[1]}"
        types = materialize(source, name)
        with _lock:
            per[key] = (vers, name, types)
        if got is not None and got[1] != name:
            _drop(source.get_backend(), got[1], got[2])
        return engine.con.table(name)


def materialize(t: ir.Table, name: str) -> list[str]:
    """Write the journey events table ``t`` (on DuckDB) as the store table ``name``:
    ENUM ``event``/``channel``/``type`` and the :data:`ORDER` key (module doc). Returns
    the ENUM type names created (dropped with the table).

    ``t`` is read twice: once for its distinct names and time bounds (one small
    aggregate), once to write the table; nothing else is held in memory meanwhile.
    """
    import pyarrow as pa

    backend = t.get_backend()
    if backend.name != "duckdb":
        raise ValueError("the journey store is DuckDB's; other engines read the plain table")
    q = _quote
    cols = [c for c in t.columns if c not in (ORDER, PROFILE)]
    src = backend.compile(t.select(cols))
    named = [c for c in ("channel", "event", "type") if c in cols]
    with_ts = "ts" in cols
    aggs = ", min(epoch_us(ts)), max(epoch_us(ts))" if with_ts else ""
    seen = backend.raw_sql(
        f"SELECT {', '.join(f'CAST({q(c)} AS VARCHAR)' for c in named) or 'NULL'}{aggs} "
        f"FROM ({src}) GROUP BY ALL").fetchall()
    n = len(named)
    types: list[str] = []
    combos = f"{name}__ties_{uuid.uuid4().hex[:8]}"
    try:
        select = {c: f"s.{q(c)}" for c in cols}
        for i, c in enumerate(named):
            typ = f"{name}__{c}"
            values = sorted({r[i] for r in seen if r[i] is not None})
            backend.raw_sql(f"DROP TYPE IF EXISTS {q(typ)}")
            backend.raw_sql(f"CREATE TYPE {q(typ)} AS ENUM ({', '.join(map(_literal, values))})")
            types.append(typ)
            select[c] = f"CAST(s.{q(c)} AS {q(typ)}) AS {q(c)}"
        if "profile_id" in cols:
            # profiles as small integers: the analyses partition and join on them
            select[PROFILE] = f"s.{q(PROFILE)}"
            src = (f"SELECT s.*, p.{q(PROFILE)} FROM ({src}) AS s LEFT JOIN "
                   f"(SELECT profile_id, CAST(row_number() OVER () AS INTEGER) AS {q(PROFILE)} "
                   f"FROM (SELECT DISTINCT profile_id FROM ({src}) WHERE profile_id IS NOT NULL)"
                   f") AS p ON s.profile_id = p.profile_id")
        body = f"SELECT {', '.join(select.values())} FROM ({src}) AS s"
        lows = [r[n] for r in seen if with_ts and r[n] is not None]
        if n == 3 and lows:
            # the tie ranks: (channel, event, type) as the analyses order them, nulls as ""
            ties = sorted({tuple(v or "" for v in r[:3]) for r in seen})
            low, high, k = min(lows), max(r[n + 1] for r in seen if r[n + 1] is not None), len(ties)
            if (high - low + 1) * k < _MAX_KEY:
                rank = pa.table({"_c": [x[0] for x in ties], "_e": [x[1] for x in ties],
                                 "_t": [x[2] for x in ties], "_r": list(range(k))})
                backend.con.register(combos, rank)
                on = " AND ".join(f"coalesce(CAST(s.{q(c)} AS VARCHAR), '') = k.{a}"
                                  for c, a in zip(named, ("_c", "_e", "_t"), strict=True))
                body = (f"SELECT {', '.join(select.values())}, "
                        f"(epoch_us(s.ts) - {int(low)}) * {k} + k._r AS {q(ORDER)} "
                        f"FROM ({src}) AS s JOIN {q(combos)} AS k ON {on}")
        backend.raw_sql(f"CREATE OR REPLACE TABLE {q(name)} AS {body}")
    except Exception:
        for typ in types:
            backend.raw_sql(f"DROP TYPE IF EXISTS {q(typ)}")
        raise
    finally:
        with contextlib.suppress(Exception):
            backend.con.unregister(combos)
    return types


def _drop(backend: Any, name: str, types: list[str]) -> None:
    backend.raw_sql(f"DROP TABLE IF EXISTS {_quote(name)}")
    for typ in types:
        backend.raw_sql(f"DROP TYPE IF EXISTS {_quote(typ)}")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def enum_codes(col: pa.ChunkedArray) -> tuple[Any, list[str | None]]:
    """A column read from the store as integer codes and the names they stand for (the
    last one None, for nulls): the store's ENUMs arrive dictionary-encoded, so no string
    is compared; another column is dictionary-encoded first."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_dictionary(col.type):
        col = pc.dictionary_encode(col)
    col = col.unify_dictionaries()
    names = col.chunk(0).dictionary.to_pylist() if col.num_chunks else []
    small = np.int16 if len(names) < 2**15 else np.int32
    parts = [pc.fill_null(c.indices, len(names)).to_numpy().astype(small) for c in col.chunks]
    codes = np.concatenate(parts) if parts else np.empty(0, small)
    return codes, [*names, None]
