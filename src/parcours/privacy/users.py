"""Users, their roles per tenant, their API tokens and passwords.

Stored in ``<workspace>/state/users.json`` (owner-only, replaced atomically under a
lock). Nothing secret is stored in clear:

* an API token is 256 random bits (``pt_`` + url-safe base64); the store keeps its
  SHA-256 only — a token has full entropy, so a fast hash is safe and lets a request be
  authenticated with one dictionary lookup;
* a password is stored as scrypt (n=2**14, r=8, p=1) with a random salt, compared in
  constant time.

Example:
    >>> store = UserStore(ws)                                        # doctest: +SKIP
    >>> token = store.create_user("alice", {"energie": "data_scientist"})  # doctest: +SKIP
    >>> store.authenticate_token(token).role_in("energie")           # doctest: +SKIP
    'data_scientist'
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parcours.errors import NotFoundError
from parcours.lake import check_name
from parcours.privacy.errors import AuthenticationError, UserError
from parcours.privacy.files import locked, write_private
from parcours.privacy.roles import check_role

if TYPE_CHECKING:
    from parcours.workspace import Workspace

TOKEN_PREFIX = "pt_"
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@\-]{0,63}$")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_token(token: str) -> str:
    """SHA-256 of a token, as stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _hash_password(password: str, salt: bytes | None = None) -> dict[str, Any]:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    return {"scheme": "scrypt", **_SCRYPT, "salt": salt.hex(), "hash": digest.hex()}


def _verify_password(password: str, stored: dict[str, Any]) -> bool:
    salt = bytes.fromhex(stored["salt"])
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, dklen=32, n=stored["n"], r=stored["r"], p=stored["p"]
    )
    return hmac.compare_digest(digest.hex(), stored["hash"])


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class User:
    """A user as the store knows it (no secrets)."""

    name: str
    tenant_roles: dict[str, str]
    created_at: str
    active: bool = True
    tokens: int = 0
    has_password: bool = False
    #: bumped when the user is revoked or the password changes; web sessions carry it
    generation: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def role_in(self, tenant: str) -> str | None:
        """The user's role in ``tenant``, or None (no access)."""
        return self.tenant_roles.get(tenant) if self.active else None


#: users file -> (its bytes, their parsed content), for read-only uses
_parsed: dict[Path, tuple[bytes, dict[str, Any]]] = {}


class UserStore:
    """The users of one workspace."""

    FILE = "users.json"

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.path: Path = ws.state_dir / self.FILE

    # -- persistence -----------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": 1, "users": {}}
        return data

    def _read(self) -> dict[str, Any]:
        """The users for a read-only use (never to be modified): every request
        authenticates, so the file is read each time (it is small) but parsed again only
        when its bytes changed — a revoked token fails at the next request."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {"version": 1, "users": {}}
        cached = _parsed.get(self.path)
        if cached is not None and cached[0] == raw:
            return cached[1]
        data: dict[str, Any] = json.loads(raw)
        _parsed[self.path] = (raw, data)
        return data

    def _save(self, data: dict[str, Any]) -> None:
        text = json.dumps(data, indent=1, sort_keys=True).encode("utf-8")
        write_private(self.path, text)

    @staticmethod
    def _user(name: str, rec: dict[str, Any]) -> User:
        return User(
            name=name,
            tenant_roles=dict(rec["tenant_roles"]),
            created_at=rec["created_at"],
            active=rec.get("active", True),
            tokens=sum(1 for t in rec.get("tokens", []) if not t.get("revoked")),
            has_password=rec.get("password") is not None,
            generation=rec.get("generation", 0),
        )

    def _check_roles(self, tenant_roles: dict[str, str]) -> dict[str, str]:
        if not tenant_roles:
            raise UserError("a user needs a role in at least one tenant")
        out = {}
        for tenant, role in tenant_roles.items():
            check_name("tenant", tenant)
            self.ws.require_tenant(tenant)
            out[tenant] = check_role(role)
        return out

    # -- users -----------------------------------------------------------------------
    def create_user(
        self, name: str, tenant_roles: dict[str, str], password: str | None = None
    ) -> str:
        """Create a user with a role per tenant; returns its first API token (shown once).

        Raises:
            UserError: the name is taken or invalid, a role is unknown, the password short.
            NotFoundError: a tenant does not exist.
        """
        if not _USER_NAME.match(name or ""):
            raise UserError(
                f"invalid user name {name!r}: letters, digits and . _ @ - (at most 64)", user=name
            )
        roles = self._check_roles(tenant_roles)
        if password is not None and len(password) < 8:
            raise UserError("a password needs at least 8 characters", user=name)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with locked(self.path):
            data = self._load()
            if name in data["users"]:
                raise UserError(f"user {name!r} already exists", user=name)
            data["users"][name] = {
                "tenant_roles": roles,
                "created_at": _now(),
                "active": True,
                "generation": 0,
                "password": _hash_password(password) if password is not None else None,
                "tokens": [{"sha256": hash_token(token), "created_at": _now(), "revoked": False}],
            }
            self._save(data)
        return token

    def get(self, name: str) -> User:
        rec = self._read()["users"].get(name)
        if rec is None:
            raise NotFoundError(f"unknown user {name!r}", user=name)
        return self._user(name, rec)

    def list(self, tenant: str | None = None) -> list[User]:
        """All users, or those with a role in ``tenant``."""
        users = [self._user(n, r) for n, r in sorted(self._read()["users"].items())]
        return [u for u in users if tenant is None or tenant in u.tenant_roles]

    def _modify(self, name: str, change: Any) -> None:
        with locked(self.path):
            data = self._load()
            rec = data["users"].get(name)
            if rec is None:
                raise NotFoundError(f"unknown user {name!r}", user=name)
            change(rec)
            self._save(data)

    def new_token(self, name: str) -> str:
        """Issue one more API token for an active user (shown once)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)

        def add(rec: dict[str, Any]) -> None:
            if not rec.get("active", True):
                raise UserError(f"user {name!r} is revoked", user=name)
            rec["tokens"].append({"sha256": hash_token(token), "created_at": _now(), "revoked": False})

        self._modify(name, add)
        return token

    def set_roles(self, name: str, tenant_roles: dict[str, str]) -> None:
        """Replace a user's roles (takes effect on the next request)."""
        roles = self._check_roles(tenant_roles)
        self._modify(name, lambda rec: rec.update(tenant_roles=roles))

    def set_password(self, name: str, password: str) -> None:
        """Set a user's password; open web sessions of the user end."""
        if len(password) < 8:
            raise UserError("a password needs at least 8 characters", user=name)

        def change(rec: dict[str, Any]) -> None:
            rec["password"] = _hash_password(password)
            rec["generation"] = rec.get("generation", 0) + 1

        self._modify(name, change)

    def revoke(self, name: str) -> None:
        """Revoke a user: every token stops working, web sessions end, no sign-in."""

        def change(rec: dict[str, Any]) -> None:
            rec["active"] = False
            rec["generation"] = rec.get("generation", 0) + 1
            for t in rec["tokens"]:
                t["revoked"] = True

        self._modify(name, change)

    def revoke_token(self, token: str) -> None:
        """Revoke one API token (the user stays active)."""
        digest = hash_token(token)
        with locked(self.path):
            data = self._load()
            for rec in data["users"].values():
                for t in rec["tokens"]:
                    if hmac.compare_digest(t["sha256"], digest):
                        t["revoked"] = True
                        self._save(data)
                        return
        raise NotFoundError("unknown token")

    # -- authentication --------------------------------------------------------------
    def authenticate_token(self, token: str) -> User:
        """The active user holding ``token``, or :class:`AuthenticationError`."""
        if not token or not token.startswith(TOKEN_PREFIX):
            raise AuthenticationError("invalid API token")
        digest = hash_token(token)
        for name, rec in self._read()["users"].items():
            if not rec.get("active", True):
                continue
            for t in rec["tokens"]:
                if not t.get("revoked") and hmac.compare_digest(t["sha256"], digest):
                    return self._user(name, rec)
        raise AuthenticationError("invalid API token")

    def check_password(self, name: str, password: str) -> User:
        """The active user ``name`` if ``password`` is theirs, else AuthenticationError
        (the same error whether the user or the password is wrong)."""
        rec = self._read()["users"].get(name)
        stored = rec.get("password") if rec else None
        if rec is None or stored is None or not rec.get("active", True):
            _hash_password(password)  # same cost either way: no timing oracle on names
            raise AuthenticationError("wrong user name or password")
        if not _verify_password(password, stored):
            raise AuthenticationError("wrong user name or password")
        return self._user(name, rec)
