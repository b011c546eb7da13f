"""Errors of the demo generator."""

from __future__ import annotations

from parcours.errors import ParcoursError


class DemoError(ParcoursError, ValueError):
    """The demo world cannot be built with these arguments."""
