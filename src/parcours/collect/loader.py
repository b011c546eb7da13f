"""The loader: spool (or Kafka) → lake, in micro-batches, exactly once.

For each micro-batch (``collect.batch_max_events`` events, or what the spool holds):

1. records are decoded and validated with the collector's own rules
   (:func:`parcours.collect.model.decode`);
2. valid events are deduplicated on ``message_id`` within the batch and against the
   table's whole history (:mod:`parcours.collect.dedupe`), separately for the raw and
   the analytics zone, so a crash between the two commits of one batch is repaired
   by the next load;
3. new events are written (raw + pseudonymized analytics), rejected ones go to the
   tenant's quarantine with their reason;
4. only then are the segments the batch came from deleted (Kafka: offsets committed).

A crash anywhere before step 4 reloads the same records; step 2 drops what was
already committed, so nothing is lost and nothing is counted twice. Memory is
bounded by the micro-batch, not by the spool: segments are streamed record by record.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from parcours.collect import quarantine as q
from parcours.collect.model import Event, channel_of, decode, event_name
from parcours.collect.spool import Record, SealedSegment, sealed_segments
from parcours.events import spec
from parcours.progress import Progress

if TYPE_CHECKING:
    from parcours.workspace import Workspace

_UTC = dt.UTC
LOADS_LOG = "loads.jsonl"
_EVENTS_SCHEMA = pa.schema([f for f in spec("events").schema if f.name != "day"])


class EventRows:
    """Events being collected for one tenant; columns are built at the end, column by
    column (list comprehensions and Arrow kernels rather than per-event appends)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.runs: list[tuple[int, str, str | None, dt.datetime]] = []  # (end, tenant, channel, received)
        self.seen: set[str] = set()
        self.in_batch_duplicates = 0

    def __len__(self) -> int:
        return len(self.events)

    def add_many(self, events: list[Event], tenant: str, channel: str | None, received_at: dt.datetime) -> None:
        seen, out = self.seen, self.events
        add = seen.add
        new = [ev for ev in events if ev.messageId not in seen and not add(ev.messageId)]  # type: ignore[arg-type]
        self.in_batch_duplicates += len(events) - len(new)
        out.extend(new)
        self.runs.append((len(out), tenant, channel, received_at))

    def add(self, ev: Event, tenant: str, channel: str | None, received_at: dt.datetime) -> None:
        self.add_many([ev], tenant, channel, received_at)

    def to_arrow(self) -> pa.Table:
        evs = self.events
        tenants: list[str] = []
        defaults: list[str | None] = []
        received: list[dt.datetime] = []
        start = 0
        for end, tenant, channel, rec in self.runs:
            n = end - start
            tenants += [tenant] * n
            defaults += [channel] * n
            received += [rec] * n
            start = end
        cols: dict[str, Any] = {
            "message_id": [e.messageId for e in evs],
            "tenant": tenants,
            "type": [e.type for e in evs],
            "event": [event_name(e) for e in evs],
            "channel": [channel_of(e, d) for e, d in zip(evs, defaults, strict=True)],
            "user_id": _ids([e.userId for e in evs]),
            "anonymous_id": _ids([e.anonymousId for e in evs]),
            "previous_id": _ids([e.previousId for e in evs]),
            "group_id": _ids([e.groupId for e in evs]),
            "timestamp": [e.timestamp or r for e, r in zip(evs, received, strict=True)],
            "received_at": pa.array(received, pa.timestamp("us", tz="UTC")),
            "properties": _json_column([bytes(e.properties) for e in evs]),
            "traits": _json_column([bytes(e.traits) for e in evs]),
            "context": _json_column([bytes(e.context) for e in evs]),
        }
        return pa.Table.from_pydict(cols, schema=_EVENTS_SCHEMA)


def _ids(values: list[Any]) -> list[Any]:
    if all(v is None or type(v) is str for v in values):
        return [v or None for v in values]
    return [_sid(v) for v in values]


def _json_column(raw: list[bytes]) -> pa.Array:
    """Raw JSON objects as a string column; absent (empty) and ``null`` become nulls."""
    import pyarrow.compute as pc

    arr = pa.array(raw, pa.binary()).cast(pa.string())  # the cast validates UTF-8
    empty = pc.or_(pc.equal(pc.binary_length(arr), 0), pc.equal(arr, "null"))
    return pc.if_else(empty, pa.scalar(None, pa.string()), arr)


def _sid(value: str | int | None) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


@dataclass
class WriteResult:
    new: int = 0
    duplicates: int = 0


def write_events(ws: Workspace, tenant: str, table: pa.Table) -> WriteResult:
    """Write events not yet in the lake (by message_id, whole history, both zones)."""
    from parcours.collect.dedupe import existing_keys
    from parcours.privacy.pseudonymize import pseudonymize_table

    if table.num_rows == 0:
        return WriteResult()
    ids = table.column("message_id")
    in_raw = existing_keys(ws, tenant, "raw", "events", "message_id", ids)
    new = _drop(table, in_raw)
    if new.num_rows:
        ws.write(tenant, "events", new)  # raw, then its pseudonymized copy
    if in_raw:
        # Already in raw: normally a client retry. But if a crash hit between the raw
        # and the analytics commit of an earlier load, analytics lacks them: repair.
        in_analytics = existing_keys(ws, tenant, "analytics", "events", "message_id", pa.array(sorted(in_raw)))
        lacking = in_raw - in_analytics
        if lacking:
            from parcours.events import conform

            s = spec("events")
            rows = table.filter(pa.array([m in lacking for m in ids.to_pylist()]))
            pseudo = pseudonymize_table(s, conform(s, rows), ws.keys.get(tenant))
            ws.lake.append(tenant, "analytics", "events", pseudo, spec_=s)
    return WriteResult(new=new.num_rows, duplicates=table.num_rows - new.num_rows)


def _drop(table: pa.Table, ids: set[str]) -> pa.Table:
    if not ids:
        return table
    mask = pa.array([m not in ids for m in table.column("message_id").to_pylist()])
    return table.filter(mask)


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


class Batch:
    """One micro-batch being assembled from records (spool or Kafka)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.events: dict[str, EventRows] = {}
        self.quarantine: dict[str, q.QuarantineBuffer] = {}
        self.size = 0
        self.records = 0

    def add(self, record: Record) -> None:
        meta = record.meta
        tenant = meta.tenant
        received = dt.datetime.fromtimestamp(meta.received_us / 1e6, _UTC).replace(
            microsecond=meta.received_us % 1_000_000)
        self.records += 1
        d = decode(record.body, meta.endpoint, keep_payloads=True)
        rows = self.events.get(tenant)
        if rows is None:
            rows = self.events[tenant] = EventRows()
        rows.add_many(d.events, tenant, meta.channel, received)
        self.size += len(d.events)
        if d.rejections or d.fatal:
            buf = self.quarantine.setdefault(tenant, q.QuarantineBuffer())
            src = self.source if meta.endpoint == "batch" else f"{self.source}:{meta.endpoint}"
            where = f"{record.segment}@{record.offset}"
            if d.fatal:
                buf.add(q.quarantine_id(where), received, src, "events", d.fatal,
                        record.body.decode("utf-8", "replace"))
            for r in d.rejections:
                buf.add(q.quarantine_id(where, r.index), received, src, "events",
                        f"event {r.index}: {r.reason}", r.payload.decode("utf-8", "replace"))
            self.size += len(d.rejections) + (1 if d.fatal else 0)

    def commit(self, ws: Workspace, result: LoadResult) -> None:
        """Write the batch to the lake (events, then quarantine)."""
        for tenant, rows in self.events.items():
            if not len(rows):
                continue
            w = write_events(ws, tenant, rows.to_arrow())
            dup = w.duplicates + rows.in_batch_duplicates
            result.events += w.new
            result.duplicates += dup
            result.add_tenant(tenant, events=w.new, duplicates=dup)
        for tenant, buf in self.quarantine.items():
            n = q.write(ws, tenant, buf)
            result.quarantined += n
            result.add_tenant(tenant, quarantined=n)
        result.records += self.records
        result.batches += 1


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


def load_spool(ws: Workspace, batch_events: int | None = None, progress: Progress | None = None) -> LoadResult:
    """Drain the spool's sealed segments into the lake; returns what was loaded.

    Args:
        batch_events: micro-batch size (default ``collect.batch_max_events``).
        progress: called as ``progress("load", records_done, records_done)``.
    """
    size = batch_events or ws.settings.collect.batch_max_events
    result = LoadResult()
    start = time.perf_counter()
    with loader_lock(ws):
        batch = Batch("http")
        done_segments: list[SealedSegment] = []
        for seg, rec in _segments_records(sealed_segments(ws.spool_dir)):
            if rec is None:
                done_segments.append(seg)
                result.damaged_bytes += seg.damaged_bytes
                continue
            batch.add(rec)
            if batch.size >= size:
                _commit(ws, batch, done_segments, result)
                batch = Batch("http")
                if progress:
                    progress("load", result.records, result.records)
        _commit(ws, batch, done_segments, result)
    result.seconds = time.perf_counter() - start
    return result


def _commit(ws: Workspace, batch: Batch, done: list[SealedSegment], result: LoadResult) -> None:
    t0 = time.perf_counter()
    before = LoadResult(**{k: v for k, v in result.to_dict().items() if k != "tenants"})
    if batch.records:
        batch.commit(ws, result)
    for seg in done:  # the batch is in the lake: now the segments may go
        seg.delete()
    result.segments += len(done)
    if batch.records or done:
        record_load(ws, "spool", {
            "records": result.records - before.records, "events": result.events - before.events,
            "duplicates": result.duplicates - before.duplicates,
            "quarantined": result.quarantined - before.quarantined,
            "segments": len(done), "seconds": round(time.perf_counter() - t0, 3),
            "tenants": sorted(set(batch.events) | set(batch.quarantine)),
        })
    done.clear()


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
