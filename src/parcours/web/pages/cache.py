"""Heavy aggregates cached per table version.

A page's figures depend on a few lake tables; the cache key holds their Delta
versions, so a new commit (a load, an erasure) is seen on the next request and an
unchanged lake answers from memory.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from parcours.workspace import Workspace

T = TypeVar("T")

_MAX = 256
_store: OrderedDict[Hashable, Any] = OrderedDict()
_lock = threading.Lock()


def versions(ws: Workspace, tenant: str, tables: Iterable[tuple[str, str]]) -> tuple[int, ...]:
    """Delta versions of ``(zone, table)`` pairs (a page checks a dozen tables per
    request: read from the log's file names); -1 for a table not written yet."""
    return tuple(ws.lake.head_version(tenant, zone, name) for zone, name in tables)


def cached(
    ws: Workspace,
    tenant: str,
    key: Hashable,
    tables: Iterable[tuple[str, str]],
    compute: Callable[[], T],
) -> T:
    """``compute()``, or its cached value while ``tables`` keep their versions."""
    full = (str(ws.path), tenant, key, versions(ws, tenant, tables))
    with _lock:
        if full in _store:
            _store.move_to_end(full)
            return _store[full]
    value = compute()
    with _lock:
        _store[full] = value
        while len(_store) > _MAX:
            _store.popitem(last=False)
    return value


def clear() -> None:
    """Forget every cached aggregate (tests)."""
    with _lock:
        _store.clear()
