"""Per-tenant secrets for keyed pseudonyms.

A tenant's secret is generated when the tenant is created and lives in
``<workspace>/secrets/<tenant>.key`` — outside the lake, owner-only permissions.
It is never printed nor logged: :class:`TenantSecret` hides its value in ``repr``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from parcours.errors import NotFoundError
from parcours.lake import check_name


class TenantSecret:
    """A tenant's HMAC key. ``repr`` and ``str`` never show it."""

    __slots__ = ("_value", "tenant")

    def __init__(self, tenant: str, value: bytes) -> None:
        self.tenant = tenant
        self._value = value

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return f"TenantSecret({self.tenant!r}, '**********')"

    __str__ = __repr__


class KeyStore:
    """The folder of tenant secrets."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _path(self, tenant: str) -> Path:
        return self.folder / f"{check_name('tenant', tenant)}.key"

    def exists(self, tenant: str) -> bool:
        return self._path(tenant).exists()

    def create(self, tenant: str) -> TenantSecret:
        """Generate the tenant's secret (idempotent: an existing secret is kept)."""
        path = self._path(tenant)
        if path.exists():
            return self.get(tenant)
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        value = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value.hex())
            fh.flush()
            os.fsync(fh.fileno())
        return TenantSecret(tenant, value)

    def get(self, tenant: str) -> TenantSecret:
        path = self._path(tenant)
        if not path.exists():
            raise NotFoundError(f"tenant {tenant!r} has no secret: create the tenant first", tenant=tenant)
        return TenantSecret(tenant, bytes.fromhex(path.read_text().strip()))
