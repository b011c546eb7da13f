"""Users, tokens, passwords: stored hashed, owner-only, revocable."""

from __future__ import annotations

import json
import stat

import pytest

from parcours.errors import NotFoundError
from parcours.privacy.errors import AuthenticationError, UserError
from parcours.privacy.users import UserStore, hash_token


def test_token_round_trip_and_storage_is_hashed(workspace):
    store = UserStore(workspace)
    token = store.create_user("alice", {"energie": "data_scientist"}, password="correct horse")
    user = store.authenticate_token(token)
    assert user.name == "alice"
    assert user.role_in("energie") == "data_scientist"
    assert user.role_in("fidelite") is None
    text = store.path.read_text()
    assert token not in text and "correct horse" not in text
    assert hash_token(token) in text
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    rec = json.loads(text)["users"]["alice"]
    assert rec["password"]["scheme"] == "scrypt"


def test_password_check(workspace):
    store = UserStore(workspace)
    store.create_user("bob", {"energie": "advisor"}, password="s3cret-pass")
    assert store.check_password("bob", "s3cret-pass").name == "bob"
    with pytest.raises(AuthenticationError):
        store.check_password("bob", "wrong-pass")
    with pytest.raises(AuthenticationError):
        store.check_password("nobody", "s3cret-pass")


def test_revoke_user_and_token(workspace):
    store = UserStore(workspace)
    t1 = store.create_user("carol", {"energie": "manager", "fidelite": "admin"})
    t2 = store.new_token("carol")
    store.revoke_token(t1)
    with pytest.raises(AuthenticationError):
        store.authenticate_token(t1)
    assert store.authenticate_token(t2).name == "carol"
    store.revoke("carol")
    with pytest.raises(AuthenticationError):
        store.authenticate_token(t2)
    assert store.get("carol").active is False
    assert store.get("carol").role_in("fidelite") is None


def test_bad_input(workspace):
    store = UserStore(workspace)
    with pytest.raises(UserError, match="unknown role"):
        store.create_user("dan", {"energie": "superuser"})
    with pytest.raises(NotFoundError):
        store.create_user("dan", {"nowhere": "admin"})
    with pytest.raises(UserError, match="invalid user name"):
        store.create_user("../x", {"energie": "admin"})
    store.create_user("dan", {"energie": "admin"})
    with pytest.raises(UserError, match="already exists"):
        store.create_user("dan", {"energie": "admin"})
    with pytest.raises(AuthenticationError):
        store.authenticate_token("pt_forged")
