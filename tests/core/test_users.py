"""Accounts: the first admin, usernames, who may add users."""

from __future__ import annotations

import threading

import pytest

from core.actions.users import do_create_user
from core.errors import Conflict, ParleyError, PermissionDenied, ValidationError

PASSWORD = "a-long-enough-password"


def test_the_first_account_needs_no_actor_and_must_be_an_admin(db):
    with pytest.raises(ValidationError, match="must be an admin"):
        do_create_user(db, None, "ada", "Ada", "standard", PASSWORD)
    ada = do_create_user(db, None, "Ada", "Ada Lovelace", "admin", PASSWORD)
    assert (ada.username, ada.role) == ("ada", "admin")
    with pytest.raises(PermissionDenied, match="already exists"):
        do_create_user(db, None, "bob", "Bob", "admin", PASSWORD)


def test_two_set_up_forms_sent_at_once_make_one_admin(db):
    results: list[object] = []
    start = threading.Barrier(2)

    def create(name: str) -> None:
        start.wait()
        try:
            results.append(do_create_user(db, None, name, name.title(), "admin", PASSWORD))
        except ParleyError as exc:
            results.append(exc)

    threads = [threading.Thread(target=create, args=(n,)) for n in ("ada", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db.scalar("SELECT count(*) FROM users") == 1
    assert sorted(type(r).__name__ for r in results) == ["PermissionDenied", "User"]


def test_usernames_are_unique_in_any_case(db, make_user):
    admin = make_user("root", "admin")
    do_create_user(db, admin, "maria", "María", "standard", PASSWORD)
    with pytest.raises(Conflict, match="taken"):
        do_create_user(db, admin, "MARIA", "Another María", "standard", PASSWORD)


def test_only_admins_add_users(db, make_user):
    agent = make_user("ana")
    with pytest.raises(PermissionDenied, match="Only an admin"):
        do_create_user(db, agent, "new", "New", "standard", PASSWORD)
