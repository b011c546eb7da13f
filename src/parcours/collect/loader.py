"""The loader: spool (or Kafka) → lake, in micro-batches, exactly once.

For each micro-batch (``collect.batch_max_events`` events, or what the spool holds):

1. records are decoded and validated with the collector's own rules: a ``/v1/batch``
   body is decoded by msgspec into ``Event``'s own types and checked on Arrow columns
   (:func:`fast_events`, :func:`_invalid`); a body with any problem — and every other
   endpoint — goes through :func:`parcours.collect.model.decode`, whose verdicts and
   reasons are the collector's (the columnar path is tested to accept exactly what
   ``decode`` accepts, and nothing else);
2. valid events are deduplicated on ``message_id`` within the batch and against the
   table's whole history (:mod:`parcours.collect.dedupe`), separately for the raw and
   the analytics zone, so a crash between the two commits of one batch is repaired
   by the next load;
3. new events are written (raw + pseudonymized analytics), rejected ones go to the
   tenant's quarantine with their reason;
4. only then are the segments the batch came from deleted (Kafka: offsets committed).

A crash anywhere before step 4 reloads the same records; step 2 drops what was
already committed, so nothing is lost and nothing is counted twice. Memory is
bounded by the micro-batch, not by the spool: segments are streamed record by record,
and :func:`load_spool` writes one batch (a thread: Arrow kernels and delta-rs release
the GIL) while it decodes the next, so at most two batches are held at once. With
``workers=N`` (opt-in) worker processes decode instead (:mod:`parcours.collect.workers`),
span by span and in spool order; this process still cuts the batches, deduplicates,
commits and deletes the segments.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from parcours.collect import quarantine as q
from parcours.collect.model import EVENT_TYPES, Event, channel_of, decode
from parcours.collect.spool import Record, SealedSegment, sealed_segments
from parcours.events import spec
from parcours.progress import Progress

if TYPE_CHECKING:
    from parcours.workspace import Workspace

_UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
LOADS_LOG = "loads.jsonl"
_EVENTS_SCHEMA = pa.schema([f for f in spec("events").schema if f.name != "day"])
_TS = pa.timestamp("us", tz="UTC")
#: The rows being built: any column may hold nulls until the invalid rows are dropped.
_ROWS_SCHEMA = pa.schema([pa.field(f.name, f.type, True) for f in _EVENTS_SCHEMA])
_MIN_US, _MAX_US = 0, (dt.datetime(2101, 1, 1, tzinfo=_UTC) - _EPOCH) // dt.timedelta(microseconds=1)
#: Rows per Arrow chunk: the three JSON columns of one event fit in 32 KB, so a chunk's
#: string column stays under 2 GiB (32-bit offsets).
_CHUNK = 32_768
_TYPES = pa.array(sorted(EVENT_TYPES), pa.string())


# -- the fast path: decode a batch body, check on columns ----------------------------------


class _Row(Event, gc=False, kw_only=True):
    """An event as the fast path decodes it: ``Event``'s fields and constraints (so
    msgspec accepts and refuses exactly what :func:`decode` does), untracked by the
    garbage collector (a batch holds hundreds of thousands of them)."""


class _RowBatch(msgspec.Struct, forbid_unknown_fields=False, gc=False):
    batch: list[_Row]
    writeKey: str | None = None


class _Sizes(msgspec.Struct, forbid_unknown_fields=False, gc=False):
    batch: list[msgspec.Raw]


_row_batch_dec = msgspec.json.Decoder(_RowBatch)
_sizes_dec = msgspec.json.Decoder(_Sizes)
_ts_strings_dec = msgspec.json.Decoder(list[str | None])
_encode = msgspec.json.Encoder().encode


def fast_events(body: bytes, max_event_bytes: int = 32 * 1024) -> list[_Row] | None:
    """The events of a ``/v1/batch`` body, decoded but not yet checked; None when the
    body needs :func:`decode` (not UTF-8, not a batch, an event over the size limit, a
    field of the wrong type). The semantic checks run on columns (:func:`_invalid`)."""
    if not body.isascii():
        try:
            body.decode("utf-8")  # decode() refuses the whole body otherwise
        except UnicodeDecodeError:
            return None
    try:
        if len(body) > max_event_bytes:  # then one event might be over the limit
            sizes = _sizes_dec.decode(body).batch
            if sizes and max(map(len, sizes)) > max_event_bytes:
                return None
        return _row_batch_dec.decode(body).batch
    except msgspec.DecodeError:  # ValidationError included
        return None


@dataclass
class _Run:
    """The events of one record within an ``EventRows`` (``start``..``end``)."""

    start: int
    end: int
    tenant: str
    channel: str | None
    received_us: int
    unchecked: Any = None  # the record to decode again if a column check fails


class EventRows:
    """Events being collected for one tenant; the table is built column by column at the
    end (attribute list comprehensions, Arrow kernels, no per-event appends or checks)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.runs: list[_Run] = []
        self.in_batch_duplicates = 0

    def __len__(self) -> int:
        return len(self.events)

    def add_many(self, events: Sequence[Event], tenant: str, channel: str | None,
                 received_at: dt.datetime | int) -> None:
        """Add events already checked (by :func:`decode`)."""
        self._add(events, tenant, channel, _micros(received_at), None)

    def add(self, ev: Event, tenant: str, channel: str | None, received_at: dt.datetime | int) -> None:
        self.add_many([ev], tenant, channel, received_at)

    def add_unchecked(self, events: Sequence[Event], tenant: str, channel: str | None,
                      received_us: int, record: Any) -> None:
        """Add events from :func:`fast_events`; ``to_arrow`` checks them, and hands the
        records with an invalid event back to its ``redo`` callback."""
        self._add(events, tenant, channel, received_us, record)

    def _add(self, events: Sequence[Event], tenant: str, channel: str | None, received_us: int,
             record: Any) -> None:
        start = len(self.events)
        self.events.extend(events)
        self.runs.append(_Run(start, len(self.events), tenant, channel, received_us, record))

    def to_arrow(self, redo: Callable[[Any], list[Event]] | None = None) -> pa.Table:
        """The events as an ``events`` table (without ``day``), the first of each
        ``message_id`` only (the others are counted in ``in_batch_duplicates``).

        Args:
            redo: gets each record added unchecked that holds an invalid event, and
                returns its valid events (the loader decodes it with :func:`decode`
                and quarantines the rest).
        """
        table, seq = self._build(redo)
        keep = _first_of_each(table.column("message_id"), seq)
        if keep is not None:
            self.in_batch_duplicates += table.num_rows - int(np.count_nonzero(keep))
            table = table.filter(pa.array(keep))
        return table.cast(_EVENTS_SCHEMA)

    def _build(self, redo: Callable[[Any], list[Event]] | None) -> tuple[pa.Table, np.ndarray]:
        """All valid rows (duplicates included) and each one's place in the batch."""
        n = len(self.events)
        tables = [_table(self.events, self.runs, s, min(s + _CHUNK, n)) for s in range(0, n, _CHUNK)]
        if not tables:
            return _ROWS_SCHEMA.empty_table(), np.zeros(0, dtype=np.int64)
        table = pa.concat_tables(tables)
        bad = table.column("__bad")
        table = table.drop_columns(["__bad"])
        if not pc.any(bad).as_py():
            return table, np.arange(n, dtype=np.int64)
        return self._redo(table, bad, redo)

    def _redo(self, table: pa.Table, bad: pa.ChunkedArray,
              redo: Callable[[Any], list[Event]] | None) -> tuple[pa.Table, np.ndarray]:
        """Replace the rows of each record holding an invalid event by what ``redo`` keeps."""
        bad_rows = np.flatnonzero(bad.to_numpy())
        starts = np.array([r.start for r in self.runs], dtype=np.int64)
        hit = np.unique(np.searchsorted(starts, bad_rows, side="right") - 1)
        drop = np.zeros(table.num_rows, dtype=bool)
        again = EventRows()
        seq: list[int] = []
        for i in hit.tolist():
            run = self.runs[i]
            if run.unchecked is None or redo is None:
                raise RuntimeError("an event that decode() accepted fails the loader's column checks")
            drop[run.start:run.end] = True
            good = redo(run.unchecked)
            again.add_many(good, run.tenant, run.channel, run.received_us)
            seq.extend(range(run.start, run.start + len(good)))  # their place in the batch
        kept = np.flatnonzero(~drop)
        redone, _ = again._build(None)
        table = pa.concat_tables([table.take(pa.array(kept)), redone])
        order = np.argsort(np.concatenate([kept, np.array(seq, dtype=np.int64)]), kind="stable")
        return table.take(pa.array(order)), np.arange(len(order), dtype=np.int64)  # spool order


def _micros(at: dt.datetime | int) -> int:
    if isinstance(at, int):
        return at
    if at.tzinfo is None:
        at = at.replace(tzinfo=_UTC)
    return (at - _EPOCH) // dt.timedelta(microseconds=1)


def _first_of_each(ids: pa.ChunkedArray, seq: np.ndarray) -> np.ndarray | None:
    """A mask keeping, for each ``message_id``, the row with the smallest ``seq``; None
    when every id is distinct."""
    enc = pc.dictionary_encode(ids.combine_chunks())
    if len(enc.dictionary) == len(ids):
        return None
    codes = enc.indices.to_numpy(zero_copy_only=False)
    order = np.lexsort((seq, codes))
    first = np.ones(len(order), dtype=bool)
    first[1:] = codes[order][1:] != codes[order][:-1]
    keep = np.zeros(len(order), dtype=bool)
    keep[order[first]] = True
    return keep


def _table(evs: list[Event], runs: list[_Run], start: int, end: int) -> pa.Table:
    """Rows ``start..end`` of the events as an ``events`` table, plus ``__bad``: which of
    the rows added unchecked break one of :func:`parcours.collect.model.check`'s rules."""
    part = evs[start:end]
    n = len(part)
    # per record: tenant, default channel, arrival time, checked or not
    first = _run_index(runs, start)
    last = _run_index(runs, end - 1)
    rs = runs[first:last + 1]
    counts = np.array([min(r.end, end) - max(r.start, start) for r in rs], dtype=np.int64)
    which = np.repeat(np.arange(len(rs)), counts)
    take = pa.array(which)
    tenant = pc.take(pa.array([r.tenant for r in rs], pa.string()), take)
    default = pc.take(pa.array([r.channel or None for r in rs], pa.string()), take)
    received_us = np.repeat(np.array([r.received_us for r in rs], dtype=np.int64), counts)
    unchecked = np.repeat(np.array([r.unchecked is not None for r in rs]), counts)

    typ = pa.array([e.type for e in part], pa.string())
    mid = pa.array([e.messageId for e in part], pa.string())
    name = pa.array([e.event for e in part], pa.string())
    page = pa.array([e.name for e in part], pa.string())
    user = _id_column([e.userId for e in part])
    anon = _id_column([e.anonymousId for e in part])
    prev = _id_column([e.previousId for e in part])
    group = _id_column([e.groupId for e in part])
    ts = _ts_column([e.timestamp for e in part])
    received = pa.array(received_us, _TS)
    props, props_bad, _ = _json_column([e.properties for e in part])
    traits, traits_bad, _ = _json_column([e.traits for e in part])
    context, context_bad, context_text = _json_column([e.context for e in part])

    is_track, is_page = pc.equal(typ, "track"), pc.is_in(typ, pa.array(["page", "screen"]))
    if pc.all(pc.fill_null(is_track, False)).as_py():
        event = name
    else:
        event = pc.if_else(is_track, name, pc.if_else(is_page, page, typ))
    fallback = pc.if_else(pc.equal(typ, "screen"), "app", "web")
    channel = pc.coalesce(default, fallback)
    # context.channel wins: decoded where mentioned only (a chunk where no context says
    # "channel" — the usual case — is told by one search of the joined bytes)
    mentions = None
    if b'"channel"' in context_text:
        mentions = pc.fill_null(pc.match_substring(context, '"channel"'), False)
    if mentions is not None and pc.any(mentions).as_py():
        rows = np.flatnonzero(mentions.to_numpy(zero_copy_only=False))
        defaults = default.take(pa.array(rows)).to_pylist()
        values = [channel_of(part[i], d) for i, d in zip(rows.tolist(), defaults, strict=True)]
        mask = np.zeros(n, dtype=bool)
        mask[rows] = True
        channel = pc.replace_with_mask(channel, pa.array(mask), pa.array(values, pa.string()))

    ts_us = pc.cast(ts, pa.int64())
    bad = pc.or_(pc.invert(pc.fill_null(pc.is_in(typ, _TYPES), False)), _empty(mid))
    user_empty = _empty(user)
    bad = pc.or_(bad, pc.and_(user_empty, _empty(anon)))
    bad = pc.or_(bad, pc.and_(pc.equal(typ, "group"), _empty(group)))
    bad = pc.or_(bad, pc.and_(pc.equal(typ, "alias"), pc.or_(_empty(prev), user_empty)))
    bad = pc.or_(bad, pc.and_(is_track, _empty(name)))
    out_of_range = pc.or_(pc.less(ts_us, _MIN_US), pc.greater_equal(ts_us, _MAX_US))
    bad = pc.or_(bad, pc.fill_null(out_of_range, False))
    bad = pc.or_(pc.or_(bad, props_bad), pc.or_(traits_bad, context_bad))
    bad = pc.and_(pc.fill_null(bad, True), pa.array(unchecked))

    cols = {
        "message_id": mid, "tenant": tenant, "type": typ, "event": event, "channel": channel,
        "user_id": _no_empty(user), "anonymous_id": _no_empty(anon),
        "previous_id": _no_empty(prev), "group_id": _no_empty(group),
        "timestamp": pc.coalesce(ts, received), "received_at": received,
        "properties": props, "traits": traits, "context": context,
    }
    return pa.Table.from_arrays([*cols.values(), bad], schema=_ROWS_SCHEMA.append(pa.field("__bad", pa.bool_())))


def _run_index(runs: list[_Run], row: int) -> int:
    lo, hi = 0, len(runs) - 1
    while lo < hi:  # the last run starting at or before ``row``
        mid = (lo + hi + 1) // 2
        if runs[mid].start <= row:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _empty(arr: pa.Array) -> pa.Array:
    """True where a string is null or empty."""
    return pc.fill_null(pc.equal(pc.binary_length(arr), 0), True)


def _no_empty(arr: pa.Array) -> pa.Array:
    empty = pc.equal(arr, "")
    if not pc.any(empty).as_py():
        return arr
    return pc.if_else(empty, pa.scalar(None, pa.string()), arr)


def _id_column(values: list[Any]) -> pa.Array:
    """An id column: strings as they are, integers (SDKs send numeric ids) as text."""
    try:
        return pa.array(values, pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return pa.array([v if v is None or isinstance(v, str) else str(v) for v in values], pa.string())


def _ts_column(values: list[dt.datetime | None]) -> pa.Array:
    """Datetimes as UTC microseconds, in C: msgspec writes them as RFC 3339 (its output
    is canonical), Arrow parses that; naive times are UTC (as :func:`check` says)."""
    text = pa.array(_ts_strings_dec.decode(_encode(values)), pa.string())
    if not pc.all(pc.fill_null(pc.ends_with(text, "Z"), True)).as_py():  # else all UTC already
        zoned = pc.match_substring_regex(text, r"(Z|[+-]\d\d:\d\d)$")
        if not pc.all(pc.fill_null(zoned, True)).as_py():
            text = pc.if_else(zoned, text, pc.binary_join_element_wise(text, "Z", ""))
    return text.cast(_TS)


def _json_column(raws: list[Any]) -> tuple[pa.Array, pa.Array, bytes]:
    """Raw JSON values (msgspec.Raw or bytes) as a string column — absent and ``null``
    become nulls —, a mask of the values that are not objects, and the values joined."""
    n = len(raws)
    lengths = np.fromiter(map(len, raws), dtype=np.int64, count=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    joined = b"".join(raws)
    data = pa.py_buffer(joined)  # one copy, in C (Raw is a buffer)
    big = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), data)
    big.validate(full=True)  # UTF-8 (the bodies were checked; this keeps the column honest)
    absent = pc.or_(pc.equal(pa.array(lengths), 0), pc.equal(big, "null"))
    not_object = pc.and_(pc.invert(absent), pc.invert(pc.starts_with(big, "{")))
    if pc.any(absent).as_py():  # the nulls as a validity bitmap over the same buffers
        valid = pc.invert(absent)
        big = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), data, valid.buffers()[1])
    return big.cast(pa.string()), not_object, joined  # the cast raises rather than wraps past 2 GiB


@dataclass
class WriteResult:
    new: int = 0
    duplicates: int = 0


def write_events(ws: Workspace, tenant: str, table: pa.Table) -> WriteResult:
    """Write events not yet in the lake (by message_id, whole history, both zones)."""
    from parcours.collect.dedupe import indexed_mask
    from parcours.privacy.pseudonymize import pseudonymize_table

    if table.num_rows == 0:
        return WriteResult()
    in_raw = indexed_mask(ws, tenant, "raw", "events", "message_id", table.column("message_id"))
    new = table.filter(pc.invert(in_raw)) if in_raw is not None else table
    if new.num_rows:
        ws.write(tenant, "events", new)  # raw, then its pseudonymized copy
    if in_raw is not None:
        # Already in raw: normally a client retry. But if a crash hit between the raw
        # and the analytics commit of an earlier load, analytics lacks them: repair.
        known = table.filter(in_raw)
        in_analytics = indexed_mask(ws, tenant, "analytics", "events", "message_id",
                                    known.column("message_id"))
        lacking = known.filter(pc.invert(in_analytics)) if in_analytics is not None else known
        if lacking.num_rows:
            from parcours.events import conform

            s = spec("events")
            pseudo = pseudonymize_table(s, conform(s, lacking), ws.keys.get(tenant))
            ws.lake.append(tenant, "analytics", "events", pseudo, spec_=s)
    return WriteResult(new=new.num_rows, duplicates=table.num_rows - new.num_rows)


@dataclass
class LoadResult:
    """What one ``load`` did, in total and per tenant."""

    batches: int = 0
    records: int = 0
    events: int = 0  # new events written
    duplicates: int = 0
    quarantined: int = 0
    segments: int = 0
    damaged_bytes: int = 0
    seconds: float = 0.0
    tenants: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def add_tenant(self, tenant: str, **counts: int) -> None:
        t = self.tenants.setdefault(tenant, {"events": 0, "duplicates": 0, "quarantined": 0})
        for k, v in counts.items():
            t[k] += v

    def merge(self, part: LoadResult) -> None:
        """Add the counts of one batch's result (``part``) to this running total."""
        for k in ("batches", "records", "events", "duplicates", "quarantined", "segments"):
            setattr(self, k, getattr(self, k) + getattr(part, k))
        for tenant, counts in part.tenants.items():
            self.add_tenant(tenant, **counts)

    def log_counts(self) -> dict[str, int]:
        """The counts a ``loads.jsonl`` line carries."""
        return {"records": self.records, "events": self.events, "duplicates": self.duplicates,
                "quarantined": self.quarantined, "segments": self.segments}


class Batch:
    """One micro-batch being assembled from records (spool or Kafka).

    ``add`` decodes each record (the fast path for ``/v1/batch`` bodies, :func:`decode`
    for the rest); ``prepare`` builds the tables (and decodes again, exactly, the
    records whose events fail a column check); ``write`` puts them in the lake.
    """

    def __init__(self, source: str, max_event_bytes: int = 32 * 1024) -> None:
        self.source = source
        self.max_event_bytes = max_event_bytes
        self.events: dict[str, EventRows] = {}
        self.quarantine: dict[str, q.QuarantineBuffer] = {}
        self.tables: dict[str, pa.Table] = {}
        #: tables already built elsewhere (a decode worker's span), in spool order
        self.parts: dict[str, list[pa.Table]] = {}
        self.duplicates: dict[str, int] = {}  # in-batch duplicates dropped
        self.size = 0
        self.records = 0

    def add(self, record: Record) -> None:
        meta = record.meta
        self.records += 1
        rows = self.events.get(meta.tenant)
        if rows is None:
            rows = self.events[meta.tenant] = EventRows()
        fast = fast_events(record.body, self.max_event_bytes) if meta.endpoint == "batch" else None
        if fast is not None:
            rows.add_unchecked(fast, meta.tenant, meta.channel, meta.received_us, record)
            self.size += len(fast)
            return
        good = self._decode(record)
        rows.add_many(good, meta.tenant, meta.channel, meta.received_us)
        self.size += len(good)

    def _decode(self, record: Record) -> list[Event]:
        """The exact path: :func:`decode`; its rejections go to quarantine."""
        meta = record.meta
        d = decode(record.body, meta.endpoint, self.max_event_bytes, keep_payloads=True)
        if d.rejections or d.fatal:
            received = _EPOCH + dt.timedelta(microseconds=meta.received_us)
            buf = self.quarantine.setdefault(meta.tenant, q.QuarantineBuffer())
            src = self.source if meta.endpoint == "batch" else f"{self.source}:{meta.endpoint}"
            where = f"{record.segment}@{record.offset}"
            if d.fatal:
                buf.add(q.quarantine_id(where), received, src, "events", d.fatal,
                        record.body.decode("utf-8", "replace"))
            for r in d.rejections:
                buf.add(q.quarantine_id(where, r.index), received, src, "events",
                        f"event {r.index}: {r.reason}", r.payload.decode("utf-8", "replace"))
            self.size += len(d.rejections) + (1 if d.fatal else 0)
        return d.events

    def absorb(self, part: Batch) -> None:
        """Add a prepared batch's tables, duplicates and quarantine (a decode worker's
        span of records, which follows what this batch holds in the spool)."""
        if self.events:
            raise RuntimeError("absorb() takes prepared batches only, into one without records")
        for tenant, table in part.tables.items():
            self.parts.setdefault(tenant, []).append(table)
        for tenant, n in part.duplicates.items():
            self.duplicates[tenant] = self.duplicates.get(tenant, 0) + n
        for tenant, buf in part.quarantine.items():
            mine = self.quarantine.setdefault(tenant, q.QuarantineBuffer())
            for name, values in buf.rows.items():
                mine.rows[name].extend(values)
        self.size += part.size
        self.records += part.records

    def prepare(self) -> None:
        """Build each tenant's table (CPU-bound, holds the GIL); idempotent."""
        for tenant, rows in self.events.items():
            if tenant not in self.tables and len(rows):
                self.tables[tenant] = rows.to_arrow(redo=self._decode)
                self.duplicates[tenant] = self.duplicates.get(tenant, 0) + rows.in_batch_duplicates
        for rows in self.events.values():  # the tables hold what is needed now
            rows.events.clear()
            rows.runs.clear()
        for tenant, parts in self.parts.items():  # each part is deduplicated: now across them
            table = pa.concat_tables(parts)
            keep = _first_of_each(table.column("message_id"), np.arange(table.num_rows, dtype=np.int64))
            if keep is not None:
                self.duplicates[tenant] = self.duplicates.get(tenant, 0) + table.num_rows - int(np.count_nonzero(keep))
                table = table.filter(pa.array(keep))
            self.tables[tenant] = table
        self.parts.clear()

    def write(self, ws: Workspace, result: LoadResult) -> None:
        """Write the prepared tables to the lake (events, then quarantine)."""
        for tenant, table in self.tables.items():
            w = write_events(ws, tenant, table)
            dup = w.duplicates + self.duplicates.get(tenant, 0)
            result.events += w.new
            result.duplicates += dup
            result.add_tenant(tenant, events=w.new, duplicates=dup)
        for tenant, buf in self.quarantine.items():
            n = q.write(ws, tenant, buf)
            result.quarantined += n
            result.add_tenant(tenant, quarantined=n)
        result.records += self.records
        result.batches += 1

    def commit(self, ws: Workspace, result: LoadResult) -> None:
        """Prepare and write the batch."""
        self.prepare()
        self.write(ws, result)

    @property
    def tenants(self) -> list[str]:
        return sorted(set(self.events) | set(self.tables) | set(self.quarantine))


def _segments_records(segments: Iterable[SealedSegment]) -> Iterator[tuple[SealedSegment, Record | None]]:
    """Records of each segment, then ``(segment, None)`` when a segment is exhausted."""
    for seg in segments:
        for rec in seg.records():
            yield seg, rec
        yield seg, None


@contextmanager
def loader_lock(ws: Workspace, name: str = "loader") -> Iterator[None]:
    """One loader at a time per workspace (a second one waits)."""
    ws.state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(ws.state_dir / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class _Writer:
    """Writes one prepared batch at a time in a thread, while the caller decodes the
    next: the lake commit (delta-rs), dedupe (DuckDB) and pseudonymization (Arrow
    kernels) release the GIL. A failure is raised on the caller's next call."""

    def __init__(self, ws: Workspace, result: LoadResult) -> None:
        self.ws, self.result = ws, result
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def submit(self, batch: Batch, done: list[SealedSegment]) -> None:
        self.wait()
        self._thread = threading.Thread(target=self._run, args=(batch, list(done)),
                                        name="loader-write", daemon=True)
        done.clear()
        self._thread.start()

    def _run(self, batch: Batch, done: list[SealedSegment]) -> None:
        try:
            _write(self.ws, batch, done, self.result)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            self._error = exc

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def load_spool(ws: Workspace, batch_events: int | None = None, progress: Progress | None = None,
               workers: int = 0) -> LoadResult:
    """Drain the spool's sealed segments into the lake; returns what was loaded.

    Args:
        batch_events: micro-batch size (default ``collect.batch_max_events``).
        progress: called as ``progress("load", records_done, records_done)``.
        workers: processes decoding records (:mod:`parcours.collect.workers`); 0 (the
            default) decodes in this process. Workers cost more CPU per event (their
            start-up imports, the spans' second dedupe) and pay only on idle cores with
            a large spool (``parcours load --workers 2``).
    """
    c = ws.settings.collect
    size = batch_events or c.batch_max_events
    result = LoadResult()
    start = time.perf_counter()
    held: list[SealedSegment] = []

    def segments() -> Iterator[SealedSegment]:
        for seg in sealed_segments(ws.spool_dir):
            held.append(seg)
            yield seg

    with loader_lock(ws):
        writer = _Writer(ws, result)
        try:
            if workers > 0:
                _load_in_workers(segments(), size, c.max_event_bytes, workers, writer, result, progress)
            else:
                _load_here(segments(), size, c.max_event_bytes, writer, result, progress)
        finally:
            try:
                writer.wait()
            finally:  # after a failure, the segments not loaded stay for the next load
                for seg in held:
                    seg.release()
    result.seconds = time.perf_counter() - start
    return result


def _cut_when_full(batch: Batch, size: int, writer: _Writer, done_segments: list[SealedSegment],
                   result: LoadResult, progress: Progress | None) -> Batch:
    """``batch`` handed to the writer (with the segments it completes) once it holds
    ``size`` events, and a new empty one to fill; else ``batch`` itself."""
    if batch.size < size:
        return batch
    batch.prepare()
    writer.submit(batch, done_segments)
    if progress:
        progress("load", result.records, result.records)
    return Batch(batch.source, batch.max_event_bytes)


def _load_here(segments: Iterable[SealedSegment], size: int, max_event_bytes: int, writer: _Writer,
               result: LoadResult, progress: Progress | None) -> None:
    """Decode in this process, one batch while the writer thread commits the previous."""
    batch = Batch("http", max_event_bytes)
    done_segments: list[SealedSegment] = []
    for seg, rec in _segments_records(segments):
        if rec is None:
            done_segments.append(seg)
            result.damaged_bytes += seg.damaged_bytes
            continue
        batch.add(rec)
        batch = _cut_when_full(batch, size, writer, done_segments, result, progress)
    batch.prepare()
    writer.submit(batch, done_segments)


def _load_in_workers(segments: Iterable[SealedSegment], size: int, max_event_bytes: int, workers: int,
                     writer: _Writer, result: LoadResult, progress: Progress | None) -> None:
    """Decode spans of records in worker processes, in spool order; cut batches between
    spans (a batch holds at most ``size`` events plus one span's)."""
    import shutil
    from collections import deque

    from parcours.collect import workers as w

    def spans() -> Iterator[tuple[SealedSegment, int, int, int, bool]]:
        for seg in segments:
            cuts, scanned = seg.spans(w.SPAN_BYTES)
            if not cuts:
                yield seg, 0, 0, scanned, True
            for i, (a, b) in enumerate(cuts):
                yield seg, a, b, scanned, i == len(cuts) - 1

    scratch = w.scratch_dir()
    pool = w.DecodePool(workers)
    pending: deque[tuple[SealedSegment, int, int, int, bool]] = deque()
    todo = spans()

    def refill() -> None:
        while len(pending) < 2 * workers:
            item = next(todo, None)
            if item is None:
                return
            seg, a, b, _, _ = item
            if b > a:
                pool.submit((str(seg.path), a, b, max_event_bytes, "http", scratch))
            pending.append(item)

    try:
        batch = Batch("http", max_event_bytes)
        done_segments: list[SealedSegment] = []
        damaged: set[str] = set()
        refill()
        while pending:
            seg, a, b, scanned, last = pending.popleft()
            part = pool.result() if b > a else None
            refill()
            if seg.name in damaged:  # a record before this span was damaged: not loaded
                if part is not None:
                    w.drop_span(part)
                continue
            if part is not None:
                span = Batch("http", max_event_bytes)
                span.tables = w.open_span(part)
                span.duplicates, span.quarantine = part.duplicates, part.quarantine
                span.records, span.size = part.records, part.size
                batch.absorb(span)
                if part.stopped_at < b:  # torn or damaged: the rest of the segment is skipped
                    damaged.add(seg.name)
                    last, scanned = True, part.stopped_at
            if last:
                done_segments.append(seg)
                result.damaged_bytes += seg.size - scanned
            batch = _cut_when_full(batch, size, writer, done_segments, result, progress)
        batch.prepare()
        writer.submit(batch, done_segments)
    finally:
        pool.close()
        shutil.rmtree(scratch, ignore_errors=True)


def _write(ws: Workspace, batch: Batch, done: list[SealedSegment], result: LoadResult) -> None:
    t0 = time.perf_counter()
    mine = LoadResult()
    if batch.records:
        batch.write(ws, mine)
    for seg in done:  # the batch is in the lake: now the segments may go
        seg.delete()
    mine.segments = len(done)
    result.merge(mine)
    if batch.records or done:
        record_load(ws, "spool", {**mine.log_counts(), "seconds": round(time.perf_counter() - t0, 3),
                                  "tenants": batch.tenants})


def record_load(ws: Workspace, source: str, counts: dict[str, Any]) -> None:
    """Append one committed micro-batch to the loads log (read by the data hub)."""
    entry = {"at": dt.datetime.now(_UTC).isoformat(timespec="milliseconds"), "source": source, **counts}
    ws.state_dir.mkdir(parents=True, exist_ok=True)
    with open(ws.state_dir / LOADS_LOG, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


def recent_loads(ws: Workspace, limit: int = 50, tenant: str | None = None) -> list[dict[str, Any]]:
    """The most recent loads, newest first (for the web hub)."""
    path = ws.state_dir / LOADS_LOG
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[dict[str, Any]] = []
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if tenant is not None and tenant not in entry.get("tenants", []):
            continue
        out.append(entry)
        if len(out) >= limit:
            break
    return out


def watch(ws: Workspace, stop: Any = None, progress: Progress | None = None,
          exit_with_parent: bool = False) -> LoadResult:
    """Load continuously: every ``collect.batch_max_seconds``, until ``stop`` (a
    threading.Event) is set — or, with ``exit_with_parent``, until the process that
    started this one is gone (``parcours serve --load``)."""
    total = LoadResult()
    interval = ws.settings.collect.batch_max_seconds
    parent = os.getppid()
    while stop is None or not stop.is_set():
        try:
            r = load_spool(ws, progress=progress)
        except Exception as exc:  # noqa: BLE001 - keep watching; the hub shows the failure
            # nothing is lost: segments are only deleted after their batch is committed
            record_load(ws, "spool", {"error": f"{type(exc).__name__}: {exc}"[:500], "records": 0,
                                      "events": 0, "duplicates": 0, "quarantined": 0, "tenants": []})
            r = LoadResult()
        total.events += r.events
        total.records += r.records
        total.quarantined += r.quarantined
        total.duplicates += r.duplicates
        if exit_with_parent and os.getppid() != parent:
            break
        if stop is not None:
            stop.wait(interval)
        else:
            time.sleep(interval)
    return total
