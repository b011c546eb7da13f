"""Which keys of a batch a lake table already holds — over its whole history.

The check reads only the key column(s) of the table's current snapshot (the Parquet
files its Delta log lists) with DuckDB, semi-joined with the batch's keys. Its cost
grows with the table: about one column scan per micro-batch (DuckDB reads tens of
millions of ids per second per core), which is why the loader commits in large
micro-batches. Partition pruning is deliberately not used: a retried event carries
its original timestamp, but the guarantee is on the key alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from parcours.workspace import Workspace


def existing_keys(ws: Workspace, tenant: str, zone: str, table: str, column: str,
                  keys: pa.Array | pa.ChunkedArray) -> set[str]:
    """The values of ``keys`` already present in ``column`` of the table."""
    files = ws.lake.files(tenant, zone, table)
    if not files or len(keys) == 0:
        return set()
    import duckdb

    con = duckdb.connect()
    try:
        con.register("batch_keys", pa.table({"k": keys}))
        rel = con.execute(
            f'SELECT DISTINCT t."{column}" FROM read_parquet(?) AS t '
            f'SEMI JOIN batch_keys b ON t."{column}" = b.k',
            [files],
        )
        return {row[0] for row in rel.fetchall()}
    finally:
        con.close()


def existing_mask(ws: Workspace, tenant: str, zone: str, table: str, column: str,
                  keys: pa.Array | pa.ChunkedArray) -> pa.Array | None:
    """A boolean mask over ``keys``: True where the value is already in ``column`` of the
    table; None when none is (the common case, so callers skip a filter).

    DuckDB hash-joins the batch's keys with the column and returns the keys found as
    Arrow; the mask is an Arrow ``is_in`` — no Python object per key.
    """
    files = ws.lake.files(tenant, zone, table)
    if not files or len(keys) == 0:
        return None
    import duckdb
    import pyarrow.compute as pc

    con = duckdb.connect()
    try:
        con.register("batch_keys", pa.table({"k": keys}))
        found = con.sql(
            f'SELECT DISTINCT b.k FROM batch_keys b SEMI JOIN read_parquet($files) AS t ON t."{column}" = b.k',
            params={"files": files},
        ).to_arrow_table().column(0)
    finally:
        con.close()
    if len(found) == 0:
        return None
    return pc.is_in(keys, value_set=found.combine_chunks())


def existing_composite(ws: Workspace, tenant: str, zone: str, table: str, data: pa.Table,
                       columns: list[str]) -> pa.Array:
    """A boolean mask over ``data``: True where its key (``columns``) is already in the table."""
    files = ws.lake.files(tenant, zone, table)
    if not files or data.num_rows == 0:
        return pa.array([False] * data.num_rows)
    import duckdb

    con = duckdb.connect()
    try:
        batch = data.select(columns).append_column("__row", pa.array(range(data.num_rows), pa.int64()))
        con.register("batch_rows", batch)
        on = " AND ".join(f'b."{c}" IS NOT DISTINCT FROM t."{c}"' for c in columns)
        cols = ", ".join(f'"{c}"' for c in columns)
        found = con.execute(
            f"SELECT b.__row FROM batch_rows b SEMI JOIN (SELECT {cols} FROM read_parquet(?)) t ON {on}",
            [files],
        ).fetchall()
    finally:
        con.close()
    mask = [False] * data.num_rows
    for (i,) in found:
        mask[i] = True
    return pa.array(mask)
