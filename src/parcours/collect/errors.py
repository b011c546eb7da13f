"""Errors of the collector, the loader and the file import."""

from __future__ import annotations

from parcours.errors import ParcoursError


class CollectError(ParcoursError):
    """Base class of collect errors."""


class ServeError(CollectError, OSError):
    """The server cannot start (its address is in use or not allowed)."""


class UnknownWriteKeyError(CollectError, PermissionError):
    """The write key is unknown or revoked."""

    status_code = 401

    def __init__(self) -> None:
        super().__init__("unknown or revoked write key")


class MappingError(CollectError, ValueError):
    """An import mapping file is invalid; names the file and the problem."""

    def __init__(self, problem: str, mapping: str | None = None) -> None:
        where = f"{mapping}: " if mapping else ""
        super().__init__(f"{where}{problem}", mapping=mapping, problem=problem)


class ImportFileError(CollectError, ValueError):
    """An import file cannot be read at all (format, encoding)."""

    def __init__(self, file: str, problem: str) -> None:
        super().__init__(f"{file}: {problem}", file=file, problem=problem)


class KafkaSinkError(CollectError):
    """Kafka did not confirm a write (the client gets a 503 and retries)."""

    status_code = 503


class DecodeWorkerError(CollectError, RuntimeError):
    """A loader's decode worker failed or died; the load stops with its segments kept."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"decode worker: {problem}", problem=problem)
