"""Errors of the event model."""

from __future__ import annotations

from parcours.errors import ParcoursError


class SchemaError(ParcoursError, ValueError):
    """Data does not fit a table's schema; names the table, the field and the reason."""

    def __init__(self, table: str, field: str, reason: str, row: int | None = None) -> None:
        where = f"{table}.{field}" + (f" (row {row})" if row is not None else "")
        super().__init__(f"{where}: {reason}", table=table, field=field, reason=reason, row=row)
        self.table = table
        self.field = field
        self.reason = reason
        self.row = row
