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
  the analyses sort on the columns themselves.

A new commit to either table gives a new key: the next call builds the new version and
drops the old one. On Spark (or any other engine) there is no store: the analyses run
on the plain Ibis expression, which is what the parity tests compare against.
"""

from __future__ import annotations

import os
import threading
import uuid
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from parcours.workspace import Workspace

#: The store's order key column (see module doc).
ORDER = "_order"

#: Largest order key: the product must stay well inside a signed 64-bit integer.
_MAX_KEY = 2**62

#: Per engine: {(tenant, zone): (versions, table name, type names, Ibis table)}.
_built: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], tuple[Any, ...]]] = (
    weakref.WeakKeyDictionary())
_lock = threading.Lock()


def _version(ws: Workspace, tenant: str, zone: str, name: str) -> int:
    """A table's latest Delta version from its log's file names (cheap); -1 if absent."""
    log = ws.lake.path(tenant, zone, name) / "_delta_log"
    try:
        found = [int(n[:-5]) for n in os.listdir(log) if n.endswith(".json") and n[:-5].isdigit()]
    except FileNotFoundError:
        return -1
    return max(found) if found else ws.lake.version(tenant, zone, name)


def versions(ws: Workspace, tenant: str, zone: str) -> tuple[int, int]:
    """The (events, identity map) versions a tenant's journey events depend on."""
    return (_version(ws, tenant, zone, "events"), _version(ws, tenant, zone, "identity_map"))


def stored_events(ws: Workspace, tenant: str, zone: str, source: ir.Table) -> ir.Table:
    """The tenant's journey events from the store, built from ``source`` (the plain
    journey events expression) when its versions changed; ``source`` itself when the
    engine has no store (not DuckDB)."""
    if source.get_backend().name != "duckdb":
        return source
    engine = ws.engine
    key = (tenant, zone)
    vers = versions(ws, tenant, zone)
    with _lock:
        per = _built.setdefault(engine, {})
        got = per.get(key)
        if got is not None and got[0] == vers:
            return engine.con.table(got[1])
        name = f"parcours_journeys__{tenant}__{zone}__e{vers[0]}_m{vers[1]}"
        types = materialize(source, name)
        per[key] = (vers, name, types)
        if got is not None and got[1] != name:
            _drop(source.get_backend(), got[1], got[2])
        return engine.con.table(name)


def materialize(t: ir.Table, name: str) -> list[str]:
    """Write the journey events table ``t`` (on DuckDB) as the store table ``name``:
    ENUM ``event``/``channel``/``type`` and the :data:`ORDER` key (module doc). Returns
    the ENUM type names created (dropped with the table)."""
    backend = t.get_backend()
    if backend.name != "duckdb":
        raise ValueError("the journey store is DuckDB's; other engines read the plain table")
    q = _quote
    stage = f"{name}__stage_{uuid.uuid4().hex[:8]}"
    cols = [c for c in t.columns if c != ORDER]
    backend.raw_sql(f"CREATE OR REPLACE TEMP TABLE {q(stage)} AS {backend.compile(t.select(cols))}")
    types: list[str] = []
    try:
        select = []
        for c in cols:
            if c in ("event", "channel", "type"):
                typ = f"{name}__{c}"
                backend.raw_sql(f"DROP TYPE IF EXISTS {q(typ)}")
                backend.raw_sql(
                    f"CREATE TYPE {q(typ)} AS ENUM (SELECT DISTINCT {q(c)} FROM {q(stage)} "
                    f"WHERE {q(c)} IS NOT NULL ORDER BY 1)")
                types.append(typ)
                select.append(f"s.{q(c)}::{q(typ)} AS {q(c)}")
            else:
                select.append(f"s.{q(c)}")
        ties = [f"coalesce(CAST({q(c)} AS VARCHAR), '')" for c in ("channel", "event", "type")
                if c in cols]
        order = _order_sql(backend, stage, ties) if "ts" in cols and ties else None
        if order is None:
            body = f"SELECT {', '.join(select)} FROM {q(stage)} AS s"
        else:
            key_sql, combos = order
            body = (f"WITH k AS ({combos}) SELECT {', '.join(select)}, {key_sql} AS {q(ORDER)} "
                    f"FROM (SELECT *, {ties[0]} AS _c, {ties[1]} AS _e, {ties[2]} AS _t "
                    f"FROM {q(stage)}) AS s JOIN k ON s._c = k._c AND s._e = k._e AND s._t = k._t")
        backend.raw_sql(f"CREATE OR REPLACE TABLE {q(name)} AS {body}")
    except Exception:
        for typ in types:
            backend.raw_sql(f"DROP TYPE IF EXISTS {q(typ)}")
        raise
    finally:
        backend.raw_sql(f"DROP TABLE IF EXISTS {q(stage)}")
    return types


def _order_sql(backend: Any, stage: str, ties: list[str]) -> tuple[str, str] | None:
    """The order key's expression and its tie ranks' query, or None when it would not fit
    (or with other columns than channel, event and type to break ties)."""
    if len(ties) != 3:
        return None
    q = _quote
    combos = (f"SELECT _c, _e, _t, (row_number() OVER (ORDER BY _c, _e, _t) - 1) AS _r "
              f"FROM (SELECT DISTINCT {ties[0]} AS _c, {ties[1]} AS _e, {ties[2]} AS _t "
              f"FROM {q(stage)})")
    row = backend.raw_sql(
        f"SELECT min(epoch_us(ts)), max(epoch_us(ts)), "
        f"(SELECT count(*) FROM ({combos})) FROM {q(stage)}").fetchone()
    low, high, k = row
    if low is None or not k or (high - low + 1) * k >= _MAX_KEY:
        return None
    return f"(epoch_us(s.ts) - {int(low)}) * {int(k)} + k._r", combos


def _drop(backend: Any, name: str, types: list[str]) -> None:
    backend.raw_sql(f"DROP TABLE IF EXISTS {_quote(name)}")
    for typ in types:
        backend.raw_sql(f"DROP TYPE IF EXISTS {_quote(typ)}")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
