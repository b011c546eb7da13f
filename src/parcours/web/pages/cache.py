"""Heavy aggregates cached per table version.

A page's figures depend on a few lake tables; the cache key holds their Delta
versions, so a new commit (a load, an erasure) is seen on the next request and an
unchanged lake answers from memory.
"""

from __future__ import annotations

import os
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


def table_version(ws: Workspace, tenant: str, zone: str, name: str) -> int:
    """A table's latest Delta version from its log folder's file names (no table open:
    a page checks a dozen tables per request); -1 for a table not written yet."""
    log = ws.lake.path(tenant, zone, name) / "_delta_log"
    try:
        names = [e.name for e in os.scandir(log)]
    except FileNotFoundError:
        return -1
    found = [int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit()]
    return max(found) if found else ws.lake.version(tenant, zone, name)


def versions(ws: Workspace, tenant: str, tables: Iterable[tuple[str, str]]) -> tuple[int, ...]:
    """Delta versions of ``(zone, table)`` pairs; -1 for a table not written yet."""
    return tuple(table_version(ws, tenant, zone, name) for zone, name in tables)


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
