"""Workspace and user accounts."""

from __future__ import annotations

import re

from core import audit, clock, events
from core.auth import ROLES, User, check_new_password, get_user, hash_password
from core.db import Database, Transaction
from core.errors import Conflict, PermissionDenied, ValidationError

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
        # Checked again inside the one write path: two set-up forms sent at once make one admin.
        if actor is None and tx.scalar("SELECT count(*) FROM users"):
            raise PermissionDenied("The first admin already exists; sign in instead.")
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
