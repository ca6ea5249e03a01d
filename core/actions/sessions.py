"""Sign-in sessions as an admin page (and "sign out everywhere") sees them.

Everyone may list and end their own sessions; an admin may list and end
anyone's. Ending someone else's session, or all of anyone's, is audited.
Ending someone else's checks the actor's role again inside the write: an
admin demoted since their page drew ends no one's session.
The mechanics (starting, checking, the cookie) are in ``core.sessions``.
"""

from __future__ import annotations

from typing import Any

from core import audit, permissions, sessions
from core.auth import User, get_user
from core.db import Database, Transaction
from core.errors import NotFound, PermissionDenied


def _require_may_manage(actor: User, user_id: int) -> None:
    if not actor.active:
        raise PermissionDenied("Your account is disabled; sign in again.")
    if actor.id != user_id and not actor.is_admin:
        raise PermissionDenied("Only an admin can see or end another person's sign-in sessions.")


def _recheck_may_manage(tx: Transaction, actor: User, user_id: int) -> None:
    """Inside the write: the actor is still an active admin when the sessions are someone else's."""
    if actor.id != user_id:
        permissions.recheck_actor(tx, actor, ("admin",), "end another person's sign-in sessions")


def list_sessions(db: Database, actor: User, user_id: Any) -> list[sessions.Session]:
    """The user's live sessions (newest activity first): when each began, was last seen, from what browser."""
    user = _user(db, user_id)
    _require_may_manage(actor, user.id)
    return sessions.live_sessions(db, user.id)


def check_end_session(db: Database, actor: User, session_id: Any) -> int:
    """The owner of the session; refuses what the actor may not end."""
    try:
        session_id = int(session_id)
    except (TypeError, ValueError):
        raise NotFound("That sign-in session does not exist.") from None
    owner = db.scalar("SELECT user_id FROM sessions WHERE id = ?", [session_id])
    if owner is None:
        raise NotFound("That sign-in session does not exist.")
    _require_may_manage(actor, owner)
    return owner


def do_end_session(db: Database, actor: User, session_id: Any) -> bool:
    """End one session (e.g. a lost phone's). True if it was still live."""
    owner = check_end_session(db, actor, session_id)
    reason = sessions.SIGNED_OUT if owner == actor.id else sessions.ENDED_BY_ADMIN

    def write(tx: Transaction) -> bool:
        _recheck_may_manage(tx, actor, owner)
        if not sessions.end_one(tx, int(session_id), reason):
            return False
        audit.record(tx, actor.id, "user.session_ended", "user", owner, session_id=int(session_id), reason=reason)
        return True

    return db.write(write)


def do_end_all_sessions(db: Database, actor: User, user_id: Any, *, reason: str = sessions.ENDED_BY_ADMIN) -> int:
    """End every session of a user ("sign out everywhere" for oneself). Returns how many were live."""
    user = _user(db, user_id)
    _require_may_manage(actor, user.id)
    if user.id == actor.id:
        reason = sessions.SIGNED_OUT_EVERYWHERE

    def write(tx: Transaction) -> int:
        _recheck_may_manage(tx, actor, user.id)
        return sessions.end_all_for_user(tx, user.id, reason, actor_id=actor.id)

    return db.write(write)


def _user(db: Database, user_id: Any) -> User:
    try:
        user = get_user(db, int(user_id))
    except (TypeError, ValueError):
        user = None
    if user is None:
        raise NotFound("That user does not exist.")
    return user
