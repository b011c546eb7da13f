"""The scale-out engine: PySpark (local mode or a cluster) reading the same lake.

The only module, with :mod:`parcours.engine.session`, that imports pyspark.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING, Any

from parcours.engine.base import Engine
from parcours.errors import require

if TYPE_CHECKING:
    import pyarrow as pa

    from parcours.lake import Lake
    from parcours.settings import Settings

_SESSIONS: dict[str, Any] = {}


def spark_session(master: str = "local[2]") -> Any:
    """One SparkSession per master per process (Spark allows only one anyway)."""
    if master in _SESSIONS:
        return _SESSIONS[master]
    require("pyspark", "spark")
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:  # pragma: no cover
        from parcours.errors import ParcoursError

        raise ParcoursError("the spark engine needs Java 17: install a JDK and set JAVA_HOME")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master(master)
        .appName("parcours")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "2g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.ansi.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    _SESSIONS[master] = session
    return session


class SparkEngine(Engine):
    """PySpark through Ibis."""

    kind = "spark"

    def __init__(self, lake: Lake, settings: Settings, session: Any | None = None) -> None:
        super().__init__(lake, settings)
        import ibis

        self.session = session or spark_session(settings.engine.spark_master)
        self._con = ibis.pyspark.connect(self.session)

    @property
    def con(self) -> Any:
        return self._con

    def _register(
        self, view: str, schema: pa.Schema, files: list[str], root: str, *, partitioned: bool
    ) -> None:
        if files:
            reader = self.session.read
            if partitioned:
                reader = reader.option("basePath", root)
            df = reader.parquet(*files)
        else:
            df = self.session.createDataFrame(schema.empty_table())
        df.select(*schema.names).createOrReplaceTempView(view)
