"""The embedded engine: DuckDB reading the lake's Parquet files."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import duckdb
import ibis

from parcours.engine.base import Engine

if TYPE_CHECKING:
    import pyarrow as pa

    from parcours.lake import Lake
    from parcours.settings import Settings


def sql_string(value: str) -> str:
    """``value`` as a DuckDB string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """``name`` as a quoted DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


class DuckDBEngine(Engine):
    """DuckDB through Ibis; one in-memory database of views over the lake.

    A DuckDB connection must not be used by two threads at once, and the web server
    answers requests on a thread pool: each thread gets its own cursor on the one
    database (views are shared, since they live in its catalog).
    """

    kind = "duckdb"

    def __init__(self, lake: Lake, settings: Settings) -> None:
        super().__init__(lake, settings)
        config: dict[str, Any] = {}
        if settings.engine.duckdb_threads:
            config["threads"] = settings.engine.duckdb_threads
        if settings.engine.duckdb_memory_limit:
            config["memory_limit"] = settings.engine.duckdb_memory_limit
        self._base = duckdb.connect(":memory:", config=config)
        self._base.execute("SET TimeZone = 'UTC'")
        self._local = threading.local()

    @property
    def con(self) -> Any:
        """This thread's Ibis backend."""
        backend = getattr(self._local, "backend", None)
        if backend is None:
            backend = ibis.duckdb.from_connection(self._base.cursor())
            self._local.backend = backend
        return backend

    @property
    def duckdb(self) -> Any:
        """This thread's raw DuckDB connection (for SQL that Ibis does not express)."""
        return self.con.con

    def _register(
        self, view: str, schema: pa.Schema, files: list[str], root: str, *, partitioned: bool
    ) -> None:
        cols = ", ".join(sql_ident(n) for n in schema.names)
        if not files:
            # an empty table with the exact types: a view over a typed, empty VALUES list
            typed = ", ".join(
                f"CAST(NULL AS {_duck_type(f.type)}) AS {sql_ident(f.name)}" for f in schema
            )
            sql = f"CREATE OR REPLACE VIEW {sql_ident(view)} AS SELECT {typed} WHERE false"
        else:
            listing = "[" + ", ".join(sql_string(f) for f in files) + "]"
            opts = ", hive_partitioning = true, hive_types = {'day': DATE}" if partitioned else ""
            sql = (
                f"CREATE OR REPLACE VIEW {sql_ident(view)} AS SELECT {cols} "
                f"FROM read_parquet({listing}{opts})"
            )
        self._base.execute(sql)

    def close(self) -> None:
        super().close()
        self._base.close()


def _duck_type(typ: pa.DataType) -> str:
    import pyarrow as pa

    if pa.types.is_string(typ):
        return "VARCHAR"
    if pa.types.is_timestamp(typ):
        return "TIMESTAMPTZ" if typ.tz else "TIMESTAMP"
    if pa.types.is_date(typ):
        return "DATE"
    if pa.types.is_floating(typ):
        return "DOUBLE"
    if pa.types.is_integer(typ):
        return {8: "TINYINT", 16: "SMALLINT", 32: "INTEGER", 64: "BIGINT"}[typ.bit_width]
    if pa.types.is_boolean(typ):
        return "BOOLEAN"
    raise TypeError(f"no DuckDB type for {typ}")
