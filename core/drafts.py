"""Drafts: the unsent text of a conversation's composer, per user and conversation.

Why the database (``drafts`` table, migration 21) and not the browser session: an agent
who opens another conversation, reloads, signs in on another computer or finds the server
restarted still finds what they wrote. Drafts are private to their writer (the primary key
is the user), are only kept for conversations the writer may send in, and sending a
message clears its draft in the same transaction (``messaging.do_send``).
"""

from __future__ import annotations

from typing import Any

from core import clock, permissions, queries
from core.actions.composing import write_refusal
from core.auth import User
from core.db import Database, Transaction
from core.errors import PermissionDenied, ValidationError

MAX_DRAFT = 10_000  # characters; longer than any message a channel accepts


def get_draft(db: Database, viewer: User, conversation_id: Any) -> str:
    """The viewer's draft in this conversation ('' when none)."""
    cid = permissions.parse_conversation_id(conversation_id)
    body = db.scalar("SELECT body FROM drafts WHERE user_id = ? AND conversation_id = ?", [viewer.id, cid])
    return body or ""


def check_save_draft(db: Database, actor: User, conversation_id: Any, body: str) -> int:
    detail = queries.conversation_detail(db, actor, conversation_id)  # refuses what the actor may not see
    refusal = write_refusal(actor, detail)  # the same rule as sending
    if refusal:
        raise PermissionDenied(refusal)
    if len(body or "") > MAX_DRAFT:
        raise ValidationError(f"A draft can be at most {MAX_DRAFT:,} characters.")
    return detail["conversation_id"]


def do_save_draft(db: Database, actor: User, conversation_id: Any, body: str) -> None:
    """Keep ``body`` as the actor's draft here; an empty body (or only spaces) forgets the draft."""
    cid = check_save_draft(db, actor, conversation_id, body)
    db.write(_write_draft, actor.id, cid, body or "")


def _write_draft(tx: Transaction, user_id: int, conversation_id: int, body: str) -> None:
    if body.strip():
        tx.execute(
            "INSERT OR REPLACE INTO drafts (user_id, conversation_id, body, updated_at) VALUES (?, ?, ?, ?)",
            [user_id, conversation_id, body, clock.utcnow()],
        )
    else:
        clear_draft(tx, user_id, conversation_id)


def clear_draft(tx: Transaction, user_id: int, conversation_id: int) -> None:
    """Inside a write (sending): the draft is gone with the message it became."""
    tx.execute("DELETE FROM drafts WHERE user_id = ? AND conversation_id = ?", [user_id, conversation_id])
