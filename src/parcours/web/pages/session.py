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
    """Check the password, set the session cookie on ``response``; returns the
    user's roles per tenant. Raises the privacy package's error when refused."""
    from parcours.web.auth import login

    return dict(login(ws, response, user, password))


def sign_out(response: Response) -> None:
    from parcours.web.auth import logout

    logout(response)


def signed_in(request: Request) -> tuple[str, dict[str, str]] | None:
    """The user of the session cookie and their roles per tenant, or None."""
    from parcours.web.auth import session_user

    return session_user(request)


def tenants_of(ws: Workspace, who: Principal) -> dict[str, str]:
    """The signed-in user's roles per tenant (for the tenant switch)."""
    from parcours.privacy.users import UserStore

    return dict(UserStore(ws).tenant_roles(who.user))
