"""Errors of the privacy package: authentication, authorization, users, GDPR, keys."""

from __future__ import annotations

from parcours.errors import ParcoursError


class AuthenticationError(ParcoursError):
    """No credentials, or credentials that do not match an active user (HTTP 401)."""

    status_code = 401


class ForbiddenError(ParcoursError, PermissionError):
    """The user is known and has a role in the tenant, but not one this action allows (403)."""

    status_code = 403

    def __init__(self, role: str, allowed: tuple[str, ...], action: str | None = None) -> None:
        what = f" {action}" if action else ""
        super().__init__(
            f"role {role!r} may not{what or ' do this'}; allowed roles: {', '.join(allowed)}",
            role=role,
            allowed=list(allowed),
        )


class TenantAccessError(ParcoursError, LookupError):
    """The principal has no role in this tenant. Answered as 404 so that the answer does
    not reveal whether the tenant exists."""

    status_code = 404

    def __init__(self, tenant: str) -> None:
        super().__init__(f"unknown tenant {tenant!r}", tenant=tenant)


class UserError(ParcoursError, ValueError):
    """A user cannot be created or changed as asked (duplicate name, unknown role …)."""


class KeyCustodyError(ParcoursError):
    """A tenant secret cannot be read, sealed or rotated (missing master key …)."""

    status_code = 500
