"""Demo users: one per role per tenant, passwords generated, reset on a rebuild."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from parcours.errors import ParcoursError
from parcours.privacy.users import UserStore
from parcours.web.demo_users import ROLES, create_demo_users, print_demo_users


def test_one_user_per_role_per_tenant_and_their_passwords_work(workspace):
    users = create_demo_users(workspace)
    assert len(users) == 2 * len(ROLES) + 1
    store = UserStore(workspace)
    for u in users:
        assert store.check_password(u.name, u.password).tenant_roles == u.tenant_roles
    by_name = {u.name: u for u in users}
    assert by_name["manager-energie"].tenant_roles == {"energie": "manager"}
    assert by_name["admin"].tenant_roles == {"energie": "admin", "fidelite": "admin"}
    assert len({u.password for u in users}) == len(users)  # generated, never shared


def test_rebuilding_the_demo_resets_passwords(workspace):
    first = {u.name: u.password for u in create_demo_users(workspace)}
    second = {u.name: u.password for u in create_demo_users(workspace)}
    store = UserStore(workspace)
    with pytest.raises(ParcoursError):
        store.check_password("advisor-energie", first["advisor-energie"])
    assert store.check_password("advisor-energie", second["advisor-energie"]).name == "advisor-energie"


def test_printed_list_holds_every_user_and_password(workspace):
    out = io.StringIO()
    users = print_demo_users(workspace, Console(file=out, width=200))
    text = out.getvalue()
    for u in users:
        assert u.name in text and u.password in text
