"""The SQL entry point for analysts: read-only, one tenant, one zone, no file access.

The tenant's tables are handed to a fresh DuckDB connection as Arrow datasets
(the Delta snapshots), then the connection is locked: external access off (no
``read_parquet``, ``read_csv``, ``glob``, ``ATTACH``, ``COPY`` …), no extension
loading, configuration locked so the query cannot turn any of it back on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from parcours.errors import ParcoursError

if TYPE_CHECKING:
    import pyarrow as pa

    from parcours.lake import Lake


class SQLError(ParcoursError, ValueError):
    """The query failed; the message is DuckDB's, which names the problem."""


def run_sql(lake: Lake, tenant: str, zone: str, query: str, limit: int | None = None) -> pa.Table:
    """Run ``query`` over the tables of ``lake/<tenant>/<zone>``; tables by their plain name."""
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        for name in lake.tables(tenant, zone):
            dataset = lake.delta(tenant, zone, name).to_pyarrow_dataset()
            con.register(name, dataset)
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        try:
            rel = con.sql(query)
            if rel is None:
                raise SQLError("the query returned no result (only SELECT queries are answered)")
            table = (rel if limit is None else rel.limit(limit)).to_arrow_table()
        except duckdb.Error as exc:
            raise SQLError(f"SQL error: {str(exc).splitlines()[0]}") from None
        return table
    finally:
        con.close()
