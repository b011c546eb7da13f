"""The event model: one Arrow schema per table, and validation against it."""

from __future__ import annotations

from parcours.events.schemas import TABLES, TableSpec, spec
from parcours.events.validate import ValidationFailure, conform, validate_records

__all__ = ["TABLES", "TableSpec", "ValidationFailure", "conform", "spec", "validate_records"]
