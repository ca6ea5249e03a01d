"""An agent's answer to a possible opt-out request (rule 2).

A reply such as "please stop texting me" is not a keyword, so inbound
processing only flags the conversation. The agent who works it (its owner,
or an admin) then either confirms the opt-out, which does exactly what STOP
does, or dismisses the flag. Both are recorded in the contact's opt-out
history with who decided.
"""

from __future__ import annotations

from typing import Any

from core import audit, clock, events, permissions, queries
from core.actions.inbound import opt_out_contact
from core.auth import User
from core.db import Database, Transaction
from core.errors import Conflict, PermissionDenied


def check_resolve_flag(db: Database, actor: User, conversation_id: Any) -> dict[str, Any]:
    detail = queries.conversation_detail(db, actor, conversation_id)  # refuses what the actor may not see
    if not actor.can_send or (detail["owner_id"] != actor.id and not actor.is_admin):
        raise PermissionDenied("Only the conversation's owner or an admin can answer an opt-out request.")
    return detail


def _recheck(tx: Transaction, actor: User, detail: dict[str, Any]) -> dict[str, Any]:
    """Inside the write: still the actor's to answer (an admin may have reassigned it meanwhile)."""
    role = permissions.recheck_actor(tx, actor, ("standard", "admin"), "answer opt-out requests")
    owner_id = tx.scalar("SELECT owner_id FROM conversations WHERE id = ?", [detail["conversation_id"]])
    if role != "admin" and owner_id != actor.id:
        raise PermissionDenied("This conversation was assigned to someone else a moment ago; nothing was changed.")
    return {**detail, "owner_id": owner_id}


def _history(tx: Transaction, detail: dict[str, Any], kind: str, actor: User) -> None:
    tx.execute(
        "INSERT INTO optout_history (contact_id, kind, keyword, channel, sender_id, user_id, occurred_at) "
        "VALUES (?, ?, NULL, ?, ?, ?, ?)",
        [detail["contact_id"], kind, detail["channel"], detail["sender_id"], actor.id, clock.utcnow()],
    )


def do_confirm_opt_out(db: Database, actor: User, conversation_id: Any) -> None:
    detail = check_resolve_flag(db, actor, conversation_id)

    def confirm(tx: Transaction) -> None:
        now = _recheck(tx, actor, detail)
        opted_out = tx.scalar("SELECT opted_out FROM contacts WHERE id = ?", [detail["contact_id"]])
        if opted_out:
            raise Conflict("This contact has already opted out.")
        _history(tx, now, "opt_out_confirmed_by_agent", actor)
        audit.record(
            tx, actor.id, "optout.confirmed", "contact", now["contact_id"], conversation_id=now["conversation_id"]
        )
        opt_out_contact(
            tx, now["contact_id"], now["conversation_id"], now["owner_id"], keyword=None, by_user_id=actor.id
        )

    db.write(confirm)


def do_dismiss_optout_flag(db: Database, actor: User, conversation_id: Any) -> None:
    detail = check_resolve_flag(db, actor, conversation_id)

    def dismiss(tx: Transaction) -> None:
        now = _recheck(tx, actor, detail)
        flag = tx.scalar("SELECT optout_flag FROM conversations WHERE id = ?", [detail["conversation_id"]])
        if flag is None:
            return
        tx.execute("UPDATE conversations SET optout_flag = NULL WHERE id = ?", [detail["conversation_id"]])
        _history(tx, now, "flag_dismissed", actor)
        audit.record(
            tx, actor.id, "optout.flag_dismissed", "contact", now["contact_id"], conversation_id=now["conversation_id"]
        )
        tx.publish(
            events.CONVERSATION_OPTOUT_FLAG_DISMISSED,
            conversation_id=now["conversation_id"],
            user_id=now["owner_id"],
            by_user_id=actor.id,
        )

    db.write(dismiss)
