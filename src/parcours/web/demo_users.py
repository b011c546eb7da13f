"""Demo users: one per role per tenant, with passwords generated at demo time.

``parcours demo`` calls :func:`create_demo_users` after building the world and
prints the list, so nobody needs a password from the repository.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parcours.workspace import Workspace

ROLES = ("admin", "data_manager", "data_scientist", "advisor", "manager")


@dataclass(frozen=True)
class DemoUser:
    """A demo user: their name, their roles per tenant and their password."""

    name: str
    tenant_roles: dict[str, str]
    password: str
    token: str

    def describe(self) -> str:
        roles = ", ".join(f"{r} on {t}" for t, r in sorted(self.tenant_roles.items()))
        return f"{self.name:<24} {self.password:<22} {roles}"


def demo_user_plan(tenants: list[str]) -> list[tuple[str, dict[str, str]]]:
    """Who the demo creates: ``<role>-<tenant>`` for each role and tenant, plus
    ``admin`` with the admin role on every tenant (to try the tenant switch)."""
    plan = [(f"{role.replace('_', '-')}-{t}", {t: role}) for t in tenants for role in ROLES]
    if len(tenants) > 1:
        plan.append(("admin", dict.fromkeys(tenants, "admin")))
    return plan


def create_demo_users(ws: Workspace, tenants: list[str] | None = None) -> list[DemoUser]:
    """Create (or reset) the demo users with fresh random passwords."""
    from parcours.errors import NotFoundError
    from parcours.privacy.users import UserStore

    store = UserStore(ws)
    out = []
    for name, roles in demo_user_plan(tenants or ws.tenants()):
        password = secrets.token_urlsafe(12)
        try:
            store.get(name)
        except NotFoundError:
            token = store.create_user(name, roles, password)
        else:  # a demo built again in the same workspace: new password, same user
            store.set_roles(name, roles)
            store.set_password(name, password)
            token = store.new_token(name)
        out.append(DemoUser(name, roles, password, token))
    return out


def print_demo_users(ws: Workspace, console: Any) -> list[DemoUser]:
    """Create the demo users and print them with their passwords (``parcours demo``)."""
    users = create_demo_users(ws)
    console.print("\n[bold]Demo users[/] (passwords generated now; sign in at /login):")
    console.print(f"  {'user':<24} {'password':<22} roles", highlight=False)
    for u in users:
        console.print("  " + u.describe(), highlight=False, markup=False, soft_wrap=True)
    return users
