"""The pages' glue to the privacy package's users and session cookie.

The cookie's format and its checks belong to :mod:`parcours.web.auth`; this module
only calls it, so pages and the API share one notion of who is signed in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import Request, Response

    from parcours.web.auth import Principal
    from parcours.workspace import Workspace


def sign_in(ws: Workspace, response: Response, user: str, password: str) -> dict[str, str]:
    """Check the password and set the session cookie on ``response``; returns the
    user's roles per tenant.

    Raises:
        AuthenticationError: unknown user or wrong password (one error for both).
    """
    from parcours.privacy.users import UserStore
    from parcours.web.auth import login_session

    found = UserStore(ws).check_password(user, password)
    first = sorted(found.tenant_roles)[0] if found.tenant_roles else None
    login_session(response, ws, found, first)
    return dict(found.tenant_roles)


def sign_out(response: Response) -> None:
    from parcours.web.auth import logout

    logout(response)


def signed_in(request: Request) -> tuple[str, dict[str, str], str | None] | None:
    """The session's user, their roles per tenant and the tenant chosen at sign-in;
    None without a valid session."""
    from parcours.errors import ParcoursError
    from parcours.web.auth import current_user, session_tenant

    try:
        user, _ = current_user(request)
    except ParcoursError:
        return None
    return user.name, dict(user.tenant_roles), session_tenant(request)


def tenants_of(ws: Workspace, who: Principal) -> dict[str, str]:
    """The signed-in user's roles per tenant (for the tenant switch)."""
    from parcours.privacy.users import UserStore

    return dict(UserStore(ws).get(who.user).tenant_roles)
