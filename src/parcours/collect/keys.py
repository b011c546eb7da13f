"""Write keys: which tenant (and default channel) an SDK writes to.

A write key belongs to exactly one tenant. Only its SHA-256 is stored
(``<workspace>/state/write_keys.json``), with a short public prefix so a user can
tell keys apart in ``parcours keys list``; the key itself is shown once, at creation.
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import json
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from parcours.errors import NotFoundError
from parcours.lake import check_name

FILE = "write_keys.json"
PREFIX = "wk_"


def key_hash(key: str) -> str:
    """The stored form of a write key."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class WriteKey:
    """A write key as stored: never the key itself."""

    key_id: str  # first characters of the key, for display
    hash: str
    tenant: str
    channel: str | None
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class WriteKeyStore:
    """The write keys of a workspace, stored hashed.

    Lookups are served from memory and reloaded when the file changes, so a key
    revoked with the CLI stops working in a running server within one request.
    """

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / FILE
        self._file = str(self.path)
        self._lock = threading.Lock()
        self._mtime: int = -1
        self._by_hash: dict[str, WriteKey] = {}
        self._digests: dict[str, str] = {}

    def _read(self) -> list[WriteKey]:
        if not self.path.exists():
            return []
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return [WriteKey(**row) for row in data]

    def _write(self, keys: list[WriteKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump([asdict(k) for k in keys], fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def _refresh(self) -> None:
        try:
            mtime = os.stat(self._file).st_mtime_ns  # os.stat: a pathlib call costs more than the syscall
        except FileNotFoundError:
            mtime = 0
        if mtime != self._mtime:
            with self._lock:
                self._by_hash = {k.hash: k for k in self._read()}
                self._mtime = mtime

    def lookup(self, key: str) -> WriteKey | None:
        """The active write key matching ``key``, or None."""
        self._refresh()
        digest = self._digests.get(key)
        if digest is None:  # a client sends the same key every time: hash it once
            if len(self._digests) >= 4096:
                self._digests.clear()
            digest = self._digests[key] = key_hash(key)
        found = self._by_hash.get(digest)
        return found if found is not None and found.active else None

    def list(self, tenant: str | None = None) -> builtins.list[WriteKey]:
        return [k for k in self._read() if tenant is None or k.tenant == tenant]

    def create(self, tenant: str, channel: str | None = None) -> str:
        """Create a write key for ``tenant``; returns the key (shown only this once)."""
        check_name("tenant", tenant)
        key = PREFIX + secrets.token_urlsafe(24)
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        keys = self._read()
        keys.append(WriteKey(key[:10], key_hash(key), tenant, channel, now))
        self._write(keys)
        return key

    def revoke(self, tenant: str, key_id: str) -> WriteKey:
        """Revoke a key of ``tenant`` by its displayed id (or the full key)."""
        keys = self._read()
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        for i, k in enumerate(keys):
            if k.tenant == tenant and k.active and (k.key_id == key_id or k.hash == key_hash(key_id)):
                keys[i] = WriteKey(**{**asdict(k), "revoked_at": now})
                self._write(keys)
                return keys[i]
        raise NotFoundError(f"no active write key {key_id!r} for tenant {tenant!r}", tenant=tenant)

    def rows(self, tenant: str | None = None) -> builtins.list[dict[str, Any]]:
        """Keys for display (no hashes)."""
        return [
            {"key_id": k.key_id, "tenant": k.tenant, "channel": k.channel,
             "created_at": k.created_at, "revoked_at": k.revoked_at}
            for k in self.list(tenant)
        ]
