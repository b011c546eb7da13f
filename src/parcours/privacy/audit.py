"""The audit log: every nominative read, one JSON line each, per tenant.

``<workspace>/audit/<tenant>.jsonl`` (owner-only), appended under a lock and fsynced
before the read it records is answered. A line holds who (user and role), when (UTC),
what (action and detail) and which customer.

Concurrent reads in one process share their fsync (group commit): a line waiting while
another thread writes and syncs goes out with the next write, together with every line
queued meanwhile, and each caller returns once the sync covering its own line is done.
Under 20 concurrent advisors this is one fsync per round instead of twenty in a row.

Example:
    >>> record(ws, who, action="view_360", customer="C000042")   # doctest: +SKIP
    >>> read(ws, "energie")[-1]["action"]                          # doctest: +SKIP
    'view_360'
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from parcours.lake import check_name
from parcours.privacy.files import append_private, locked, write_private

if TYPE_CHECKING:
    from parcours.workspace import Workspace


class _Who(Protocol):
    @property
    def user(self) -> str: ...
    @property
    def tenant(self) -> str: ...
    @property
    def role(self) -> str: ...


#: Who the CLI acts as: an operator on the server, with filesystem access, is admin.
OPERATOR = "operator"


class _Entry:
    __slots__ = ("data", "done", "error")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.done = False
        self.error: BaseException | None = None


class _GroupAppender:
    """Appends lines to one file, one locked write and fsync per group of waiting lines."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cond = threading.Condition()
        self.pending: list[_Entry] = []
        self.writing = False

    def append(self, data: bytes) -> None:
        entry = _Entry(data)
        with self.cond:
            self.pending.append(entry)
            while not entry.done:
                if self.writing:
                    self.cond.wait()
                    continue
                batch, self.pending, self.writing = self.pending, [], True
                error: BaseException | None = None
                self.cond.release()
                try:
                    with locked(self.path):  # other processes (workers, the CLI) too
                        append_private(self.path, b"".join(e.data for e in batch))
                except BaseException as exc:  # noqa: BLE001 - handed to every waiter below
                    error = exc
                finally:
                    self.cond.acquire()
                    self.writing = False
                    for e in batch:
                        e.done, e.error = True, error
                    self.cond.notify_all()
        if entry.error is not None:
            raise entry.error


_appenders: dict[Path, _GroupAppender] = {}
_appenders_lock = threading.Lock()


def _appender(path: Path) -> _GroupAppender:
    with _appenders_lock:
        a = _appenders.get(path)
        if a is None:
            a = _appenders[path] = _GroupAppender(path)
        return a


def log_path(ws: Workspace, tenant: str) -> Path:
    return ws.audit_dir / f"{check_name('tenant', tenant)}.jsonl"


def record(
    ws: Workspace,
    who: _Who | str,
    action: str,
    customer: str | None = None,
    detail: Any = None,
    *,
    tenant: str | None = None,
) -> dict[str, Any]:
    """Append one audit line and return it.

    Args:
        who: the :class:`parcours.web.auth.Principal` of the request, or a user name
            (the CLI passes ``"operator"``; then ``tenant`` is required).
        action: what was read: ``view_360``, ``gdpr_export``, ``sql_raw`` …
        customer: the customer key read, when the read is about one person.
        detail: anything JSON-serialisable that says more (table, query, row count).
        tenant: the tenant, when ``who`` is a plain name.
    """
    if isinstance(who, str):
        if tenant is None:
            raise ValueError("audit.record needs tenant= when who is a plain name")
        user, role = who, "admin" if who == OPERATOR else "unknown"
    else:
        user, role, tenant = who.user, who.role, tenant or who.tenant
    line = {
        "ts": datetime.now(UTC).isoformat(timespec="microseconds"),
        "tenant": tenant,
        "user": user,
        "role": role,
        "action": action,
        "customer": customer,
        "detail": detail,
    }
    data = json.dumps(line, ensure_ascii=False, default=str) + "\n"
    _appender(log_path(ws, tenant)).append(data.encode("utf-8"))
    return line


def read(ws: Workspace, tenant: str) -> list[dict[str, Any]]:
    """Every line of the tenant's audit log, oldest first."""
    path = log_path(ws, tenant)
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def scrub_customer(ws: Workspace, tenant: str, identifiers: set[str], marker: str) -> int:
    """Replace an erased person's identifiers in the audit log by ``marker``.

    The lines stay (who read, when, what: the accountability the log exists for), but
    the person can no longer be found in it. Returns the lines changed.
    """
    path = log_path(ws, tenant)
    if not path.exists() or not identifiers:
        return 0
    changed = 0
    with locked(path):
        out = []
        for raw in path.read_text(encoding="utf-8").splitlines():
            if not raw.strip():
                continue
            new = raw
            for ident in identifiers:
                if ident and ident in new:
                    new = new.replace(json.dumps(ident)[1:-1], marker)
            changed += new != raw
            out.append(new)
        if changed:
            write_private(path, ("\n".join(out) + "\n").encode("utf-8"))
    return changed
