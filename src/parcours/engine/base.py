"""What every engine offers."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from parcours.events import spec

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd
    import pyarrow as pa

    from parcours.lake import Lake
    from parcours.settings import Settings


class Engine(ABC):
    """Ibis tables over the lake's current snapshots.

    A table's view is rebuilt only when its Delta version changes, so repeated
    reads cost nothing and a new commit is visible on the next call.
    """

    kind: str = ""

    def __init__(self, lake: Lake, settings: Settings) -> None:
        self.lake = lake
        self.settings = settings
        self._versions: dict[str, int] = {}
        self._lock = threading.RLock()

    @property
    @abstractmethod
    def con(self) -> Any:
        """The Ibis backend."""

    @staticmethod
    def view_name(tenant: str, zone: str, name: str) -> str:
        return f"{tenant}__{zone}__{name}"

    def table(self, tenant: str, name: str, zone: str = "analytics") -> ir.Table:
        """The current snapshot of ``lake/<tenant>/<zone>/<name>`` as an Ibis table."""
        s = spec(name)
        view = self.view_name(tenant, zone, name)
        with self._lock:
            version = self.lake.version(tenant, zone, name)
            if self._versions.get(view) != version:
                files = self.lake.files(tenant, zone, name)
                root = str(self.lake.path(tenant, zone, name))
                self._register(view, s.schema, files, root, partitioned=s.partition_by is not None)
                self._versions[view] = version
            return self.con.table(view)

    @abstractmethod
    def _register(
        self, view: str, schema: pa.Schema, files: list[str], root: str, *, partitioned: bool
    ) -> None:
        """(Re)create ``view`` over ``files`` with exactly ``schema``'s columns."""

    def execute(self, expr: ir.Expr) -> pd.DataFrame:
        return expr.to_pandas() if hasattr(expr, "to_pandas") else expr.execute()

    def close(self) -> None:
        """Forget the registered views (DuckDB also closes its connection)."""
        self._versions.clear()
