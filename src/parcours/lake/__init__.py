"""The lake: one Delta table per tenant × zone × table."""

from __future__ import annotations

from parcours.lake.store import ZONES, Lake, TableInfo, check_name

__all__ = ["ZONES", "Lake", "TableInfo", "check_name"]
