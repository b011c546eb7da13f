"""Validation of records and Arrow tables against a table's schema.

Two entry points:

* :func:`validate_records` checks row dicts (from an API, a file import, a replay)
  and returns the good rows as an Arrow table plus one :class:`ValidationFailure`
  per bad row, each naming the field and the reason — nothing is dropped silently.
* :func:`conform` checks a whole Arrow table produced by trusted code (the demo
  generator, the loader) and casts it to the exact schema, deriving ``day``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from parcours.events.errors import SchemaError
from parcours.events.schemas import TableSpec

_UTC = dt.UTC


@dataclass(frozen=True)
class ValidationFailure:
    """One rejected record: where it was, which field, why, and the record itself."""

    index: int
    field: str
    reason: str
    record: Any

    @property
    def message(self) -> str:
        return f"{self.field}: {self.reason}"


def _parse_timestamp(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        ts = value
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("empty timestamp")
        try:
            ts = dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO 8601 timestamp: {text[:40]!r}") from None
    else:
        raise ValueError(f"expected an ISO 8601 timestamp, got {type(value).__name__}")
    if ts.tzinfo is None:  # naive times are taken as UTC, as Segment does
        ts = ts.replace(tzinfo=_UTC)
    ts = ts.astimezone(_UTC)
    if not (1970 <= ts.year <= 2100):
        raise ValueError(f"timestamp out of range (1970-2100): {ts.isoformat()}")
    return ts


def _parse_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"not an ISO date (YYYY-MM-DD): {value[:40]!r}") from None
    raise ValueError(f"expected a date, got {type(value).__name__}")


def _coerce(value: Any, typ: pa.DataType) -> Any:
    """Coerce one value to the Python value Arrow expects for ``typ``; raise ValueError."""
    if pa.types.is_string(typ):
        if isinstance(value, str):
            return value
        if isinstance(value, Mapping | list):
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a string, got {type(value).__name__}")
        return str(value)
    if pa.types.is_timestamp(typ):
        return _parse_timestamp(value)
    if pa.types.is_date(typ):
        return _parse_date(value)
    if pa.types.is_integer(typ):
        if isinstance(value, bool):
            raise ValueError("expected an integer, got a boolean")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise ValueError(f"expected an integer, got {value[:40]!r}") from None
        if not isinstance(value, int):
            raise ValueError(f"expected an integer, got {type(value).__name__}")
        bits = typ.bit_width
        if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            raise ValueError(f"integer out of range for {typ}")
        return value
    if pa.types.is_floating(typ):
        if isinstance(value, bool):
            raise ValueError("expected a number, got a boolean")
        if isinstance(value, str):
            try:
                value = float(value.strip().replace(",", "."))
            except ValueError:
                raise ValueError(f"expected a number, got {value[:40]!r}") from None
        if not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError("expected a finite number")
        return float(value)
    raise ValueError(f"unsupported type {typ}")  # pragma: no cover - schemas use the above


def validate_records(
    spec: TableSpec, records: Iterable[Mapping[str, Any]]
) -> tuple[pa.Table, list[ValidationFailure]]:
    """Validate row dicts against ``spec``; return the good rows and the failures.

    ``day`` is derived from the time column and must not be given. Unknown fields are
    rejected (a mapping typo must not silently lose a column).

    Example:
        >>> from parcours.events import spec, validate_records
        >>> good, bad = validate_records(spec("weather"), [
        ...     {"region": "IDF", "date": "2025-01-02", "temp_mean_c": 3.5},
        ...     {"region": "IDF", "date": "yesterday", "temp_mean_c": 3.5}])
        >>> good.num_rows, bad[0].message
        (1, "date: not an ISO date (YYYY-MM-DD): 'yesterday'")
    """
    fields = [f for f in spec.schema if f.name != "day" or spec.time_column is None]
    names = {f.name for f in fields}
    columns: dict[str, list[Any]] = {f.name: [] for f in spec.schema}
    failures: list[ValidationFailure] = []
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            failures.append(ValidationFailure(index, "(record)", "expected an object", record))
            continue
        unknown = [k for k in record if k not in names]
        if unknown:
            failures.append(ValidationFailure(index, unknown[0], "unknown field", record))
            continue
        row: dict[str, Any] = {}
        failure = None
        for f in fields:
            value = record.get(f.name)
            if value is None or (isinstance(value, str) and value == "" and not f.nullable):
                if not f.nullable:
                    failure = ValidationFailure(index, f.name, "required field is missing", record)
                    break
                row[f.name] = None
                continue
            try:
                row[f.name] = _coerce(value, f.type)
            except ValueError as exc:
                failure = ValidationFailure(index, f.name, str(exc), record)
                break
        if failure is not None:
            failures.append(failure)
            continue
        if spec.time_column is not None:
            row["day"] = row[spec.time_column].date()
        for name in columns:
            columns[name].append(row.get(name))
    table = pa.Table.from_pydict(columns, schema=spec.schema)
    return table, failures


def conform(spec: TableSpec, table: pa.Table) -> pa.Table:
    """Cast a trusted Arrow table to ``spec``'s exact schema, deriving ``day``.

    Raises:
        SchemaError: a column is missing, unknown, of an incompatible type, or null
            where the schema forbids it.
    """
    names = set(table.column_names)
    wanted = set(spec.schema.names)
    if spec.time_column is not None and "day" not in names:
        if spec.time_column not in names:
            raise SchemaError(spec.name, spec.time_column, "required column is missing")
        ts = table.column(spec.time_column)
        if pa.types.is_timestamp(ts.type) and ts.type.tz is None:
            ts = pc.assume_timezone(ts, "UTC")
        day = pc.cast(pc.cast(ts, pa.timestamp("us", tz="UTC")), pa.date32())
        table = table.append_column("day", day)
        names.add("day")
    extra = sorted(names - wanted)
    if extra:
        raise SchemaError(spec.name, extra[0], "unknown column")
    arrays = []
    for f in spec.schema:
        if f.name not in names:
            if not f.nullable:
                raise SchemaError(spec.name, f.name, "required column is missing")
            arrays.append(pa.nulls(table.num_rows, type=f.type))
            continue
        col = table.column(f.name)
        if pa.types.is_timestamp(col.type) and col.type.tz is None and pa.types.is_timestamp(f.type):
            col = pc.assume_timezone(col, "UTC")
        try:
            col = col.cast(f.type) if col.type != f.type else col
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SchemaError(spec.name, f.name, f"cannot convert {col.type} to {f.type}: {exc}") from None
        if not f.nullable and col.null_count:
            raise SchemaError(spec.name, f.name, f"{col.null_count} null value(s) in a required column")
        arrays.append(col)
    return pa.Table.from_arrays(arrays, schema=spec.schema)
