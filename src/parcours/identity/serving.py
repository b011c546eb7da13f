"""Fill the serving store from the lake: keys, profiles (with their 360 document),
timeline and verbatims per profile. Run after each resolution.

Everything a 360 request needs is precomputed here, so a request is a handful of
primary-key reads, no engine work and no JSON parsing: the stored values are the JSON
the API returns, spliced into the response as they are.

* ``keys``: every identifier of the identity map, indexed by value and by profile;
* ``profiles``: one compressed document per profile — the profile's JSON (dates, counts,
  traits, attributes), a newline, then its domain summaries
  (:mod:`parcours.identity.summaries`) — indexed by ``merged_into`` too (the profiles
  merged into a survivor);
* ``timeline``: each profile's newest :data:`TIMELINE_DEPTH` events, newest first, each
  event stored **once**: chunks of :data:`CHUNK` events over all channels, indexed by
  ``(profile_id, chunk)``. A chunk's value is its events' JSON objects (keys in
  :data:`EVENT_FIELDS` order) joined by newlines (JSON text never holds a raw newline),
  compressed with :func:`parcours.engine.serving.pack`; beside it, uncompressed and
  in the index, the chunk's event count (``size``) and its events per channel
  (``channels``, a JSON object). A page is one or two chunk reads; a page of one
  channel reads the profile's index entries first (no chunk), then only the chunks
  holding that page's events. Pages past the stored depth are read from the lake;
* ``verbatims``: each profile's :data:`VERBATIMS_PER_PROFILE` newest verbatims, newest
  first, one compressed value of newline-joined JSON objects per profile.

The rows are shaped (ranked, chunked, rendered as JSON) by one SQL statement per table
on DuckDB — the engine's own connection on the embedded default, so the lake is read
once and no Python loop touches an event; on another engine the same statements run on
a local DuckDB over the Arrow result of the engine-neutral Ibis expression. The rows
reach SQLite as Arrow batches, their large values compressed on the way, inserted in
primary-key order.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis

from parcours.engine.serving import ServingStore, pack
from parcours.identity.api import events_with_profiles
from parcours.identity.summaries import summaries_sql

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

    from parcours.progress import Progress
    from parcours.workspace import Workspace

#: Events kept per profile in the store (newest first); older pages are read from the
#: lake. High enough that nearly every profile is whole in the store, so a page of a
#: rare channel seldom falls through to the lake.
TIMELINE_DEPTH = 10_000
#: Events per stored timeline chunk.
CHUNK = 50
VERBATIMS_PER_PROFILE = 10
#: Bumped whenever the tables below change; a store of another version is rebuilt.
SCHEMA_VERSION = "3"
BATCH_ROWS = 20_000
#: Events per pass of the timeline statement: past this the profiles are split into
#: parts (by a hash of the profile id) shaped one after the other, so the per-profile
#: lists in DuckDB's aggregate hold one part's events, not the whole log's.
PART_EVENTS = 5_000_000

SCHEMA = [
    "CREATE TABLE keys (key TEXT NOT NULL, id_type TEXT NOT NULL, profile_id TEXT NOT NULL, "
    "status TEXT NOT NULL)",
    # rowid tables with the keys indexed after the load: a chunk is a few kB, too large
    # for a WITHOUT ROWID table (whose rows should stay under ~1/20 of a page)
    "CREATE TABLE profiles (profile_id TEXT NOT NULL, merged_into TEXT, doc BLOB)",
    "CREATE TABLE timeline (profile_id TEXT NOT NULL, chunk INTEGER NOT NULL, size INTEGER NOT NULL, "
    "channels TEXT NOT NULL, events BLOB NOT NULL)",
    "CREATE TABLE verbatims (profile_id TEXT NOT NULL, items BLOB NOT NULL)",
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)",
    "CREATE INDEX keys_key ON keys (key)",
    "CREATE INDEX keys_profile ON keys (profile_id, id_type, key)",
    "CREATE UNIQUE INDEX profiles_id ON profiles (profile_id)",
    "CREATE INDEX profiles_merged ON profiles (merged_into) WHERE merged_into IS NOT NULL",
    # covering: a channel page reads a profile's sizes and channel counts from the index
    "CREATE UNIQUE INDEX timeline_page ON timeline (profile_id, chunk, size, channels)",
    "CREATE UNIQUE INDEX verbatims_profile ON verbatims (profile_id)",
]

#: Seconds per table of the last refresh in this process (benchmarks read it).
last_timings: dict[str, float] = {}
_stores: dict[tuple[Path, str, str], ServingStore] = {}
_stores_lock = threading.Lock()


def store(ws: Workspace, tenant: str, zone: str) -> ServingStore:
    """The serving store of one tenant zone: one object per file and process, so each
    thread keeps its SQLite connection (and page cache) from request to request."""
    key = (Path(ws.serving_dir), tenant, zone)
    with _stores_lock:
        s = _stores.get(key)
        if s is None:
            s = _stores[key] = ServingStore(ws.serving_dir, tenant, zone)
        return s


def current(s: ServingStore) -> bool:
    """True if the store file exists and has this version's tables."""
    if not s.exists():
        return False
    try:  # the meta table is read once per connection (reopened when a rebuild replaces the file)
        return s.meta().get("schema") == SCHEMA_VERSION
    except Exception:  # noqa: BLE001 - an older store without the table, a broken or vanished file
        return False


# -- SQL building blocks (DuckDB) -------------------------------------------------------
def iso_sql(col: str, sep: str = "T", tz: bool = True) -> str:
    """A timestamp column as Python's ``isoformat()`` writes it (no fraction when zero;
    ``+00:00`` for the lake's UTC timestamps, nothing for naive ones)."""
    suffix = "+00:00" if tz else ""
    whole = f"strftime({col}, '%Y-%m-%d{sep}%H:%M:%S{suffix}')"
    frac = f"strftime({col}, '%Y-%m-%d{sep}%H:%M:%S.%f{suffix}')"
    return f"CASE WHEN {col} IS NULL THEN NULL WHEN microsecond({col}) % 1000000 = 0 THEN {whole} ELSE {frac} END"


def _json_text(col: str, empty: str = "NULL") -> str:
    """A JSON text column embedded as JSON (kept as a string when it does not parse)."""
    return (f"CASE WHEN {col} IS NULL THEN {empty}::JSON WHEN json_valid({col}) THEN {col}::JSON "
            f"ELSE to_json({col}) END")


class _Sql:
    """Run the shaping statements where the data is: on the DuckDB engine's connection,
    or on a local DuckDB over Arrow results of the configured engine."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.native = getattr(ws.engine, "kind", "") == "duckdb"
        if self.native:
            self.con = ws.engine.duckdb  # type: ignore[attr-defined]
        else:
            import duckdb

            self.con = duckdb.connect(":memory:")
            self.con.execute("SET TimeZone = 'UTC'")
        self._registered: list[str] = []

    def relation(self, expr: ir.Table) -> str:
        """``expr`` as something a FROM clause takes."""
        if self.native:
            return f"({self.ws.engine.con.compile(expr)})"
        return self.arrow(expr.to_pyarrow())

    def arrow(self, table: pa.Table) -> str:
        name = f"_serving_{uuid.uuid4().hex[:12]}"
        self.con.register(name, table)
        self._registered.append(name)
        return name

    def batches(self, sql: str) -> Iterator[pa.RecordBatch]:
        reader = self.con.sql(sql).to_arrow_reader(BATCH_ROWS)
        yield from reader

    def close(self) -> None:
        for name in self._registered:
            self.con.unregister(name)
        if not self.native:
            self.con.close()


#: The fields of a stored timeline event, in the order of its JSON object.
EVENT_FIELDS = ("ts", "channel", "type", "event", "message_id", "properties")


def _timeline_sql(ev: str) -> str:
    order = "timestamp DESC, message_id DESC"
    item = (
        "json_object('ts', " + iso_sql("timestamp") + ", 'channel', channel, 'type', type, 'event', event, "
        "'message_id', message_id, 'properties', " + _json_text("properties") + ")"
    )
    # one ordered list per profile (one sort), cut into chunks: a profile's chunks come
    # out together, in order, with no window and no second sort
    return f"""
        WITH l AS (
            SELECT profile_id,
                   list(struct_pack(j := CAST({item} AS VARCHAR), c := channel) ORDER BY {order}) AS e
            FROM {ev} GROUP BY profile_id
        ),
        c AS (
            SELECT profile_id, e, unnest(range(0, (least(len(e), {TIMELINE_DEPTH}) + {CHUNK - 1}) // {CHUNK}))
                   AS chunk
            FROM l
        ),
        s AS (SELECT profile_id, chunk, e[chunk * {CHUNK} + 1 : least((chunk + 1) * {CHUNK}, {TIMELINE_DEPTH})]
                     AS e FROM c)
        SELECT profile_id, chunk, len(e) AS size,
               CAST(to_json(list_aggregate([x.c FOR x IN e IF x.c IS NOT NULL], 'histogram')) AS VARCHAR)
                   AS channels,
               array_to_string([x.j FOR x IN e], chr(10)) AS events
        FROM s
    """


def _profiles_sql(prof: str, summ: str | None) -> str:
    summary = "COALESCE(s.summary, '{}')" if summ else "'{}'"
    join = f"LEFT JOIN {summ} AS s ON s.profile_id = p.profile_id" if summ else ""
    doc = (
        "json_object('created_at', " + iso_sql("p.created_at", " ") + ", 'updated_at', "
        + iso_sql("p.updated_at", " ") + ", 'first_seen', " + iso_sql("p.first_seen", " ")
        + ", 'last_seen', " + iso_sql("p.last_seen", " ") + ", 'identifiers', p.identifiers, "
        "'events', p.events, 'traits', " + _json_text("p.traits", "'{}'") + ", 'attributes', "
        + _json_text("p.attributes", "'{}'") + ")"
    )
    return (f"SELECT p.profile_id, p.merged_into, CAST({doc} AS VARCHAR) || chr(10) || {summary} AS doc "
            f"FROM {prof} AS p {join} ORDER BY p.profile_id")


def _verbatims_sql(verb: str) -> str:
    item = ("json_object('ts', " + iso_sql("ts") + ", 'channel', channel, 'verbatim_id', verbatim_id, "
            "'subject', subject, 'text', text)")
    return f"""
        WITH r AS (
            SELECT profile_id, CAST({item} AS VARCHAR) AS j,
                   row_number() OVER (PARTITION BY profile_id ORDER BY ts DESC, verbatim_id DESC) AS n
            FROM {verb}
        )
        SELECT profile_id, string_agg(j, chr(10) ORDER BY n) AS items
        FROM r WHERE n <= {VERBATIMS_PER_PROFILE} GROUP BY profile_id ORDER BY profile_id
    """


def _timeline_rows(sql: _Sql, ev: ir.Table, events: int, scratch: Path,
                   progress: Progress | None = None) -> Iterator[pa.RecordBatch]:
    """The timeline rows, shaped in one pass or, past :data:`PART_EVENTS` events, in
    parts: the profiled events (the lake and the identity map read and joined once) are
    first written as Parquet partitioned by a hash of the profile id under ``scratch``
    (streamed: on disk, compressed, never whole in memory), then each part's files are
    shaped in turn."""
    parts = max(1, -(-events // PART_EVENTS))
    rel = sql.relation(ev)
    if parts == 1:
        yield from sql.batches(_timeline_sql(rel))
        return
    from parcours.engine.duckdb import sql_string

    folder = scratch / f"timeline-{uuid.uuid4().hex[:12]}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        sql.con.execute(
            f"COPY (SELECT hash(profile_id) % {parts} AS _part, * FROM {rel}) TO {sql_string(str(folder))} "
            "(FORMAT parquet, PARTITION_BY (_part), COMPRESSION zstd)"
        )
        for part in range(parts):
            files = sorted((folder / f"_part={part}").glob("*.parquet"))
            if files:
                src = f"read_parquet([{', '.join(sql_string(str(f)) for f in files)}], hive_partitioning = false)"
                yield from sql.batches(_timeline_sql(f"(SELECT * FROM {src})"))  # files hold no _part
            if progress is not None:
                progress("serving store timeline", part + 1, parts)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _packed(batches: Iterable[pa.RecordBatch], packed: int) -> Iterator[tuple[Any, ...]]:
    """The batches' rows as tuples, column ``packed`` compressed (:func:`pack`)."""
    for b in batches:
        cols = [b.column(i).to_pylist() for i in range(b.num_columns)]
        cols[packed] = [pack(v) for v in cols[packed]]
        yield from zip(*cols, strict=True)


def refresh(ws: Workspace, tenant: str, zone: str, *, progress: Progress | None = None) -> int:
    """Rebuild the serving store of one tenant zone; returns the profiles it holds."""

    def step(i: int) -> None:
        if progress is not None:
            progress(f"serving store ({zone})", i, 3)

    sql = _Sql(ws)
    try:
        m = ws.table(tenant, "identity_map", zone).select("identifier", "id_type", "profile_id", "status")
        prof = ws.table(tenant, "profiles", zone)
        n_profiles = ws.lake.info(tenant, zone, "profiles").rows
        summ = summaries_sql(ws, tenant, zone, sql.relation)
        step(1)
        ev = events_with_profiles(ws, tenant, zone)
        ev = ev.filter(ev.profile_id.notnull()).select(
            "profile_id", "timestamp", "channel", "type", "event", "message_id", "properties"
        )
        verb = _verbatims(ws, tenant, zone)
        tables: dict[str, tuple[list[str], Any]] = {
            "keys": (["key", "id_type", "profile_id", "status"],
                     sql.batches(f"SELECT * FROM {sql.relation(m)}")),
            "profiles": (["profile_id", "merged_into", "doc"], _packed(sql.batches(
                _profiles_sql(sql.relation(prof), f"({summ})" if summ is not None else None)), 2)),
            "timeline": (["profile_id", "chunk", "size", "channels", "events"],
                         _packed(_timeline_rows(sql, ev, ws.lake.info(tenant, zone, "events").rows,
                                                Path(ws.state_dir) / "serving-scratch", progress), 4)),
            "verbatims": (["profile_id", "items"],
                          _packed(sql.batches(_verbatims_sql(sql.relation(verb))), 1) if verb is not None else []),
            # the depth and chunk size the store was built with: readers use these, not
            # this module's constants (which a test or a newer version may change)
            "meta": (["name", "value"], [("schema", SCHEMA_VERSION), ("timeline_depth", str(TIMELINE_DEPTH)),
                                         ("chunk", str(CHUNK))]),
        }
        step(2)
        last_timings.clear()
        last_timings.update(store(ws, tenant, zone).rebuild(SCHEMA, tables))
    finally:
        sql.close()
    step(3)
    return n_profiles


def _verbatims(ws: Workspace, tenant: str, zone: str) -> ir.Table | None:
    if not ws.lake.exists(tenant, zone, "verbatims"):
        return None
    v = ws.table(tenant, "verbatims", zone)
    m = ws.table(tenant, "identity_map", zone)
    linked = m.filter(m.status == "linked")
    by_user = linked.filter(linked.id_type == "user_id").select(_u="identifier", _pu="profile_id")
    by_handle = linked.filter(linked.id_type == "social_handle").select(_h="identifier", _ph="profile_id")
    j = v.left_join(by_user, v.user_id == by_user._u).left_join(by_handle, v.author == by_handle._h)
    return j.select(
        profile_id=ibis.coalesce(j._pu, j._ph), ts=j.ts, channel=j.channel,
        verbatim_id=j.verbatim_id, subject=j.subject, text=j.text,
    ).filter(ibis._.profile_id.notnull())
