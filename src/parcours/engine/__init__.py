"""The engine seam: analytics are Ibis expressions run on DuckDB (default) or Spark.

Only this package imports pyspark. :func:`connect` picks the engine from settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parcours.engine.base import Engine

if TYPE_CHECKING:
    from parcours.lake import Lake
    from parcours.settings import Settings

__all__ = ["Engine", "connect"]


def connect(lake: Lake, settings: Settings) -> Engine:
    """The engine the settings name, reading ``lake``."""
    if settings.engine.kind == "spark":
        from parcours.engine.spark import SparkEngine

        return SparkEngine(lake, settings)
    from parcours.engine.duckdb import DuckDBEngine

    return DuckDBEngine(lake, settings)
