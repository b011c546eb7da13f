"""Which keys of a batch a lake table already holds — over its whole history.

The scans (:func:`existing_keys`, :func:`existing_mask`, :func:`existing_composite`) read
only the key column(s) of the table's current snapshot (the Parquet files its Delta log
lists) with DuckDB, semi-joined with the batch's keys: a cost that grows with the table,
one column scan per micro-batch. The events loader asks :func:`indexed_mask` instead,
answered by a :class:`KeyIndex` at a cost that follows the batch. Partition pruning is
deliberately not used: a retried event carries its original timestamp, but the
guarantee is on the key alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

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
        found = _semi_join(con, keys, files, column)
    finally:
        con.close()
    if len(found) == 0:
        return None
    return pc.is_in(keys, value_set=found)


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


# -- the key index: a batch's dedupe in proportion to the batch ---------------------------

#: Strings whose DuckDB ``hash`` the index records: another value (a DuckDB upgrade that
#: changed its hash) makes the index rebuild itself instead of answering wrongly.
_CANARIES = ["parcours", "", "message_id", "0123456789-abcdef"]
_FORMAT = 1
#: The hash, as a DuckDB expression of the key (tests make it collide on purpose).
_HASH = "hash({})"
#: Entries of a run mapped or merged at a time (2 MB of hashes: a merge holds ~25 MB).
_CHUNK_ROWS = 1 << 18


class KeyIndex:
    """Which keys a lake table holds, over its whole history, without scanning it.

    Per tenant, zone, table and key column, under ``state/keys/``: the 64-bit DuckDB hash
    of every key of the table, with the number of the Parquet file holding it, in sorted
    runs (``numpy`` files, read a slice at a time); a ``manifest.json`` names the runs and the
    snapshot files they cover. The index is only ever a function of those files:

    * before answering, it takes in the snapshot's files it does not cover (reading
      their key column: proportional to what was committed since — one batch, normally);
      if a file it covers has left the snapshot (a delete, an erasure, a compaction), it
      is rebuilt from the whole snapshot. A crash between a lake commit and the index
      update therefore costs nothing: the next lookup reads the new files;
    * a hash found means "maybe": the keys whose hash is found are checked exactly
      against the files the index says hold that hash (a DuckDB semi-join over those few
      files). A key whose hash is absent is absent from every file of the snapshot;
    * runs merge like a binary counter (a run is merged into the one before when that one
      is not larger), so there are O(log n) runs, each key is rewritten O(log n) times,
      and a lookup is one ``searchsorted`` of the batch's sorted hashes per slice of each
      run (slices of ``_CHUNK_ROWS`` entries, mapped one at a time, so memory stays
      bounded whatever the table's size).

    The manifest is replaced atomically (written aside, fsynced, renamed) after its runs
    are on disk; runs it does not name are deleted. An ``flock`` serialises processes.
    """

    def __init__(self, ws: Workspace, tenant: str, zone: str, table: str, column: str) -> None:
        self.ws, self.tenant, self.zone, self.table, self.column = ws, tenant, zone, table, column
        self.root = ws.lake.path(tenant, zone, table)
        self.dir = ws.state_dir / "keys" / tenant / f"{zone}.{table}.{column}"

    # -- public ----------------------------------------------------------------------------
    def mask(self, keys: pa.Array | pa.ChunkedArray) -> pa.Array | None:
        """What :func:`existing_mask` answers, from the index (refreshed first)."""
        files = self.ws.lake.files(self.tenant, self.zone, self.table)
        if not files or len(keys) == 0:
            return None
        import duckdb
        import numpy as np

        from parcours.privacy.files import locked

        with locked(self.dir / "index"), duckdb.connect() as con:
            covered, runs = self._refresh(con, files)
            hashes = _hashes(con, keys)
            order = np.argsort(hashes)
            query = hashes[order]  # sorted: the runs' pages are read in order
            hit = np.zeros(len(query), dtype=bool)
            holders: list[np.ndarray] = []
            for run in runs:
                for h, f in self._chunks(run):  # a few MB mapped at a time
                    a = int(np.searchsorted(query, h[0], side="left"))
                    b = int(np.searchsorted(query, h[-1], side="right"))
                    if a == b:
                        continue
                    q = query[a:b]
                    lo = np.searchsorted(h, q, side="left")
                    found = h[np.minimum(lo, len(h) - 1)] == q
                    if not found.any():
                        continue
                    hit[a:b] |= found
                    hi = np.searchsorted(h, q[found], side="right")
                    counts = hi - lo[found]
                    starts = np.repeat(lo[found] - np.cumsum(counts) + counts, counts)
                    holders.append(np.array(f[starts + np.arange(int(counts.sum()))]))
            if not hit.any():
                return None
            numbers = np.unique(np.concatenate(holders))
            in_keys = np.zeros(len(query), dtype=bool)
            in_keys[order[hit]] = True
            candidates = pc.filter(keys, pa.array(in_keys))
            found_keys = _semi_join(con, candidates, [covered[i] for i in numbers.tolist()], self.column)
        if len(found_keys) == 0:
            return None
        return pc.is_in(keys, value_set=found_keys)

    # -- the index on disk -----------------------------------------------------------------
    def _refresh(self, con: Any, files: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
        """The index brought up to the snapshot ``files``: the files it covers (absolute
        paths, by file number) and its runs."""
        import numpy as np

        snapshot = [self._relative(p) for p in files]
        manifest = self._manifest()
        canaries = _hashes(con, pa.array(_CANARIES, pa.string())).tolist()
        usable = (manifest is not None and manifest.get("format") == _FORMAT
                  and manifest.get("canaries") == canaries and set(manifest["files"]) <= set(snapshot)
                  and all((self.dir / f"{r['name']}.{k}.npy").exists() for r in manifest["runs"] for k in "hf"))
        if not usable:  # first use, or a covered file was replaced: from the whole snapshot
            manifest = {"format": _FORMAT, "canaries": canaries, "files": [], "runs": []}
        assert manifest is not None
        known = set(manifest["files"])
        new = [p for p in snapshot if p not in known]
        if new or not usable:
            base = len(manifest["files"])
            h, f = _file_hashes(con, [self._absolute(p) for p in new], self.column)
            f = (f + base).astype(np.uint32)
            runs = list(manifest["runs"])
            if len(h):
                runs.append(self._write_run(h, f))
            while len(runs) >= 2 and runs[-2]["rows"] <= runs[-1]["rows"]:
                b, a = runs.pop(), runs.pop()
                runs.append(self._merge(a, b))
            manifest = {**manifest, "files": manifest["files"] + new, "runs": runs}
            self._save(manifest)
        covered = [self._absolute(p) for p in manifest["files"]]
        return covered, list(manifest["runs"])

    def _relative(self, path: str) -> str:
        root = str(self.root) + os.sep
        return path[len(root):] if path.startswith(root) else path

    def _absolute(self, path: str) -> str:
        return path if os.path.isabs(path) or "://" in path else str(self.root / path)

    def _manifest(self) -> dict[str, Any] | None:
        import json

        try:
            with open(self.dir / "manifest.json", encoding="utf-8") as fh:
                return dict(json.load(fh))
        except (FileNotFoundError, ValueError):
            return None

    def _write_run(self, h: Any, f: Any) -> dict[str, Any]:
        """Write a run (sorted by hash, stable) under a new name; fsynced."""
        import uuid

        import numpy as np

        order = np.argsort(h, kind="stable")  # timsort: two sorted runs merge in one pass
        name = f"run-{uuid.uuid4().hex}"
        for suffix, values in ((".h.npy", h[order]), (".f.npy", f[order])):
            with open(self.dir / (name + suffix), "wb") as fh:
                np.save(fh, np.ascontiguousarray(values))
                fh.flush()
                os.fsync(fh.fileno())
        return {"name": name, "rows": int(len(h))}

    def _load(self, run: dict[str, Any]) -> tuple[Any, Any]:
        import numpy as np

        return (np.load(self.dir / f"{run['name']}.h.npy", mmap_mode="r"),
                np.load(self.dir / f"{run['name']}.f.npy", mmap_mode="r"))

    def _chunks(self, run: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
        """A run's (hashes, file numbers) in slices of ``_CHUNK_ROWS``, each mapped on its
        own and unmapped after use: the pages a lookup touches leave with their slice."""
        import numpy as np

        h_all, f_all = self._load(run)
        h_off, f_off, n = h_all.offset, f_all.offset, len(h_all)
        del h_all, f_all
        for start in range(0, n, _CHUNK_ROWS):
            k = min(_CHUNK_ROWS, n - start)
            h = np.memmap(self.dir / f"{run['name']}.h.npy", np.uint64, "r", h_off + 8 * start, (k,))
            f = np.memmap(self.dir / f"{run['name']}.f.npy", np.uint32, "r", f_off + 4 * start, (k,))
            yield h, f
            del h, f

    def _merge(self, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        """Two runs merged into a new one, slice by slice, read and written as it goes
        (memory bounded by the slice: mapped whole, the inputs and a mapped output would
        keep resident every page they went through)."""
        import uuid
        from contextlib import ExitStack

        import numpy as np

        ha, fa = self._load(a)  # for binary searches only (a few pages each)
        hb, fb = self._load(b)
        n = len(ha) + len(hb)

        def read(run: dict[str, Any], arr: Any, kind: str, lo: int, hi: int) -> Any:
            return np.fromfile(self.dir / f"{run['name']}.{kind}.npy", dtype=arr.dtype, count=hi - lo,
                               offset=arr.offset + arr.dtype.itemsize * lo)

        name = f"run-{uuid.uuid4().hex}"
        with ExitStack() as stack:
            out_h = stack.enter_context(open(self.dir / f"{name}.h.npy", "wb"))
            out_f = stack.enter_context(open(self.dir / f"{name}.f.npy", "wb"))
            for out, dtype in ((out_h, "<u8"), (out_f, "<u4")):
                np.lib.format.write_array_header_1_0(out, {"descr": dtype, "fortran_order": False, "shape": (n,)})
            i = j = 0
            while i < len(ha) or j < len(hb):
                # up to a value both slices reach: each side takes at most a slice (plus ties)
                if i < len(ha) and j < len(hb):
                    v = min(ha[min(i + _CHUNK_ROWS, len(ha)) - 1], hb[min(j + _CHUNK_ROWS, len(hb)) - 1])
                    i2 = int(np.searchsorted(ha, v, side="right"))
                    j2 = int(np.searchsorted(hb, v, side="right"))
                else:
                    i2 = min(i + _CHUNK_ROWS, len(ha))
                    j2 = min(j + _CHUNK_ROWS, len(hb))
                h = np.concatenate([read(a, ha, "h", i, i2), read(b, hb, "h", j, j2)])
                f = np.concatenate([read(a, fa, "f", i, i2), read(b, fb, "f", j, j2)])
                order = np.argsort(h, kind="stable")
                out_h.write(np.ascontiguousarray(h[order], dtype="<u8").tobytes())
                out_f.write(np.ascontiguousarray(f[order], dtype="<u4").tobytes())
                i, j = i2, j2
            for out in (out_h, out_f):
                out.flush()
                os.fsync(out.fileno())
        return {"name": name, "rows": n}

    def _save(self, manifest: dict[str, Any]) -> None:
        """Replace the manifest atomically, then delete the runs it does not name."""
        import json

        from parcours.privacy.files import write_private

        write_private(self.dir / "manifest.json", json.dumps(manifest).encode("utf-8"), private_parent=False)
        live = {r["name"] for r in manifest["runs"]}
        for p in self.dir.glob("run-*.npy"):
            if p.name.split(".", 1)[0] not in live:
                p.unlink(missing_ok=True)


def _hashes(con: Any, keys: pa.Array | pa.ChunkedArray) -> Any:
    """DuckDB's 64-bit hash of each key, in order, as numpy."""
    con.register("index_keys", pa.table({"k": keys}))
    try:
        out = con.sql(f"SELECT {_HASH.format('k')}::UBIGINT AS h FROM index_keys").to_arrow_table().column(0)
    finally:
        con.unregister("index_keys")
    return out.to_numpy()


def _file_hashes(con: Any, files: list[str], column: str) -> tuple[Any, Any]:
    """The hash of every key of ``files`` and the number (position in ``files``) of the
    file holding it."""
    import numpy as np

    hs, fs = [np.zeros(0, dtype=np.uint64)], [np.zeros(0, dtype=np.uint32)]
    expr = _HASH.format(f'"{column}"')
    for i, path in enumerate(files):
        h = con.execute(f"SELECT {expr}::UBIGINT FROM read_parquet(?)", [path]).fetchnumpy()
        values = next(iter(h.values()))
        hs.append(np.asarray(values, dtype=np.uint64))
        fs.append(np.full(len(values), i, dtype=np.uint32))
    return np.concatenate(hs), np.concatenate(fs)


def _semi_join(con: Any, keys: pa.Array | pa.ChunkedArray, files: list[str], column: str) -> pa.Array:
    """The distinct values of ``keys`` present in ``column`` of ``files``."""
    con.register("batch_keys", pa.table({"k": keys}))
    found = con.sql(
        f'SELECT DISTINCT b.k FROM batch_keys b SEMI JOIN read_parquet($files) AS t ON t."{column}" = b.k',
        params={"files": files},
    ).to_arrow_table().column(0)
    return found.combine_chunks()


def indexed_mask(ws: Workspace, tenant: str, zone: str, table: str, column: str,
                 keys: pa.Array | pa.ChunkedArray) -> pa.Array | None:
    """:func:`existing_mask` answered by the table's :class:`KeyIndex` (same result, a cost
    in proportion to the batch and to what was committed since the last lookup)."""
    return KeyIndex(ws, tenant, zone, table, column).mask(keys)
