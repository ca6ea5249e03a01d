"""Workspace and user accounts: create, reset a password, disable and enable.

A password reset or disabling a user ends every session of that user at once
(``core.sessions``), in the same transaction.
"""

from __future__ import annotations

import re
from typing import Any

from core import audit, clock, events, permissions, sessions
from core.auth import ROLES, User, check_new_password, get_user, hash_password
from core.db import Database, Transaction
from core.errors import Conflict, NotFound, PermissionDenied, ValidationError

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,31}$")


def do_create_workspace(db: Database, *, name: str, demo: bool, timezone: str = "America/New_York") -> None:
    def write(tx: Transaction) -> None:
        if tx.scalar("SELECT count(*) FROM workspace"):
            return
        now = clock.utcnow()
        tx.execute("INSERT INTO workspace VALUES (1, ?, ?, ?, ?)", [name, timezone, demo, now])
        tx.execute("INSERT INTO teams (name, created_at) VALUES ('Team', ?)", [now])

    db.write(write)


def check_create_user(
    db: Database, actor: User | None, username: str, display_name: str, role: str, password: str
) -> tuple[str, str]:
    """Validate a new account. ``actor`` None is allowed only for the very first admin."""
    if actor is None:
        if db.scalar("SELECT count(*) FROM users"):
            raise PermissionDenied("The first admin already exists; sign in instead.")
        if role != "admin":
            raise ValidationError("The first account must be an admin.")
    elif not actor.is_admin:
        raise PermissionDenied("Only an admin can add users.")
    username = (username or "").strip().lower()
    display_name = (display_name or "").strip()
    if not USERNAME_RE.match(username):
        raise ValidationError("Usernames are 2–32 characters: lowercase letters, digits, dots, dashes or underscores.")
    if not display_name:
        raise ValidationError("Enter the person's name.")
    if role not in ROLES:
        raise ValidationError("Choose a role: agent, admin or supervisor.")
    check_new_password(password)
    if db.scalar("SELECT count(*) FROM users WHERE lower(username) = ?", [username]):
        raise Conflict(f"The username “{username}” is taken.")
    return username, display_name


def do_create_user(
    db: Database,
    actor: User | None,
    username: str,
    display_name: str,
    role: str,
    password: str,
    *,
    timezone: str = "America/New_York",
) -> User:
    username, display_name = check_create_user(db, actor, username, display_name, role, password)
    password_hash = hash_password(password)

    def write(tx: Transaction) -> int:
        # Checked again inside the one write path: two set-up forms sent at once make one admin, and
        # an admin demoted or disabled since their page drew adds no one.
        if actor is None and tx.scalar("SELECT count(*) FROM users"):
            raise PermissionDenied("The first admin already exists; sign in instead.")
        if actor is not None:
            permissions.recheck_actor(tx, actor, ("admin",), "add users")
        if tx.scalar("SELECT count(*) FROM users WHERE lower(username) = ?", [username]):
            raise Conflict(f"The username “{username}” is taken.")
        team_id = tx.scalar("SELECT min(id) FROM teams")
        user_id = tx.next_id("seq_users")
        tx.execute(
            "INSERT INTO users (id, username, display_name, role, team_id, password_hash, timezone, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [user_id, username, display_name, role, team_id, password_hash, timezone, clock.utcnow()],
        )
        audit.record(tx, actor.id if actor else user_id, "user.created", "user", user_id, role=role)
        tx.publish(events.USER_CREATED, user_id=user_id)
        return user_id

    return get_user(db, db.write(write))


# ---- password reset, disable, enable (admins) ------------------------------------------------


def _target(db: Database, user_id: Any) -> User:
    try:
        user = get_user(db, int(user_id))
    except (TypeError, ValueError):
        user = None
    if user is None:
        raise NotFound("That user does not exist.")
    return user


def check_reset_password(db: Database, actor: User, user_id: Any, new_password: str) -> User:
    permissions.require_admin(actor, "reset passwords")
    check_new_password(new_password)
    return _target(db, user_id)


def do_reset_password(db: Database, actor: User, user_id: Any, new_password: str) -> int:
    """Set a new password; every session of that user ends (theirs included). Returns sessions ended."""
    user = check_reset_password(db, actor, user_id, new_password)
    password_hash = hash_password(new_password)

    def write(tx: Transaction) -> int:
        permissions.recheck_actor(tx, actor, ("admin",), "reset passwords")
        tx.execute("UPDATE users SET password_hash = ? WHERE id = ?", [password_hash, user.id])
        audit.record(tx, actor.id, "user.password_reset", "user", user.id)
        tx.publish(events.USER_UPDATED, user_id=user.id, change="password_reset")
        return sessions.end_all_for_user(tx, user.id, sessions.PASSWORD_RESET)

    return db.write(write)


def check_set_active(db: Database, actor: User, user_id: Any, active: bool) -> User:
    permissions.require_admin(actor, "disable or enable users")
    user = _target(db, user_id)
    if not active and user.id == actor.id:
        raise ValidationError("You cannot disable your own account; ask another admin.")
    return user


def do_set_active(db: Database, actor: User, user_id: Any, active: bool) -> bool:
    """Disable (every session ends at once) or enable a user. False if nothing changed.

    Their conversations stay theirs; reassigning them is the admin's next step.
    """
    user = check_set_active(db, actor, user_id, active)

    def write(tx: Transaction) -> bool:
        permissions.recheck_actor(tx, actor, ("admin",), "disable or enable users")
        # The actor is an active admin who is not the target, so an active admin always remains.
        if tx.scalar("SELECT active FROM users WHERE id = ?", [user.id]) == active:
            return False
        tx.execute("UPDATE users SET active = ? WHERE id = ?", [active, user.id])
        audit.record(tx, actor.id, "user.enabled" if active else "user.disabled", "user", user.id)
        tx.publish(events.USER_UPDATED, user_id=user.id, change="enabled" if active else "disabled")
        if not active:
            sessions.end_all_for_user(tx, user.id, sessions.USER_DISABLED)
        return True

    return db.write(write)
