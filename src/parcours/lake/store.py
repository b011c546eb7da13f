"""Delta Lake tables written with delta-rs.

Layout: ``<lake>/<tenant>/<zone>/<table>``; time tables are partitioned by ``day``.
Readers use :meth:`Lake.files` — the Parquet files the table's current snapshot
lists — never a glob of the folder, which would also return files that a delete or
a compaction replaced but vacuum has not yet removed.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from parcours.events import TableSpec, conform, spec
from parcours.lake.errors import InvalidNameError, LakeError

ZONES = ("raw", "analytics")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def check_name(kind: str, value: str) -> str:
    """Tenant and table names become folder names: allow only ``[a-z][a-z0-9_]*``."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidNameError(
            f"invalid {kind} name {value!r}: use lowercase letters, digits and _ "
            "(starting with a letter, at most 40 characters)",
            kind=kind,
            value=str(value),
        )
    return value


def table_config(s: TableSpec) -> dict[str, str | None]:
    """Delta table properties set at creation.

    Column statistics (min/max, kept in the Delta log) are collected only for
    non-string columns: a string's min/max would copy identifiers and free text into
    ``_delta_log`` files, which survive a delete and a vacuum (GDPR erasure). Time and
    numeric columns — the ones data skipping uses — keep their statistics.
    """
    stats = [f.name for f in s.schema if not (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]
    config: dict[str, str | None] = {"delta.appendOnly": "false"}
    if stats:
        config["delta.dataSkippingStatsColumns"] = ",".join(stats)
    else:
        config["delta.dataSkippingNumIndexedCols"] = "0"
    return config


@dataclass(frozen=True)
class TableInfo:
    """One lake table: where it is and what its current snapshot holds."""

    tenant: str
    zone: str
    name: str
    path: Path
    version: int
    files: int
    rows: int
    bytes: int


class Lake:
    """The lake of a workspace.

    Example:
        >>> lake = Lake(tmp_path / "lake")            # doctest: +SKIP
        >>> lake.append("energie", "raw", "weather", table)  # doctest: +SKIP
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # -- locations -------------------------------------------------------------------
    def path(self, tenant: str, zone: str, table: str) -> Path:
        check_name("tenant", tenant)
        if zone not in ZONES:
            raise InvalidNameError(f"invalid zone {zone!r}: one of {', '.join(ZONES)}", kind="zone")
        check_name("table", table)
        return self.root / tenant / zone / table

    def exists(self, tenant: str, zone: str, table: str) -> bool:
        return (self.path(tenant, zone, table) / "_delta_log").is_dir()

    def tenants(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _NAME.match(p.name))

    def tables(self, tenant: str, zone: str) -> list[str]:
        folder = self.root / check_name("tenant", tenant) / zone
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if (p / "_delta_log").is_dir())

    def delta(self, tenant: str, zone: str, table: str) -> DeltaTable:
        path = self.path(tenant, zone, table)
        try:
            return DeltaTable(str(path))
        except TableNotFoundError:
            from parcours.errors import NotFoundError

            raise NotFoundError(
                f"table {tenant}/{zone}/{table} does not exist yet",
                tenant=tenant,
                zone=zone,
                table=table,
            ) from None

    # -- writes ----------------------------------------------------------------------
    def append(
        self, tenant: str, zone: str, table: str, data: pa.Table, *, spec_: TableSpec | None = None
    ) -> int:
        """Append rows atomically; returns the new table version.

        ``data`` is conformed to the table's schema first (``day`` derived), so a
        caller cannot write a column the schema does not know.
        """
        s = spec_ or spec(table)
        data = conform(s, data)
        path = self.path(tenant, zone, table)
        path.parent.mkdir(parents=True, exist_ok=True)
        if data.num_rows == 0 and self.exists(tenant, zone, table):
            return self.delta(tenant, zone, table).version()
        try:
            write_deltalake(
                str(path),
                data,
                mode="append",
                partition_by=s.partition_by,
                configuration=table_config(s),
            )
        except Exception as exc:  # delta-rs raises several types; the table is untouched
            raise LakeError(f"append to {tenant}/{zone}/{table} failed: {exc}") from exc
        return DeltaTable(str(path)).version()

    def overwrite(self, tenant: str, zone: str, table: str, data: pa.Table) -> int:
        """Replace a table's content atomically (reference data, derived tables)."""
        s = spec(table)
        data = conform(s, data)
        path = self.path(tenant, zone, table)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_deltalake(
            str(path), data, mode="overwrite", partition_by=s.partition_by, configuration=table_config(s)
        )
        return DeltaTable(str(path)).version()

    def ensure(self, tenant: str, zone: str, table: str) -> None:
        """Create an empty table if it does not exist, so readers always find a schema."""
        if not self.exists(tenant, zone, table):
            s = spec(table)
            self.path(tenant, zone, table).parent.mkdir(parents=True, exist_ok=True)
            write_deltalake(
                str(self.path(tenant, zone, table)),
                s.schema.empty_table(),
                mode="append",
                partition_by=s.partition_by,
                configuration=table_config(s),
            )

    def delete(self, tenant: str, zone: str, table: str, predicate: str) -> dict[str, Any]:
        """Delete the rows matching a SQL predicate (delta-rs syntax); returns metrics.

        The files that held those rows are rewritten without them; the old files stay
        on disk (time travel) until :meth:`vacuum` removes them.

        The predicate is kept in the Delta log for good: never put a personal value in
        it. To remove a person's rows use :func:`parcours.lake.erase.remove_rows`.
        """
        if not self.exists(tenant, zone, table):
            return {"num_deleted_rows": 0, "num_removed_files": 0, "num_added_files": 0}
        try:
            metrics = self.delta(tenant, zone, table).delete(predicate)
        except Exception as exc:
            raise LakeError(f"delete from {tenant}/{zone}/{table} failed: {exc}") from exc
        return dict(metrics)

    def compact(self, tenant: str, zone: str, table: str) -> dict[str, Any]:
        """Merge small files (one per micro-batch) into larger ones; returns metrics."""
        dt = self.delta(tenant, zone, table)
        return dict(dt.optimize.compact())

    def vacuum(self, tenant: str, zone: str, table: str) -> list[str]:
        """Remove files no longer in the current snapshot, now (no retention window).

        Used by compaction housekeeping and by GDPR erasure, which must not leave the
        erased rows in an older file. Time travel before this point is lost.
        """
        if not self.exists(tenant, zone, table):
            return []
        dt = self.delta(tenant, zone, table)
        removed = dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
        # vacuum also leaves the log; drop checkpoints of removed files is delta-rs' job.
        return list(removed)

    def drop(self, tenant: str, zone: str, table: str) -> None:
        shutil.rmtree(self.path(tenant, zone, table), ignore_errors=True)

    # -- reads -----------------------------------------------------------------------
    def files(self, tenant: str, zone: str, table: str) -> list[str]:
        """Absolute paths of the Parquet files in the table's current snapshot."""
        if not self.exists(tenant, zone, table):
            return []
        uris = self.delta(tenant, zone, table).file_uris()
        return [u[len("file://"):] if u.startswith("file://") else u for u in uris]

    def version(self, tenant: str, zone: str, table: str) -> int:
        if not self.exists(tenant, zone, table):
            return -1
        return self.delta(tenant, zone, table).version()

    def head_version(self, tenant: str, zone: str, table: str) -> int:
        """The table's latest version read from its log folder's file names, without
        opening the table (caches check many tables per request); -1 if absent."""
        log = self.path(tenant, zone, table) / "_delta_log"
        try:
            names = [e.name for e in os.scandir(log)]
        except FileNotFoundError:
            return -1
        found = [int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit()]
        return max(found) if found else self.version(tenant, zone, table)

    def read(self, tenant: str, zone: str, table: str, columns: list[str] | None = None) -> pa.Table:
        """The table's current snapshot as Arrow (small tables, tests, exports)."""
        if not self.exists(tenant, zone, table):
            s = spec(table)
            empty = s.schema.empty_table()
            return empty.select(columns) if columns else empty
        ds = self.delta(tenant, zone, table).to_pyarrow_dataset()
        out = ds.to_table(columns=columns)
        s = spec(table)
        return out if columns else out.select(s.schema.names).cast(s.schema)

    def info(self, tenant: str, zone: str, table: str) -> TableInfo:
        dt = self.delta(tenant, zone, table)
        actions = dt.get_add_actions(flatten=True)
        act = pa.table(actions) if not isinstance(actions, pa.Table) else actions
        rows = int(pa.compute.sum(act.column("num_records")).as_py() or 0) if act.num_rows else 0
        size = int(pa.compute.sum(act.column("size_bytes")).as_py() or 0) if act.num_rows else 0
        return TableInfo(
            tenant, zone, table, self.path(tenant, zone, table), dt.version(), act.num_rows, rows, size
        )

    def walk(self) -> Iterator[TableInfo]:
        for tenant in self.tenants():
            for zone in ZONES:
                for table in self.tables(tenant, zone):
                    yield self.info(tenant, zone, table)
