"""The serving store: an embedded, indexed store for fast per-customer reads.

One SQLite file per tenant and zone (``<workspace>/serving/<tenant>/<zone>.sqlite``),
rebuilt from the lake after each identity resolution: the new file is written next to
the old one and renamed over it, so readers always see a complete store. SQLite
answers indexed point reads in microseconds from many threads (one read-only
connection per thread, kept open while the file stays the same). At scale a key-value
or document store (Cassandra/ScyllaDB, Postgres with the same tables, Elasticsearch)
fed by the same rebuild takes its place; see docs/architecture.md.

Large text values (timeline chunks, profile documents) are stored compressed with
:func:`pack` (zstd through pyarrow, whose wheels always carry it; zlib where a build
lacks it) and read back with :func:`unpack`; the first byte names the codec, so a store
holds either and a reader needs no setting.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parcours.lake import check_name

if TYPE_CHECKING:
    import pyarrow as pa

ZONES = ("raw", "analytics")

#: Rows are either Python sequences or Arrow record batches (converted column-wise).
Rows = Iterable[Sequence[Any]] | Iterable["pa.RecordBatch"]


#: zstd level of :func:`pack`: 1 compresses a 50-event timeline chunk (~9 kB of JSON)
#: ~11x in ~50 µs; zstd's default, 3, gains 8 % of size for twice the build time.
ZSTD_LEVEL = 1
_ZSTD = b"Z"
_ZLIB = b"z"
_codec_lock = threading.Lock()
_codecs: dict[str, Any] = {}


def _zstd() -> Any:
    """pyarrow's zstd codec (one object per process), or None where it is missing."""
    with _codec_lock:
        if "zstd" not in _codecs:
            import pyarrow as pa

            _codecs["zstd"] = (pa.Codec("zstd", compression_level=ZSTD_LEVEL)
                               if pa.Codec.is_available("zstd") else None)
        return _codecs["zstd"]


def pack(text: str) -> bytes:
    """``text`` compressed for the store: a codec byte, for zstd the 4-byte length of
    the UTF-8 text (pyarrow's decompressor needs it), then the compressed bytes."""
    data = text.encode("utf-8")
    codec = _zstd()
    if codec is None:
        return _ZLIB + zlib.compress(data, 6)
    return _ZSTD + len(data).to_bytes(4, "little") + codec.compress(data, asbytes=True)


def unpack(blob: bytes) -> str:
    """The text :func:`pack` stored."""
    kind = blob[:1]
    if kind == _ZSTD:
        size = int.from_bytes(blob[1:5], "little")
        codec = _zstd()
        if codec is None:
            raise RuntimeError("this store's values are zstd-compressed; install a pyarrow with zstd")
        return codec.decompress(blob[5:], decompressed_size=size, asbytes=True).decode("utf-8")
    if kind == _ZLIB:
        return zlib.decompress(blob[1:]).decode("utf-8")
    raise ValueError(f"unknown serving-store codec {kind!r}")


def _tuples(rows: Iterable[Any]) -> Iterator[Sequence[Any]]:
    """Rows as tuples; Arrow record batches are turned into Python values one column at a
    time (``to_pylist`` per column, then ``zip``), the cheapest way into ``executemany``."""
    for item in rows:
        if hasattr(item, "num_columns") and hasattr(item, "column"):
            yield from zip(*(item.column(i).to_pylist() for i in range(item.num_columns)), strict=True)
        else:
            yield item


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
        """This thread's read-only connection; reopened when the file was replaced (a
        rebuild renames a new file over the old one: the inode changes)."""
        st = self.path.stat()
        stamp = (st.st_ino, st.st_mtime_ns)
        con = getattr(self._local, "con", None)
        if con is None or getattr(self._local, "stamp", None) != stamp:
            if con is not None:
                con.close()
            con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            con.execute("PRAGMA query_only = ON")
            con.execute("PRAGMA cache_size = -16000")  # 16 MB of pages per connection
            con.row_factory = sqlite3.Row
            self._local.con = con
            self._local.stamp = stamp
            self._local.meta = None
        return con

    def meta(self) -> dict[str, str]:
        """The store's ``meta`` table (what it was built with), read once per connection."""
        con = self._con()
        meta = getattr(self._local, "meta", None)
        if meta is None:
            meta = self._local.meta = {n: v for n, v in con.execute("SELECT name, value FROM meta")}
        return meta

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read query as dicts."""
        return [dict(r) for r in self._con().execute(sql, params).fetchall()]

    def values(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read query as tuples (no dict per row: the hot path's reads)."""
        cur = self._con().execute(sql, params)
        return [tuple(r) for r in cur.fetchall()]

    # -- rebuild ---------------------------------------------------------------------
    def rebuild(self, schema: Iterable[str], tables: dict[str, tuple[list[str], Rows]]) -> dict[str, float]:
        """Write a new store: run ``schema`` DDL, insert each table's rows, index, rename.

        Args:
            schema: DDL statements (tables first; indexes are created after the inserts).
            tables: table -> (columns, rows); rows are tuples or Arrow record batches
                whose columns are in ``columns``' order. Rows inserted in the
                order of the main index keep a profile's rows on neighbouring pages.

        Returns:
            Seconds spent per table (producing and inserting its rows), and on ``indexes``.
        """
        import time

        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.unlink(missing_ok=True)
        con = sqlite3.connect(tmp)
        try:
            con.execute("PRAGMA journal_mode = OFF")
            con.execute("PRAGMA synchronous = OFF")
            con.execute("PRAGMA cache_size = -262144")  # 256 MB while building
            con.execute("PRAGMA page_size = 8192")
            ddl = list(schema)
            for stmt in ddl:
                if not stmt.lstrip().upper().startswith("CREATE INDEX"):
                    con.execute(stmt)
            seconds: dict[str, float] = {}
            for name, (columns, rows) in tables.items():
                start = time.perf_counter()
                marks = ", ".join("?" for _ in columns)
                con.executemany(
                    f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})", _tuples(rows)
                )
                seconds[name] = round(time.perf_counter() - start, 3)
            start = time.perf_counter()
            for stmt in ddl:
                if stmt.lstrip().upper().startswith("CREATE INDEX"):
                    con.execute(stmt)
            con.commit()
            con.execute("ANALYZE")
            seconds["indexes"] = round(time.perf_counter() - start, 3)
        finally:
            con.close()
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        return seconds

    def drop(self) -> None:
        self.path.unlink(missing_ok=True)
