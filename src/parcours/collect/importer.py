"""File import for the nightly batches of legacy systems (CSV, JSON lines, Parquet).

* The file is read in chunks (memory bounded by the chunk), each row mapped by the
  source's mapping (:mod:`parcours.collect.mapping`) and validated against the
  target table; a bad row goes to quarantine with the file name and its line number
  (CSV: physical line of the record, header = line 1; JSON lines: line; Parquet:
  row number from 1), the rest is imported.
* Re-importing adds nothing: a file whose content fingerprint (SHA-256) was already
  imported for the same tenant and table is skipped, and rows are deduplicated on
  the table's key against its whole history (events: message_id), so a file that
  overlaps an earlier one only adds its new rows.
* Meter load curves (``[resample]``) are normalized to fixed intervals — see
  :mod:`parcours.collect.loadcurve`.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from parcours.collect import quarantine as q
from parcours.collect.errors import ImportFileError, MappingError
from parcours.collect.mapping import Mapping
from parcours.events import spec, validate_records
from parcours.progress import Progress

if TYPE_CHECKING:
    from parcours.workspace import Workspace

IMPORTS_LOG = "imports.jsonl"
CHUNK_ROWS = 50_000
_UTC = dt.UTC


@dataclass
class ImportResult:
    """What an import did."""

    file: str
    fingerprint: str
    tenant: str
    source: str
    table: str
    rows_read: int = 0
    written: int = 0
    duplicates: int = 0
    quarantined: int = 0
    already_imported: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fingerprint(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _rows(path: Path, fmt: str, m: Mapping) -> Iterator[tuple[int, dict[str, Any], int]]:
    """(line number, source row, bytes read so far)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types
            raise ImportFileError(path.name, f"not a Parquet file: {exc}") from None
        absent = sorted(m.source_columns() - set(pf.schema_arrow.names))
        if absent:
            raise MappingError(f"column(s) {', '.join(absent)} not in {path.name}", m.path)
        n = 0
        total = path.stat().st_size
        for i, batch in enumerate(pf.iter_batches(batch_size=CHUNK_ROWS)):
            for row in batch.to_pylist():
                n += 1
                yield n, row, total * (i + 1) // max(pf.num_row_groups, 1)
        return
    raw = open(path, "rb")  # noqa: SIM115 - closed below
    try:
        text = io.TextIOWrapper(raw, encoding=m.encoding, newline="" if fmt == "csv" else None)
        if fmt == "csv":
            reader = csv.DictReader(text, delimiter=m.delimiter)
            header = set(reader.fieldnames or [])
            absent = sorted(m.source_columns() - header)
            if absent:
                raise MappingError(f"column(s) {', '.join(absent)} not in the header of {path.name}", m.path)
            for row in reader:
                if None in row:  # more cells than header names
                    extra = row.pop(None)
                    row["__extra__"] = extra
                yield reader.line_num, row, raw.tell()
        else:
            for n, line in enumerate(text, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    row = {"__invalid_json__": line.rstrip("\n"), "__error__": str(exc)}
                yield n, row if isinstance(row, dict) else {"__not_object__": row}, raw.tell()
    except UnicodeDecodeError as exc:
        raise ImportFileError(path.name, f"not {m.encoding} text: {exc}") from None
    finally:
        raw.close()


def import_file(ws: Workspace, tenant: str, path: str | Path, *, source: str, mapping: str | Path | Mapping,
                progress: Progress | None = None) -> ImportResult:
    """Import one file into a tenant's table; returns what happened.

    Example:
        >>> r = import_file(ws, "energie", "calls.csv", source="call_center",
        ...                 mapping="calls.toml")            # doctest: +SKIP
        >>> r.written, r.quarantined                           # doctest: +SKIP
        (9998, 2)
    """
    start = time.perf_counter()
    ws.require_tenant(tenant)
    p = Path(path)
    if not p.is_file():
        raise ImportFileError(str(p), "file not found")
    m = mapping if isinstance(mapping, Mapping) else Mapping.load(mapping)
    fmt = m.format or {".csv": "csv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
                       ".parquet": "parquet"}.get(p.suffix.lower())
    if fmt is None:
        raise ImportFileError(p.name, "unknown format: give format = csv | jsonl | parquet in the mapping")
    fp = fingerprint(p)
    result = ImportResult(p.name, fp, tenant, source, m.table)
    if any(e["fingerprint"] == fp and e["tenant"] == tenant and e["table"] == m.table
           for e in recent_imports(ws, limit=10**9)):
        result.already_imported = True
        result.seconds = time.perf_counter() - start
        _log(ws, result)
        return result
    total = p.stat().st_size
    now = dt.datetime.now(_UTC)
    chunk: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    quarantine = q.QuarantineBuffer()
    resampled: list[pa.Table] = []
    for line, row, pos in _rows(p, fmt, m):
        result.rows_read += 1
        problem = row.get("__error__") or ("more cells than columns" if "__extra__" in row else None)
        if "__not_object__" in row:
            problem = "not a JSON object"
        if problem is None:
            try:
                mapped = m.map_row(row)
            except (ValueError, TypeError) as exc:
                problem = str(exc)
        if problem is not None:
            _quarantine(quarantine, fp, p.name, line, source, m.table, problem, row, now)
            continue
        if m.table == "events":
            mapped.setdefault("tenant", tenant)
            mapped.setdefault("received_at", now)
        chunk.append((line, row, mapped))
        if len(chunk) >= CHUNK_ROWS:
            _flush(ws, tenant, m, chunk, quarantine, result, resampled, fp, p.name, source, now)
            chunk = []
            if progress:
                progress(f"import {p.name}", pos, total)
    _flush(ws, tenant, m, chunk, quarantine, result, resampled, fp, p.name, source, now)
    if resampled:
        from parcours.collect.loadcurve import resample

        curve = resample(pa.concat_tables(resampled), m.resample_minutes or 30)
        result.written += write_rows(ws, tenant, m.table, curve, result)
    result.quarantined = q.write(ws, tenant, quarantine)
    if progress:
        progress(f"import {p.name}", total, total)
    result.seconds = round(time.perf_counter() - start, 3)
    _log(ws, result)
    return result


def _quarantine(buf: q.QuarantineBuffer, fp: str, name: str, line: int, source: str, table: str,
                reason: str, row: dict[str, Any], now: dt.datetime) -> None:
    payload = json.dumps({k: v for k, v in row.items() if not k.startswith("__")} or row,
                         ensure_ascii=False, default=str)
    buf.add(q.quarantine_id(fp, line), now, f"import:{source}", table, f"line {line}: {reason}",
            payload, file=name, line=line)


def _flush(ws: Workspace, tenant: str, m: Mapping, chunk: list[tuple[int, dict[str, Any], dict[str, Any]]],
           quarantine: q.QuarantineBuffer, result: ImportResult, resampled: list[pa.Table], fp: str,
           name: str, source: str, now: dt.datetime) -> None:
    if not chunk:
        return
    good, failures = validate_records(spec(m.table), [mapped for _, _, mapped in chunk])
    for f in failures:
        line, row, _ = chunk[f.index]
        _quarantine(quarantine, fp, name, line, source, m.table, f.message, row, now)
    if m.resample_minutes:
        resampled.append(good)  # load curves are normalized over the whole file
        return
    result.written += write_rows(ws, tenant, m.table, good, result)


def write_rows(ws: Workspace, tenant: str, table: str, data: pa.Table, result: ImportResult | None = None) -> int:
    """Write rows whose key is new to the table (within ``data`` and over its history)."""
    if data.num_rows == 0:
        return 0
    if table == "events":
        from parcours.collect.loader import write_events

        w = write_events(ws, tenant, _dedupe_within(data, ["message_id"]))
        if result is not None:
            result.duplicates += data.num_rows - w.new
        return w.new
    from parcours.collect.dedupe import existing_composite

    key = list(spec(table).key)
    unique = _dedupe_within(data, key)
    seen = existing_composite(ws, tenant, "raw", table, unique, key)
    import pyarrow.compute as pc

    new = unique.filter(pc.invert(seen))
    if result is not None:
        result.duplicates += data.num_rows - new.num_rows
    if new.num_rows:
        ws.write(tenant, table, new)
    return new.num_rows


def _dedupe_within(data: pa.Table, key: list[str]) -> pa.Table:
    seen: set[tuple[Any, ...]] = set()
    keep = []
    cols = [data.column(k).to_pylist() for k in key]
    for values in zip(*cols, strict=True):
        keep.append(values not in seen)
        seen.add(values)
    return data if all(keep) else data.filter(pa.array(keep))


def _log(ws: Workspace, r: ImportResult) -> None:
    ws.state_dir.mkdir(parents=True, exist_ok=True)
    entry = {"at": dt.datetime.now(_UTC).isoformat(timespec="milliseconds"), **r.to_dict(),
             "rows": r.rows_read}
    with open(ws.state_dir / IMPORTS_LOG, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def recent_imports(ws: Workspace, limit: int = 50, tenant: str | None = None) -> list[dict[str, Any]]:
    """The most recent imports, newest first (for the web hub)."""
    path = ws.state_dir / IMPORTS_LOG
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    for line in reversed(path.read_text(encoding="utf-8").splitlines()):
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if tenant is None or e.get("tenant") == tenant:
            out.append(e)
            if len(out) >= limit:
                break
    return out
