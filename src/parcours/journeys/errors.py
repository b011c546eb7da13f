"""Errors of the journey analyses."""

from __future__ import annotations

from parcours.errors import ParcoursError


class JourneysError(ParcoursError, ValueError):
    """A journey analysis was asked something it cannot answer (bad steps, window...)."""


class InvalidDurationError(JourneysError):
    """A window or look-back is not a duration such as ``30d``, ``12h`` or ``90m``."""

    def __init__(self, name: str, value: object) -> None:
        super().__init__(
            f"invalid {name} {value!r}: give a positive duration such as 30d, 12h, 90m or 45s",
            parameter=name,
            value=str(value),
        )
