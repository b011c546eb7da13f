"""Authentication and authorization of every API route and web page.

Every tenant route declares the roles it allows::

    from parcours.web.auth import Principal, allow

    @router.get("/api/v1/tenants/{tenant}/segments")
    def segments(tenant: str, who: Principal = Depends(allow("admin", "data_scientist"))):
        ...

``allow`` authenticates the request — ``Authorization: Bearer <token>`` or the signed
web session cookie — and answers:

* **401** without credentials, or with a token/session that matches no active user;
* **404** when the user has no role in the path's ``tenant`` (the same answer as for a
  tenant that does not exist: a user cannot learn that other tenants exist);
* **403** when the user's role in that tenant is not one the route allows.

Default deny: a route without ``allow`` fails the access-matrix test
(tests/privacy/test_access_matrix.py), and ``allow()`` with no role refuses to build.

The web hub signs users in with :func:`login_session` (after
:meth:`UserStore.check_password`) and out with :func:`logout`. The session cookie is
signed with itsdangerous, HttpOnly and SameSite=Lax (a cross-site form cannot post with
it), and carries the user's ``generation``: revoking the user or changing the password
ends every open session.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from parcours.privacy.errors import AuthenticationError, ForbiddenError, TenantAccessError
from parcours.privacy.files import locked, write_private
from parcours.privacy.roles import NOMINATIVE_ROLES, check_role
from parcours.privacy.users import User, UserStore

if TYPE_CHECKING:
    from parcours.workspace import Workspace

COOKIE = "parcours_session"
#: A web session lasts at most this long (seconds) after sign-in.
SESSION_MAX_AGE = 12 * 3600


@dataclass(frozen=True)
class Principal:
    """Who is asking, in which tenant, with which role."""

    user: str
    tenant: str
    role: str
    #: how the request authenticated: "token" or "session"
    via: str = "token"

    @property
    def nominative(self) -> bool:
        """True for roles that read nominative data (admin, data_manager, advisor)."""
        return self.role in NOMINATIVE_ROLES


def _workspace(request: Request) -> Workspace:
    ws: Workspace = request.app.state.workspace
    return ws


def _session_secret(ws: Workspace) -> str:
    configured = ws.settings.serve.session_secret
    if configured is not None:
        return configured.get_secret_value()
    path = ws.state_dir / "session.key"
    if not path.exists():
        with locked(path):
            if not path.exists():
                write_private(path, secrets.token_hex(32).encode())
    return path.read_text().strip()


def _serializer(ws: Workspace) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_session_secret(ws), salt="parcours-session")


def login_session(response: Response, ws: Workspace, user: User, tenant: str | None = None) -> None:
    """Sign ``user`` in: set the session cookie on ``response``.

    ``tenant`` is remembered as the tenant the hub opens first (see
    :func:`session_tenant`); access is still decided per request by the path's tenant.
    """
    if tenant is not None and user.role_in(tenant) is None:
        raise TenantAccessError(tenant)
    value = _serializer(ws).dumps({"u": user.name, "g": user.generation, "t": tenant})
    response.set_cookie(
        COOKIE, value, max_age=SESSION_MAX_AGE, httponly=True, samesite="lax", path="/"
    )


def logout(response: Response) -> None:
    """Sign out: drop the session cookie."""
    response.delete_cookie(COOKIE, path="/")


def _session(request: Request, ws: Workspace) -> dict[str, Any] | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data: dict[str, Any] = _serializer(ws).loads(raw, max_age=SESSION_MAX_AGE)
    except BadSignature:
        return None
    return data


def bearer_token(header: str) -> str | None:
    """The token of an ``Authorization`` value ``Bearer <token>``; None for another
    scheme or an empty token."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def current_user(request: Request) -> tuple[User, str]:
    """The authenticated user of a request and how ("token" or "session").

    Raises:
        AuthenticationError: no credentials, or none that match an active user.
    """
    ws = _workspace(request)
    store = UserStore(ws)
    header = request.headers.get("authorization")
    if header:
        token = bearer_token(header)
        if token is None:
            raise AuthenticationError("use 'Authorization: Bearer <token>'")
        return store.authenticate_token(token), "token"
    data = _session(request, ws)
    if data is None:
        raise AuthenticationError("sign in or send 'Authorization: Bearer <token>'")
    try:
        user = store.get(data["u"])
    except LookupError:
        raise AuthenticationError("your session has ended; sign in again") from None
    if not user.active or user.generation != data.get("g"):
        raise AuthenticationError("your session has ended; sign in again")
    return user, "session"


def session_tenant(request: Request) -> str | None:
    """The tenant chosen at sign-in (for the hub's first page), if a session exists."""
    data = _session(request, _workspace(request))
    return data.get("t") if data else None


def principal_for(user: User, tenant: str, roles: tuple[str, ...], via: str = "token") -> Principal:
    """Decide access of ``user`` to ``tenant`` for a route allowing ``roles``."""
    role = user.role_in(tenant)
    if role is None:
        raise TenantAccessError(tenant)
    if role not in roles:
        raise ForbiddenError(role, roles)
    return Principal(user=user.name, tenant=tenant, role=role, via=via)


def allow(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency admitting the listed roles in the path's ``{tenant}``.

    Raises:
        ValueError: no role given (a route must say who may call it) or an unknown role.
    """
    if not roles:
        raise ValueError("allow() needs at least one role: routes are closed by default")
    for role in roles:
        check_role(role)
    allowed = tuple(roles)

    # async: microseconds of work (a cached users file, one SHA-256), run on the event
    # loop rather than hopping to the thread pool and back for every request
    async def dependency(request: Request, tenant: str) -> Principal:
        user, via = current_user(request)
        return principal_for(user, tenant, allowed, via)

    dependency.allowed_roles = allowed  # type: ignore[attr-defined]
    return dependency


def authenticated(request: Request) -> User:
    """A FastAPI dependency for routes outside a tenant (e.g. "which tenants can I see"):
    any active user, 401 otherwise."""
    return current_user(request)[0]
