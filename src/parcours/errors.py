"""The root of every error parcours raises on purpose.

Each package adds a few subclasses in its own ``errors.py``. An error carries
structured fields and builds its own message, so the CLI can print one line and
the API can answer with one JSON shape (``{"error": {"type", "message", ...}}``).
"""

from __future__ import annotations

from typing import Any


class ParcoursError(Exception):
    """Base class of parcours errors: a message plus structured details."""

    #: HTTP status the API answers with when this error reaches it.
    status_code: int = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": type(self).__name__, "message": self.message}
        out.update({k: v for k, v in self.details.items() if v is not None})
        return out


class ConfigError(ParcoursError, ValueError):
    """The configuration (parcours.toml, environment, arguments) is invalid."""


class WorkspaceError(ParcoursError):
    """The workspace is missing or not a parcours workspace."""

    status_code = 404


class NotFoundError(ParcoursError, LookupError):
    """A tenant, table or record does not exist."""

    status_code = 404


class MissingDependencyError(ParcoursError, ImportError):
    """An optional dependency is needed; the message says which extra to install."""

    status_code = 501

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed: pip install \"parcours[{extra}]\"",
            package=package,
            extra=extra,
        )


def require(module: str, extra: str) -> Any:
    """Import an optional heavy module lazily, or say which extra provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(module.split(".")[0], extra) from exc
