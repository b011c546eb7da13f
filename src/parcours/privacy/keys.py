"""Per-tenant secrets for keyed pseudonyms: custody, sealing, rotation.

A tenant's secret is generated when the tenant is created and lives in
``<workspace>/secrets/<tenant>.key`` — outside the lake, owner-only (folder 0700, file
0600). It is never printed nor logged: :class:`TenantSecret` hides its value in ``repr``.

**Sealing.** When the environment variable named by ``privacy.master_key_env``
(default ``PARCOURS_MASTER_KEY``) is set, secrets are written sealed — encrypted with
Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a key derived from the
master key with scrypt and a per-workspace salt — so a copy of the secrets folder
without the master key is useless. :meth:`KeyStore.seal_all` seals existing secrets.
Reading a sealed secret without the master key is a clear error.

**Rotation** (:mod:`parcours.privacy.rotation`) stages a new secret next to the current
one (``<tenant>.key.next``), rebuilds the analytics zone with it, then commits it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path
from typing import Any

from parcours.errors import NotFoundError
from parcours.lake import check_name
from parcours.privacy.errors import KeyCustodyError
from parcours.privacy.files import locked, private_dir, write_private

SEALED = "sealed:v1:"


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
    """The folder of tenant secrets.

    Args:
        folder: where secrets live (``<workspace>/secrets``).
        master_key_env: name of the environment variable holding the master key; secrets
            are sealed when it is set.
    """

    def __init__(self, folder: str | Path, master_key_env: str | None = None) -> None:
        self.folder = Path(folder)
        self.master_key_env = master_key_env
        self._fernets: dict[str, Any] = {}  # scrypt is slow on purpose: derive once

    # -- sealing ---------------------------------------------------------------------
    def _master(self) -> str | None:
        if not self.master_key_env:
            return None
        return os.environ.get(self.master_key_env) or None

    def _fernet(self, master: str) -> Any:
        digest = hashlib.sha256(master.encode("utf-8")).hexdigest()
        if digest not in self._fernets:
            self._fernets[digest] = self._derive(master)
        return self._fernets[digest]

    def _derive(self, master: str) -> Any:
        from cryptography.fernet import Fernet

        salt_path = self.folder / "master.salt"
        if not salt_path.exists():
            with locked(salt_path):
                if not salt_path.exists():
                    write_private(salt_path, secrets.token_bytes(16).hex().encode())
        salt = bytes.fromhex(salt_path.read_text().strip())
        key = hashlib.scrypt(master.encode("utf-8"), salt=salt, n=2**14, r=8, p=1, dklen=32)
        return Fernet(base64.urlsafe_b64encode(key))

    def _encode(self, value: bytes) -> bytes:
        master = self._master()
        if master is None:
            return value.hex().encode()
        return (SEALED + self._fernet(master).encrypt(value).decode()).encode()

    def _decode(self, tenant: str, text: str) -> bytes:
        text = text.strip()
        if not text.startswith(SEALED):
            return bytes.fromhex(text)
        master = self._master()
        if master is None:
            raise KeyCustodyError(
                f"the secret of tenant {tenant!r} is sealed: set ${self.master_key_env} "
                "to the master key",
                tenant=tenant,
            )
        from cryptography.fernet import InvalidToken

        try:
            return bytes(self._fernet(master).decrypt(text[len(SEALED) :].encode()))
        except InvalidToken:
            raise KeyCustodyError(
                f"the master key in ${self.master_key_env} does not open the secret of "
                f"tenant {tenant!r}",
                tenant=tenant,
            ) from None

    def is_sealed(self, tenant: str) -> bool:
        return self._path(tenant).read_text().startswith(SEALED)

    def seal_all(self) -> list[str]:
        """Seal every plain secret with the master key; returns the tenants sealed."""
        if self._master() is None:
            raise KeyCustodyError(f"set ${self.master_key_env} to the master key first")
        done = []
        for path in sorted(self.folder.glob("*.key*")):
            if path.name.endswith(".lock") or path.read_text().startswith(SEALED):
                continue
            tenant = path.name.split(".")[0]
            value = self._decode(tenant, path.read_text())
            write_private(path, self._encode(value))
            done.append(path.name)
        return done

    # -- secrets ---------------------------------------------------------------------
    def _path(self, tenant: str, suffix: str = "") -> Path:
        return self.folder / f"{check_name('tenant', tenant)}.key{suffix}"

    def exists(self, tenant: str) -> bool:
        return self._path(tenant).exists()

    def create(self, tenant: str) -> TenantSecret:
        """Generate the tenant's secret (idempotent: an existing secret is kept)."""
        path = self._path(tenant)
        private_dir(self.folder)
        with locked(path):
            if path.exists():
                return self.get(tenant)
            value = secrets.token_bytes(32)
            write_private(path, self._encode(value))
        return TenantSecret(tenant, value)

    def get(self, tenant: str) -> TenantSecret:
        path = self._path(tenant)
        if not path.exists():
            raise NotFoundError(f"tenant {tenant!r} has no secret: create the tenant first", tenant=tenant)
        return TenantSecret(tenant, self._decode(tenant, path.read_text()))

    # -- rotation --------------------------------------------------------------------
    def stage(self, tenant: str) -> TenantSecret:
        """The staged next secret of ``tenant``, created if none is staged (so an
        interrupted rotation resumes with the same one)."""
        self.get(tenant)  # the tenant exists, and its secret opens
        path = self._path(tenant, ".next")
        with locked(path):
            if not path.exists():
                write_private(path, self._encode(secrets.token_bytes(32)))
        return TenantSecret(tenant, self._decode(tenant, path.read_text()))

    def staged(self, tenant: str) -> bool:
        return self._path(tenant, ".next").exists()

    def commit(self, tenant: str) -> None:
        """Make the staged secret current; the old one is gone for good."""
        nxt = self._path(tenant, ".next")
        if not nxt.exists():
            raise KeyCustodyError(f"no rotation staged for tenant {tenant!r}", tenant=tenant)
        os.replace(nxt, self._path(tenant))
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
