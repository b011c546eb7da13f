"""The embedded engine: DuckDB reading the lake's Parquet files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ibis

from parcours.engine.base import Engine

if TYPE_CHECKING:
    import pyarrow as pa

    from parcours.lake import Lake
    from parcours.settings import Settings


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class DuckDBEngine(Engine):
    """DuckDB through Ibis; one in-memory database of views over the lake."""

    kind = "duckdb"

    def __init__(self, lake: Lake, settings: Settings) -> None:
        super().__init__(lake, settings)
        kwargs: dict[str, Any] = {}
        if settings.engine.duckdb_threads:
            kwargs["threads"] = settings.engine.duckdb_threads
        if settings.engine.duckdb_memory_limit:
            kwargs["memory_limit"] = settings.engine.duckdb_memory_limit
        self._con = ibis.duckdb.connect(**kwargs)
        self._con.raw_sql("SET TimeZone = 'UTC'")

    @property
    def con(self) -> Any:
        return self._con

    @property
    def duckdb(self) -> Any:
        """The raw DuckDB connection (for SQL that Ibis does not express)."""
        return self._con.con

    def _register(
        self, view: str, schema: pa.Schema, files: list[str], root: str, *, partitioned: bool
    ) -> None:
        cols = ", ".join(_ident(n) for n in schema.names)
        if not files:
            empty = f"__empty_{view}"
            self.duckdb.register(empty, schema.empty_table())
            sql = f"CREATE OR REPLACE VIEW {_ident(view)} AS SELECT {cols} FROM {_ident(empty)}"
        else:
            listing = "[" + ", ".join(_quote(f) for f in files) + "]"
            opts = ", hive_partitioning = true, hive_types = {'day': DATE}" if partitioned else ""
            sql = (
                f"CREATE OR REPLACE VIEW {_ident(view)} AS SELECT {cols} "
                f"FROM read_parquet({listing}{opts})"
            )
        self.duckdb.execute(sql)

    def close(self) -> None:
        super().close()
        self._con.disconnect()
