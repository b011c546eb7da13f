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
* ``_pid`` (:data:`PROFILE`): the profile as a small integer (numbered in ``profile_id``
  order), which the funnel partitions and groups on instead of the ``profile_id`` text.

The rows are sorted by ``(_pid, _order)`` (events without a profile last): DuckDB reads
a table's rows in their order, so the numpy kernels (:mod:`parcours.journeys.kernels`)
get each profile's events already in time order and sort nothing (they check it, in one
linear pass), and a range of profile codes is a contiguous range of rows. The tables
live in :data:`CATALOG`, an in-memory DuckDB database attached with compression
(``ATTACH ':memory:' ... (COMPRESS)``): the rows are compressed when it checkpoints
(sorted, the profile codes and ids run-length and dictionary encoded, times and keys
bit-packed): about 17 bytes an event against 49 in the engine's own in-memory database
(100 M events: 1.7 GB instead of 4.9). To hold one piece uncompressed at a time, a
large table is written in pieces of :data:`BUILD_EVENTS` events (ranges of profile
codes, each sorted and inserted, then a checkpoint).

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

from parcours.engine.duckdb import sql_ident, sql_string

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from parcours.workspace import Workspace

#: The store's order key column (see module doc).
ORDER = "_order"
#: The store's profile code: a small integer per ``profile_id`` (null without one).
PROFILE = "_pid"

#: The DuckDB database holding the stores: in memory, compressed (``ATTACH ':memory:'
#: ... (COMPRESS)``, attached to the engine's database on first use).
CATALOG = "parcours_journeys"
#: Events per piece of a store's build (module doc).
BUILD_EVENTS = 10_000_000

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
            return table(engine.con, got[1])
        name = f"parcours_journeys__{tenant}__{zone}__e{vers[0]}_m{vers[1]}"
        types = materialize(source, name)
        with _lock:
            per[key] = (vers, name, types)
        if got is not None and got[1] != name:
            _drop(source.get_backend(), got[1], got[2])
        return table(engine.con, name)


def materialize(t: ir.Table, name: str) -> list[str]:
    """Write the journey events table ``t`` (on DuckDB) as the store table ``name`` in
    :data:`CATALOG`: ENUM ``event``/``channel``/``type``, the :data:`PROFILE` code and
    the :data:`ORDER` key, rows sorted by profile code and order key (module doc).
    Returns the ENUM type names created (dropped with the table). Read it back with
    :func:`table`.

    ``t`` is read once for its distinct names, time bounds and size (one small
    aggregate), once for its distinct profiles, then once per piece of
    :data:`BUILD_EVENTS` events (a range of profile codes), each piece sorted and
    compressed (a checkpoint) before the next: the build holds one piece uncompressed.
    """
    import pyarrow as pa

    backend = t.get_backend()
    if backend.name != "duckdb":
        raise ValueError("the journey store is DuckDB's; other engines read the plain table")
    attach(backend)
    q = sql_ident
    cols = [c for c in t.columns if c not in (ORDER, PROFILE)]
    src = backend.compile(t.select(cols))
    named = [c for c in ("channel", "event", "type") if c in cols]
    with_ts = "ts" in cols
    with_profile = "profile_id" in cols
    aggs = ", min(epoch_us(ts)), max(epoch_us(ts))" if with_ts else ""
    nulls = ", count(*) FILTER (WHERE profile_id IS NULL)" if with_profile else ", 0"
    seen = backend.raw_sql(
        f"SELECT {', '.join(f'CAST({q(c)} AS VARCHAR)' for c in named) or 'NULL'}{aggs}, "
        f"count(*){nulls} FROM ({src}) GROUP BY ALL").fetchall()
    n = len(named)
    total = sum(r[-2] for r in seen)
    anonymous = sum(r[-1] for r in seen)
    types: list[str] = []
    combos = f"{name}__ties_{uuid.uuid4().hex[:8]}"
    pids = f"{name}__pids_{uuid.uuid4().hex[:8]}"
    target = f"{CATALOG}.main.{q(name)}"
    try:
        select = {c: f"s.{q(c)}" for c in cols}
        for i, c in enumerate(named):
            typ = f"{name}__{c}"
            values = sorted({r[i] for r in seen if r[i] is not None})
            backend.raw_sql(f"DROP TYPE IF EXISTS {_type(typ)}")
            backend.raw_sql(f"CREATE TYPE {_type(typ)} AS ENUM ({', '.join(map(sql_string, values))})")
            types.append(typ)
            select[c] = f"CAST(s.{q(c)} AS {_type(typ)}) AS {q(c)}"
        profiles = 0
        if with_profile:
            # profiles as small integers, numbered in text order (a range of codes is a
            # range of ids): the analyses partition, join and sort on them
            backend.raw_sql(
                f"CREATE TEMP TABLE {q(pids)} AS SELECT profile_id, "
                f"CAST(row_number() OVER (ORDER BY profile_id) AS INTEGER) AS {q(PROFILE)} "
                f"FROM (SELECT DISTINCT profile_id FROM ({src}) WHERE profile_id IS NOT NULL)")
            profiles = backend.raw_sql(f"SELECT count(*) FROM {q(pids)}").fetchall()[0][0]
            select[PROFILE] = f"p.{q(PROFILE)}"
            src = f"({src}) AS s LEFT JOIN {q(pids)} AS p ON s.profile_id = p.profile_id"
        else:
            src = f"({src}) AS s"
        columns = ", ".join(select.values())
        lows = [r[n] for r in seen if with_ts and r[n] is not None]
        sort = [f"{q(PROFILE)} NULLS LAST"] if with_profile else []
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
                columns += f", (epoch_us(s.ts) - {int(low)}) * {k} + k._r AS {q(ORDER)}"
                src += f" JOIN {q(combos)} AS k ON {on}"
                sort.append(q(ORDER))
        if ORDER not in sort and with_ts:
            sort.append(q("ts"))
        order_by = f" ORDER BY {', '.join(sort)}" if sort else ""
        body = f"SELECT {columns} FROM {src}"
        pieces = _pieces(total, profiles, anonymous) if with_profile else [None]
        for i, piece in enumerate(pieces):
            where = "" if piece is None else f" WHERE {piece}"
            verb = f"CREATE OR REPLACE TABLE {target} AS" if i == 0 else f"INSERT INTO {target}"
            backend.raw_sql(f"{verb} {body}{where}{order_by}")
            _checkpoint(backend)
    except Exception:
        with contextlib.suppress(Exception):
            backend.raw_sql(f"DROP TABLE IF EXISTS {target}")
        for typ in types:
            backend.raw_sql(f"DROP TYPE IF EXISTS {_type(typ)}")
        raise
    finally:
        with contextlib.suppress(Exception):
            backend.con.unregister(combos)
        with contextlib.suppress(Exception):
            backend.raw_sql(f"DROP TABLE IF EXISTS temp.main.{q(pids)}")
    return types


def _pieces(total: int, profiles: int, anonymous: int) -> list[str | None]:
    """The build's pieces as conditions on the profile code: ranges of codes of about
    :data:`BUILD_EVENTS` events (profiles hold about as many events each in any range
    of their text order), then the events without a profile; one piece (None) when the
    table is small."""
    if total <= BUILD_EVENTS or not profiles:
        return [None]
    count = -(-(total - anonymous) // BUILD_EVENTS)
    bounds = sorted({1 + (profiles * i) // count for i in range(count + 1)})
    p = f"p.{sql_ident(PROFILE)}"
    out: list[str | None] = [f"{p} >= {lo} AND {p} < {hi}"
                             for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    if anonymous:
        out.append(f"{p} IS NULL")
    return out


def _checkpoint(backend: Any) -> None:
    """Compress what the store database holds (an in-memory database compresses at a
    checkpoint). Another thread writing there at the same time makes it fail: the rows
    then stay uncompressed until the next checkpoint, which changes no answer."""
    import duckdb

    with contextlib.suppress(duckdb.TransactionException):
        backend.raw_sql(f"CHECKPOINT {CATALOG}")


def attach(backend: Any) -> None:
    """Attach :data:`CATALOG` (compressed, in memory) to ``backend``'s DuckDB database."""
    backend.raw_sql(f"ATTACH IF NOT EXISTS ':memory:' AS {CATALOG} (COMPRESS)")


def table(backend: Any, name: str) -> ir.Table:
    """The store table ``name`` (written by :func:`materialize`) on ``backend``."""
    return backend.table(name, database=(CATALOG, "main"))


def _drop(backend: Any, name: str, types: list[str]) -> None:
    backend.raw_sql(f"DROP TABLE IF EXISTS {CATALOG}.main.{sql_ident(name)}")
    for typ in types:
        backend.raw_sql(f"DROP TYPE IF EXISTS {_type(typ)}")
    _checkpoint(backend)


def _type(name: str) -> str:
    return f"{CATALOG}.main.{sql_ident(name)}"




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
