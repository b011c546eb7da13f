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


def remove_rows(
    lake: Lake,
    tenant: str,
    zone: str,
    table: str,
    match: Matcher,
    columns: list[str] | None = None,
) -> Removal:
    """Remove the rows ``match`` selects, in one commit that names no row value.

    Args:
        columns: the columns ``match`` reads (default: all). The search streams the
            table's snapshot in batches of these columns only, multi-threaded.
    """
    out = Removal()
    if not lake.exists(tenant, zone, table):
        return out
    dt = lake.delta(tenant, zone, table)
    parts = list(dt.metadata().partition_columns)
    if len(parts) > 1:  # parcours partitions by day only
        raise NotImplementedError("remove_rows supports one partition column")
    dataset = dt.to_pyarrow_dataset()
    wanted = list(dict.fromkeys([*(columns or dataset.schema.names), *parts]))
    affected: set[object] = set()
    hits = 0
    for batch in dataset.to_batches(columns=wanted):
        if batch.num_rows == 0:
            continue
        chunk = pa.Table.from_batches([batch])
        mask = _mask(match, chunk)
        n = int(pc.sum(mask).as_py() or 0)
        if n:
            hits += n
            affected |= set(pc.unique(chunk.column(parts[0]).filter(mask)).to_pylist()) if parts else {None}
    if not hits:
        return out
    actions = dt.get_add_actions(flatten=True)
    act = actions if isinstance(actions, pa.Table) else pa.table(actions)
    predicate = None
    if parts:
        values = sorted(affected)  # type: ignore[type-var]
        current = dataset.to_table(filter=pc.field(parts[0]).isin(pa.array(values)))
        predicate = f"{parts[0]} IN (" + ", ".join(f"'{v}'" for v in values) + ")"
        in_parts = pc.is_in(act.column(f"partition.{parts[0]}"), value_set=pa.array(values))
        out.files_rewritten = int(pc.sum(in_parts).as_py() or 0)
    else:
        current = dataset.to_table()
        out.files_rewritten = act.num_rows
    drop = _mask(match, current)
    kept = current.filter(pc.invert(drop))
    write_deltalake(
        str(lake.path(tenant, zone, table)), kept, mode="overwrite", predicate=predicate,
        partition_by=parts or None,
    )
    out.rows_removed = current.num_rows - kept.num_rows
    out.partitions = len(affected)
    return out


def string_columns(lake: Lake, tenant: str, zone: str, table: str) -> list[str]:
    """The string columns of a table (where identifiers and pseudonyms live)."""
    schema = lake.delta(tenant, zone, table).to_pyarrow_dataset().schema
    return [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]


__all__ = ["Matcher", "Removal", "remove_rows", "string_columns"]
