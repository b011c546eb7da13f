"""Errors of the lake."""

from __future__ import annotations

from parcours.errors import ParcoursError


class LakeError(ParcoursError):
    """A lake operation failed (the table is untouched: Delta commits are atomic)."""


class InvalidNameError(ParcoursError, ValueError):
    """A tenant, zone or table name is not allowed (it would escape its folder)."""
