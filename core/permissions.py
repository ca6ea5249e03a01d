"""Who may see and do what (DESIGN.md, *Who uses it*).

Pages hide what a role cannot use, but these checks are the real gate:
every finder and action calls them, so a URL parameter or a crafted request
reaches nothing more than the page would have shown.
"""

from __future__ import annotations

from typing import Any

from core.auth import User
from core.db import Transaction
from core.errors import NotFound, PermissionDenied


def parse_conversation_id(value: Any) -> int:
    """A conversation id from a page, URL or form; one sentence if it is not one."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise NotFound(f"“{value}” is not a conversation number.") from None
    if number <= 0:
        raise NotFound(f"There is no conversation {number}.")
    return number


def can_view_conversation(viewer: User, owner_id: int | None) -> bool:
    return viewer.sees_team or (owner_id is not None and owner_id == viewer.id)


def require_conversation_view(viewer: User, conversation_id: int, row: dict | None) -> None:
    if row is None:
        raise NotFound(f"There is no conversation {conversation_id}.")
    if not can_view_conversation(viewer, row.get("owner_id")):
        raise PermissionDenied(
            f"Conversation {conversation_id} is assigned to someone else; "
            "you can open only the conversations in your inbox."
        )


def require_team_view(viewer: User) -> None:
    if not viewer.sees_team:
        raise PermissionDenied("Only admins and supervisors can see the Team Inbox.")


def require_admin(viewer: User, what: str = "do that") -> None:
    if not viewer.is_admin:
        raise PermissionDenied(f"Only an admin can {what}.")


def require_sender(viewer: User) -> None:
    if not viewer.can_send:
        raise PermissionDenied("Supervisors can read conversations but cannot send messages.")


def recheck_actor(tx: Transaction, actor: User, roles: tuple[str, ...], what: str) -> str:
    """Inside a write: the actor is still active and still has one of ``roles``; returns the role.

    The page that called the action decided on a ``User`` read earlier; an admin may have
    disabled the account or changed its role since.
    """
    row = tx.fetchone("SELECT active, role FROM users WHERE id = ?", [actor.id])
    if row is None or not row[0]:
        raise PermissionDenied("Your account was disabled a moment ago; nothing was changed.")
    if row[1] not in roles:
        raise PermissionDenied(f"Your role changed a moment ago: you can no longer {what}; nothing was changed.")
    return row[1]
