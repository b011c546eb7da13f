"""The 360 view's hot path: a plain ASGI handler in front of the FastAPI app.

``GET /api/v1/tenants/{tenant}/customers/{key}`` is what an advisor's screen calls at
every customer contact. Through FastAPI, the routing, the dependency injection, the
query validation and the response machinery cost about as much CPU as the view itself
(measured: ~0.8 ms of the ~1.7 ms a request cost the server). This handler answers the
plain case with the same code the FastAPI route runs — the bearer token checked by
:meth:`UserStore.authenticate_token`, access decided by :func:`principal_for`, the view
built by :func:`parcours.identity.view.customer` — and the same response bytes.

Everything else goes to the FastAPI app untouched, before any work is done or after
work that changed nothing: another method or path, no bearer token (the hub's session
cookie), a query parameter it does not know or a value it would have to convert, an
authentication or access failure, any error from the view (a view that fails has
written no audit line). The FastAPI route then answers exactly as before, errors
included; it stays declared there, so the OpenAPI document is unchanged. A test
compares both paths' status, headers and bodies request by request.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from parcours.identity.view import MAX_PAGE_SIZE
from parcours.web.auth import bearer_token
from parcours.web.routes.customers import ROLES

if TYPE_CHECKING:
    from parcours.workspace import Workspace

#: The route's path, as FastAPI matches ``{tenant}`` and ``{key}`` (no slash inside).
_PATH = re.compile(r"^/api/v1/tenants/([^/]+)/customers/([^/]+)$")
#: Values taken as they are; anything else (signs, spaces, leading zeros, huge numbers)
#: is FastAPI's to convert or refuse.
_PAGE = re.compile(r"^[1-9][0-9]{0,8}$")
_PAGE_SIZE = re.compile(r"^[1-9][0-9]{0,2}$")
_HEADERS = [(b"content-type", b"application/json")]


class Fast360:
    """ASGI app: the 360 view's plain requests here, every other request to ``app``."""

    def __init__(self, ws: Workspace, app: Any) -> None:
        self.ws = ws
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            m = _PATH.match(scope["path"])
            if m is not None:
                body = await self._answer(scope, m.group(1), m.group(2))
                if body is not None:
                    await send({"type": "http.response.start", "status": 200, "headers": [
                        (b"content-length", str(len(body)).encode()), *_HEADERS,
                    ]})
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Any, tenant: str, key: str) -> bytes | None:
        """The response body, or None to leave the request to FastAPI."""
        token = _bearer(scope)
        if token is None:
            return None
        params = _params(scope.get("query_string", b""))
        if params is None:
            return None
        from parcours.errors import ParcoursError
        from parcours.privacy.users import UserStore
        from parcours.web.auth import principal_for

        try:
            who = principal_for(UserStore(self.ws).authenticate_token(token), tenant, ROLES, "token")
        except ParcoursError:
            return None
        import anyio.to_thread

        from parcours.identity.view import customer

        zone = "raw" if who.nominative else "analytics"

        def view() -> bytes | None:
            try:
                return customer(self.ws, tenant, key, zone=zone, who=who, **params).to_json()
            except ParcoursError:
                return None

        # in the thread pool, as FastAPI runs the sync route: the audit's fsync blocks
        return await anyio.to_thread.run_sync(view)


def _bearer(scope: Any) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if that is the only
    authorization header."""
    found = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if found is not None:
                return None
            found = value
    return None if found is None else bearer_token(found.decode("latin-1"))


def _params(query: bytes) -> dict[str, Any] | None:
    """``channel``, ``page`` and ``page_size`` when each appears at most once with a
    value taken as it is; None for anything else."""
    out: dict[str, Any] = {}
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if name in out or name not in ("channel", "page", "page_size"):
            return None
        if name == "channel":
            out[name] = value
        elif (_PAGE if name == "page" else _PAGE_SIZE).match(value) and (name == "page" or int(value) <= MAX_PAGE_SIZE):
            out[name] = int(value)
        else:
            return None
    return out
