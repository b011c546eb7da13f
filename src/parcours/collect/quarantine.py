"""Quarantine: what could not be accepted, kept with its raw payload and the reason.

The ``quarantine`` table lives in the tenant's raw zone only (payloads are
nominative). Each row has a deterministic ``quarantine_id`` (a hash of where the
payload came from), so a reload after a crash or a re-import adds no duplicate.
``replay`` re-validates rows after a fix: the rows that now pass are written to
their target table (deduplicated like any load) and removed from quarantine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from parcours.events import spec

if TYPE_CHECKING:
    from parcours.workspace import Workspace

TABLE = "quarantine"
ZONE = "raw"


def quarantine_id(*parts: object) -> str:
    """A deterministic id from where a payload came from."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:32]


@dataclass
class QuarantineBuffer:
    """Rows to quarantine, collected during a load or an import."""

    rows: dict[str, list[Any]] = field(default_factory=lambda: {n: [] for n in spec(TABLE).schema.names if n != "day"})

    def add(self, qid: str, received_at: dt.datetime, source: str, target: str | None, reason: str,
            payload: str, file: str | None = None, line: int | None = None) -> None:
        r = self.rows
        r["quarantine_id"].append(qid)
        r["received_at"].append(received_at)
        r["source"].append(source)
        r["target_table"].append(target)
        r["reason"].append(reason[:2000])
        r["payload"].append(payload)
        r["file"].append(file)
        r["line"].append(line)

    def __len__(self) -> int:
        return len(self.rows["quarantine_id"])

    def to_arrow(self) -> pa.Table:
        schema = pa.schema([f for f in spec(TABLE).schema if f.name != "day"])
        return pa.Table.from_pydict(self.rows, schema=schema)


def write(ws: Workspace, tenant: str, buffer: QuarantineBuffer) -> int:
    """Append the buffer's rows not already quarantined; returns rows added."""
    if not len(buffer):
        return 0
    table = buffer.to_arrow()
    from parcours.collect.dedupe import existing_keys

    seen = existing_keys(ws, tenant, ZONE, TABLE, "quarantine_id", table.column("quarantine_id"))
    if seen:
        mask = pa.array([q not in seen for q in table.column("quarantine_id").to_pylist()])
        table = table.filter(mask)
    if table.num_rows:
        ws.lake.append(tenant, ZONE, TABLE, table)
    return table.num_rows


def list_rows(ws: Workspace, tenant: str, limit: int = 100, source: str | None = None) -> list[dict[str, Any]]:
    """The most recent quarantined rows of a tenant (newest first)."""
    ws.require_tenant(tenant)
    table = ws.lake.read(tenant, ZONE, TABLE)
    rows = table.drop_columns(["day"]).to_pylist()
    if source:
        rows = [r for r in rows if r["source"] == source or r["source"].startswith(source + ":")]
    rows.sort(key=lambda r: (r["received_at"], r["quarantine_id"]), reverse=True)
    return rows[:limit]


def count(ws: Workspace, tenant: str) -> int:
    if not ws.lake.exists(tenant, ZONE, TABLE):
        return 0
    return ws.lake.info(tenant, ZONE, TABLE).rows


@dataclass
class ReplayResult:
    """What a replay did."""

    replayed: int = 0  # rows that now pass, written to their table (or found already there)
    written: int = 0  # rows new to their table
    still_invalid: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"replayed": self.replayed, "written": self.written,
                "still_invalid": self.still_invalid, "reasons": self.reasons}


def replay(ws: Workspace, tenant: str, mapping: str | None = None) -> ReplayResult:
    """Re-validate a tenant's quarantined rows; write those that now pass.

    Events from the collector or Kafka are re-validated as Segment events. Rows from a
    file import are re-mapped with ``mapping`` (the fixed mapping file) when given,
    else re-validated as rows of their target table.
    """
    from parcours.collect.loader import EventRows, write_events
    from parcours.collect.model import decode

    ws.require_tenant(tenant)
    result = ReplayResult()
    rows = list_rows(ws, tenant, limit=10**9)
    if not rows:
        return result
    events = EventRows()
    passed: list[str] = []
    domain: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    mapper = None
    if mapping is not None:
        from parcours.collect.mapping import Mapping

        mapper = Mapping.load(mapping)
    for row in rows:
        target = row["target_table"] or "events"
        src = row["source"]
        if src.startswith("import:") and mapper is not None:
            try:
                record = json.loads(row["payload"])
                mapped = mapper.map_row(record)
            except Exception as exc:  # noqa: BLE001 - any mapping failure keeps it quarantined
                _still(result, str(exc))
                continue
            if mapper.table == "events":
                mapped.setdefault("tenant", tenant)
                mapped.setdefault("received_at", row["received_at"])
            domain.setdefault(mapper.table, []).append((row["quarantine_id"], mapped))
            continue
        if target == "events" and not src.startswith("import:"):
            # "http"/"kafka": one event of a batch; "http:track" etc.: a single-event call
            _, _, endpoint = src.partition(":")
            payload = row["payload"].encode("utf-8", "surrogatepass")
            if not endpoint:
                endpoint, payload = "batch", b'{"batch":[' + payload + b"]}"
            d = decode(payload, endpoint)
            problem = d.fatal or (d.rejections[0].reason if d.rejections else None)
            if problem is not None or len(d.events) != 1:
                _still(result, problem or "not exactly one event")
                continue
            events.add(d.events[0], tenant, None, row["received_at"])
            passed.append(row["quarantine_id"])
            continue
        try:
            record = json.loads(row["payload"])
        except ValueError:
            _still(result, "payload is not JSON")
            continue
        domain.setdefault(target, []).append((row["quarantine_id"], record))
    if len(events):
        result.written += write_events(ws, tenant, events.to_arrow()).new
        result.replayed += len(events)
    from parcours.collect.importer import write_rows
    from parcours.events import validate_records

    for table, items in domain.items():
        good, failures = validate_records(spec(table), [rec for _, rec in items])
        bad = {f.index for f in failures}
        for f in failures:
            _still(result, f.message)
        ok_ids = [qid for i, (qid, _) in enumerate(items) if i not in bad]
        result.written += write_rows(ws, tenant, table, good)
        result.replayed += len(ok_ids)
        passed.extend(ok_ids)
    _remove(ws, tenant, passed)
    return result


def _still(result: ReplayResult, reason: str) -> None:
    result.still_invalid += 1
    key = reason[:120]
    result.reasons[key] = result.reasons.get(key, 0) + 1


def _remove(ws: Workspace, tenant: str, ids: list[str]) -> None:
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        quoted = ", ".join("'" + q.replace("'", "") + "'" for q in chunk)
        ws.lake.delete(tenant, ZONE, TABLE, f"quarantine_id IN ({quoted})")
