"""Errors of identity resolution and the 360 view."""

from __future__ import annotations

from parcours.errors import NotFoundError, ParcoursError


class IdentityError(ParcoursError):
    """Identity resolution could not run (bad rules, missing input)."""


class UnknownCustomerError(NotFoundError):
    """No profile holds this key."""

    def __init__(self, tenant: str, key: str) -> None:
        super().__init__(
            f"no customer with identifier {key!r} in tenant {tenant!r} "
            "(run `parcours identity resolve` after loading new data)",
            tenant=tenant,
            key=key,
        )


class AmbiguousKeyError(ParcoursError):
    """The key is an identifier of several profiles (a shared identifier)."""

    status_code = 409

    def __init__(self, tenant: str, key: str, profiles: list[str]) -> None:
        super().__init__(
            f"identifier {key!r} is shared by {len(profiles)} profiles; open one by profile id",
            tenant=tenant,
            key=key,
            profiles=profiles,
        )


class NotResolvedError(NotFoundError):
    """Identity resolution has not run for this tenant yet."""

    def __init__(self, tenant: str, zone: str) -> None:
        super().__init__(
            f"identity not resolved for tenant {tenant!r} ({zone} zone): "
            f"run `parcours identity resolve --tenant {tenant}`",
            tenant=tenant,
            zone=zone,
        )
