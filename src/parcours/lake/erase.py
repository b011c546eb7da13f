"""Removing rows from a Delta table without writing what is removed anywhere.

``DeltaTable.delete(predicate)`` writes its predicate into the table's log
(``commitInfo.operationParameters``): deleting ``customer_number = 'C42'`` would keep
'C42' in ``_delta_log`` forever, vacuum or not. :func:`remove_rows` instead finds the
partitions holding the rows, rewrites those partitions without them in one commit
whose predicate names only partition values (``day IN (...)``), and leaves the old
files to :meth:`Lake.vacuum`. Column statistics never hold strings (see
:func:`parcours.lake.store.table_config`), so nothing else in the log names a person.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import write_deltalake

from parcours.lake.store import Lake

#: Rows to remove: a function of a batch of rows returning a boolean mask.
Matcher = Callable[[pa.Table], pa.Array]


@dataclass
class Removal:
    """What :func:`remove_rows` did to one table."""

    rows_removed: int = 0
    files_rewritten: int = 0
    partitions: int = 0


def _mask(match: Matcher, table: pa.Table) -> pa.Array:
    return pc.fill_null(match(table), False)


def remove_rows(lake: Lake, tenant: str, zone: str, table: str, match: Matcher) -> Removal:
    """Remove the rows ``match`` selects, in one commit that names no row value."""
    out = Removal()
    if not lake.exists(tenant, zone, table):
        return out
    dt = lake.delta(tenant, zone, table)
    parts = list(dt.metadata().partition_columns)
    actions = dt.get_add_actions(flatten=True)
    act = actions if isinstance(actions, pa.Table) else pa.table(actions)
    root = lake.path(tenant, zone, table)
    affected: set[tuple[object, ...]] = set()
    files = 0
    for rec in act.to_pylist():
        data = pq.read_table(root / rec["path"])
        hits = int(pc.sum(_mask(match, data)).as_py() or 0)
        if hits:
            files += 1
            affected.add(tuple(rec[f"partition.{p}"] for p in parts))
    if not affected:
        return out
    dataset = dt.to_pyarrow_dataset()
    predicate = None
    if parts:
        if len(parts) != 1:  # parcours partitions by day only
            raise NotImplementedError("remove_rows supports one partition column")
        values = sorted(str(v[0]) for v in affected)
        flt = pc.field(parts[0]).isin(pa.array(sorted(v[0] for v in affected)))  # type: ignore[type-var]
        current = dataset.to_table(filter=flt)
        predicate = f"{parts[0]} IN (" + ", ".join(f"'{v}'" for v in values) + ")"
    else:
        current = dataset.to_table()
    drop = _mask(match, current)
    kept = current.filter(pc.invert(drop))
    write_deltalake(
        str(root), kept, mode="overwrite", predicate=predicate, partition_by=parts or None
    )
    out.rows_removed = current.num_rows - kept.num_rows
    out.files_rewritten = files
    out.partitions = len(affected)
    return out


def string_columns(lake: Lake, tenant: str, zone: str, table: str) -> list[str]:
    """The string columns of a table (where identifiers and pseudonyms live)."""
    schema = lake.delta(tenant, zone, table).to_pyarrow_dataset().schema
    return [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]


__all__ = ["Matcher", "Removal", "remove_rows", "string_columns"]
