"""Import mappings: how the columns of a legacy file become rows of a parcours table.

A mapping is a TOML file::

    table = "events"            # target table (events or a domain table)
    format = "csv"              # csv | jsonl | parquet (default: from the extension)
    delimiter = ";"             # CSV only (default ",")
    encoding = "utf-8"          # CSV / JSON lines (default utf-8)
    timezone = "Europe/Paris"   # naive date-times in the file are in this zone (default UTC)

    [columns]                   # target column = how to get it from a source row
    user_id = "CustomerNo"                                  # a source column
    timestamp = { column = "Start", format = "%d/%m/%Y %H:%M" }   # strptime format
    amount_eur = { column = "Amount", decimal = "," }      # decimal comma
    type = { value = "track" }                             # a constant
    message_id = { template = "call-{CallId}" }            # a template over source columns
    properties = { object = { duration_s = "Duration", topic = "Topic" } }  # a JSON object

    [resample]                  # meter_readings only: normalize load curves
    interval_minutes = 30

Values are then validated against the target table's schema
(:func:`parcours.events.validate_records`); empty source cells are nulls.
"""

from __future__ import annotations

import datetime as dt
import tomllib
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parcours.collect.errors import MappingError
from parcours.events import TABLES

_KINDS = ("column", "value", "template", "object")


@dataclass
class ColumnRule:
    """How one target column is computed from a source row."""

    target: str
    column: str | None = None
    value: Any = None
    template: str | None = None
    obj: dict[str, str] | None = None
    format: str | None = None
    decimal: str | None = None

    def apply(self, row: dict[str, Any], tz: dt.tzinfo | None) -> Any:
        if self.value is not None:
            return self.value
        if self.template is not None:
            try:
                return self.template.format_map(row)
            except KeyError as exc:
                raise ValueError(f"{self.target}: source column {exc.args[0]!r} is missing") from None
        if self.obj is not None:
            return {k: _blank_to_none(row.get(src)) for k, src in self.obj.items() if _blank_to_none(row.get(src)) is not None}
        assert self.column is not None
        v = _blank_to_none(row.get(self.column))  # absent (JSON) or short row (CSV): null
        if v is None:
            return None
        if self.decimal and isinstance(v, str):
            v = v.replace(" ", "").replace(self.decimal, ".")
        if self.format:
            try:
                parsed = dt.datetime.strptime(str(v).strip(), self.format)
            except ValueError:
                raise ValueError(f"{self.target}: {str(v)[:40]!r} does not match {self.format!r}") from None
            return parsed.replace(tzinfo=tz) if tz is not None and parsed.tzinfo is None else parsed
        if tz is not None and isinstance(v, str) and self.target in _TIME_COLUMNS:
            try:
                parsed = dt.datetime.fromisoformat(v.strip())
            except ValueError:
                return v  # validation names the problem
            return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed
        return v


_TIME_COLUMNS = {s.time_column for s in TABLES.values() if s.time_column} | {"received_at"}


def _blank_to_none(v: Any) -> Any:
    return None if v is None or (isinstance(v, str) and v.strip() == "") else v


@dataclass
class Mapping:
    """A parsed mapping file."""

    table: str
    rules: list[ColumnRule]
    format: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    timezone: str | None = None
    resample_minutes: int | None = None
    path: str | None = None
    _tz: dt.tzinfo | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: str | Path) -> Mapping:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MappingError("mapping file not found", str(p)) from None
        except tomllib.TOMLDecodeError as exc:
            raise MappingError(f"not valid TOML: {exc}", str(p)) from None
        return cls.from_dict(data, str(p.name))

    @classmethod
    def from_dict(cls, data: dict[str, Any], name: str | None = None) -> Mapping:
        known = {"table", "format", "delimiter", "encoding", "timezone", "columns", "resample"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise MappingError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})", name)
        table = data.get("table")
        if table not in TABLES or table == "quarantine":
            raise MappingError(f"table must be one of {', '.join(sorted(t for t in TABLES if t != 'quarantine'))}", name)
        columns = data.get("columns")
        if not isinstance(columns, dict) or not columns:
            raise MappingError("a [columns] table is required", name)
        schema_names = set(TABLES[table].schema.names) - {"day"}
        rules = []
        for target, how in columns.items():
            if target not in schema_names:
                raise MappingError(f"column {target!r} is not in table {table} ({', '.join(sorted(schema_names))})", name)
            if isinstance(how, str):
                rules.append(ColumnRule(target, column=how))
                continue
            if not isinstance(how, dict) or sum(k in how for k in _KINDS) != 1:
                raise MappingError(f"columns.{target}: give exactly one of {', '.join(_KINDS)}", name)
            extra = set(how) - set(_KINDS) - {"format", "decimal"}
            if extra:
                raise MappingError(f"columns.{target}: unknown option {sorted(extra)[0]!r}", name)
            obj = how.get("object")
            if obj is not None and not (isinstance(obj, dict) and all(isinstance(v, str) for v in obj.values())):
                raise MappingError(f"columns.{target}.object maps JSON keys to source columns", name)
            rules.append(ColumnRule(target, column=how.get("column"), value=how.get("value"),
                                    template=how.get("template"), obj=obj, format=how.get("format"),
                                    decimal=how.get("decimal")))
        fmt = data.get("format")
        if fmt is not None and fmt not in ("csv", "jsonl", "parquet"):
            raise MappingError("format must be csv, jsonl or parquet", name)
        tzname = data.get("timezone")
        tz: dt.tzinfo | None = None
        if tzname:
            try:
                tz = zoneinfo.ZoneInfo(tzname)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise MappingError(f"unknown timezone {tzname!r}", name) from None
        resample = data.get("resample") or {}
        minutes = resample.get("interval_minutes") if isinstance(resample, dict) else None
        if resample and table != "meter_readings":
            raise MappingError("[resample] applies to meter_readings only", name)
        if minutes is not None and (not isinstance(minutes, int) or minutes <= 0 or 1440 % minutes):
            raise MappingError("resample.interval_minutes must divide a day (e.g. 30)", name)
        m = cls(table=table, rules=rules, format=fmt, delimiter=str(data.get("delimiter", ",")),
                encoding=str(data.get("encoding", "utf-8")), timezone=tzname, resample_minutes=minutes,
                path=name)
        m._tz = tz
        required = {f.name for f in TABLES[table].schema if not f.nullable} - {"day", "tenant", "received_at"}
        missing = sorted(required - {r.target for r in rules})
        if missing:
            raise MappingError(f"required column(s) of {table} not mapped: {', '.join(missing)}", name)
        return m

    def source_columns(self) -> set[str]:
        """The source columns the mapping reads."""
        out: set[str] = set()
        for r in self.rules:
            if r.column:
                out.add(r.column)
            if r.obj:
                out.update(r.obj.values())
        return out

    def map_row(self, row: dict[str, Any]) -> dict[str, Any]:
        """One source row as a target row (raises ValueError naming the column)."""
        return {r.target: r.apply(row, self._tz) for r in self.rules}
