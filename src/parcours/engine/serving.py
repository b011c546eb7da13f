"""The serving store: an embedded, indexed store for fast per-customer reads.

One SQLite file per tenant and zone (``<workspace>/serving/<tenant>/<zone>.sqlite``),
rebuilt from the lake after each identity resolution: the new file is written next to
the old one and renamed over it, so readers always see a complete store. SQLite
answers indexed point reads in microseconds from many threads (one read-only
connection per thread, WAL journal). At scale a key-value or document store
(Cassandra/ScyllaDB, Postgres with the same tables, Elasticsearch) fed by the same
rebuild takes its place; see docs/architecture.md.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from parcours.lake import check_name

ZONES = ("raw", "analytics")


class ServingStore:
    """Read and rebuild one tenant-zone serving file."""

    def __init__(self, folder: Path, tenant: str, zone: str) -> None:
        check_name("tenant", tenant)
        if zone not in ZONES:
            raise ValueError(f"invalid zone {zone!r}")
        self.path = Path(folder) / tenant / f"{zone}.sqlite"
        self._local = threading.local()

    def exists(self) -> bool:
        return self.path.exists()

    # -- reads -----------------------------------------------------------------------
    def _con(self) -> sqlite3.Connection:
        mtime = self.path.stat().st_mtime_ns
        con = getattr(self._local, "con", None)
        if con is None or getattr(self._local, "mtime", None) != mtime:
            if con is not None:
                con.close()
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            con.row_factory = sqlite3.Row
            self._local.con = con
            self._local.mtime = mtime
        return con

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read query as dicts."""
        return [dict(r) for r in self._con().execute(sql, params).fetchall()]

    # -- rebuild ---------------------------------------------------------------------
    def rebuild(self, schema: Iterable[str], tables: dict[str, tuple[list[str], Iterable[Sequence[Any]]]]) -> None:
        """Write a new store: run ``schema`` DDL, insert each table's rows, index, rename.

        Args:
            schema: DDL statements (tables first; indexes are created after the inserts).
            tables: table -> (columns, rows).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.unlink(missing_ok=True)
        con = sqlite3.connect(tmp)
        try:
            con.execute("PRAGMA journal_mode = OFF")
            con.execute("PRAGMA synchronous = OFF")
            ddl = list(schema)
            for stmt in ddl:
                if not stmt.lstrip().upper().startswith("CREATE INDEX"):
                    con.execute(stmt)
            for name, (columns, rows) in tables.items():
                marks = ", ".join("?" for _ in columns)
                con.executemany(
                    f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})", rows
                )
            for stmt in ddl:
                if stmt.lstrip().upper().startswith("CREATE INDEX"):
                    con.execute(stmt)
            con.commit()
            con.execute("ANALYZE")
        finally:
            con.close()
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def drop(self) -> None:
        self.path.unlink(missing_ok=True)
