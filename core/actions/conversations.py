"""Read state (rule 6), assignment (rule 7), and open/closed.

Read state belongs to the conversation's owner: opening a conversation as
its owner marks it read; an admin reading it in Team Inbox changes nothing;
an admin who marks it read or unread changes the *owner's* state, but only
after confirming (``ConfirmationRequired`` names the owners).

Every ``do_*`` decides on what it read first (``check_*``) and then, inside
the one write transaction, reads the conversations again: one reassigned,
closed or reopened in between is acted on as it is now, or refused with a
sentence, never as it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core import audit, clock, events, labels, permissions, queries
from core.auth import User, get_user
from core.db import Database, Transaction
from core.errors import Conflict, NotFound, ParleyError, PermissionDenied, ValidationError

MAX_BULK = 1000


class ConfirmationRequired(ParleyError):
    """An admin is about to change another agent's read state."""

    def __init__(self, message: str, owners: list[str]) -> None:
        super().__init__(message)
        self.owners = owners


@dataclass(frozen=True)
class Target:
    conversation_id: int
    owner_id: int | None
    owner_name: str | None
    status: str
    contact_label: str = ""  # the name, else the number as people read it (for notices)


def _load_targets(db: Database, conversation_ids: Iterable[Any]) -> list[Target]:
    ids = sorted({permissions.parse_conversation_id(c) for c in conversation_ids})
    if not ids:
        raise ValidationError("Select at least one conversation first.")
    if len(ids) > MAX_BULK:
        raise ValidationError(f"Select at most {MAX_BULK} conversations at a time.")
    rows = db.fetchall(
        "SELECT c.id, c.owner_id, u.display_name, c.status, ct.name, ct.phone FROM conversations c "
        "LEFT JOIN users u ON u.id = c.owner_id LEFT JOIN contacts ct ON ct.id = c.contact_id "
        "WHERE c.id IN (SELECT unnest(?::INTEGER[]))",
        [ids],
    )
    found = {r[0] for r in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"There is no conversation {missing[0]}.")
    return [Target(*r[:4], contact_label=labels.contact_label(r[4], r[5])) for r in rows]


def _require_workable(actor: User, targets: list[Target], what: str) -> None:
    """Agents act on their own conversations; admins on anyone's; supervisors on none."""
    if actor.is_supervisor:
        raise PermissionDenied(f"Supervisors can browse conversations but cannot {what}.")
    if not actor.is_admin:
        foreign = [t.conversation_id for t in targets if t.owner_id != actor.id]
        if foreign:
            raise PermissionDenied(
                f"Conversation {foreign[0]} is assigned to someone else; you can {what} only in your own inbox."
            )


# ---- read state -----------------------------------------------------------------------


def open_conversation(db: Database, viewer: User, conversation_id: Any) -> dict[str, Any]:
    """Load a conversation for reading; as its owner, that marks it read."""
    detail = queries.conversation_detail(db, viewer, conversation_id)
    if detail["owner_id"] == viewer.id and detail["unread"]:
        # Only while it is still theirs: reassigned meanwhile, it stays unread for the new owner.
        if db.write(_write_read_state, [detail["conversation_id"]], True, viewer.id, only_owner=viewer.id):
            detail["unread"] = False
    return detail


def do_mark_opened(db: Database, viewer: User, conversation_id: int) -> bool:
    """The owner opened the conversation: it is read now (rule 6). False when it was not
    the viewer's, or not unread, by the time of the write (checked inside it)."""
    return mark_opened(db, viewer, conversation_id)[0]


def mark_opened(
    db: Database, viewer: User, conversation_id: int, *, expected_version: int | None = None
) -> tuple[bool, int | None]:
    """``do_mark_opened``, also giving the conversation's version just before this write: the
    write raises it by one (``core.versions``), so a page that drew the conversation at that
    version knows the number to watch without reading it again.

    ``expected_version``: the version the page showed; if the conversation changed since (a
    message came, the owner marked it unread again, it was reassigned), nothing is marked: the
    page reloads what changed and marks it read once that is drawn. A write made after the page's
    run (``core.page_writes``) must not undo a *Mark unread* clicked meanwhile, nor mark read a
    message the agent has not seen. The page watches the version this write would have made (one
    more than shown); when the change that stopped it made exactly that number, the version is
    raised once more here, so that the page sees it moved and reloads.

    Every agent does this many times an hour, so it is the shortest write that keeps the rule:
    one read by primary keys (the conversation, still the viewer's, and the viewer's marker) and
    one upsert of the marker; the general ``_write_read_state`` (many conversations, any owner)
    cost twice as much."""

    def write(tx: Transaction) -> tuple[bool, int | None]:
        row = tx.fetchone(
            """SELECT c.last_inbound_id, c.version,
                      (SELECT struct_pack(unread := rm.unread, read_upto := rm.read_upto) FROM read_markers rm
                       WHERE rm.user_id = ? AND rm.conversation_id = ?),
                      c.owner_id
               FROM conversations c WHERE c.id = ?""",
            [viewer.id, conversation_id, conversation_id],
        )
        if row is None:
            return False, None
        if expected_version is not None and (row[1] or 0) != expected_version:
            if (row[1] or 0) == expected_version + 1:
                tx.execute(
                    "UPDATE conversations SET version = coalesce(version, 0) + 1 WHERE id = ?", [conversation_id]
                )
            return False, row[1]
        if row[3] != viewer.id:
            return False, None
        if not queries.is_unread(row[0], row[2]):
            return False, row[1]
        # Read up to the newest incoming message applied so far (read in this write: one applied
        # after it is unread again, whatever time it carries).
        tx.execute(
            "INSERT INTO read_markers (user_id, conversation_id, read_at, unread, read_upto) VALUES (?, ?, ?, FALSE, ?) "
            "ON CONFLICT (user_id, conversation_id) DO UPDATE SET read_at = excluded.read_at, unread = FALSE, "
            "read_upto = excluded.read_upto",
            [viewer.id, conversation_id, clock.utcnow(), row[0]],
        )
        tx.publish(events.CONVERSATION_READ, conversation_id=conversation_id, user_id=viewer.id, actor_id=viewer.id)
        return True, row[1]

    return db.write(write)


def check_set_read_state(db: Database, actor: User, conversation_ids: Iterable[Any]) -> list[Target]:
    """Validate a mark-read/unread request. Returns the conversations it covers."""
    targets = _load_targets(db, conversation_ids)
    _require_workable(actor, targets, "mark conversations read or unread")
    return targets


def owners_needing_confirmation(actor: User, targets: list[Target]) -> list[str]:
    """Names of the other agents whose read state this would change."""
    return sorted({t.owner_name or "nobody" for t in targets if t.owner_id != actor.id})


def do_set_read_state(
    db: Database, actor: User, conversation_ids: Iterable[Any], *, read: bool, confirmed: bool = False
) -> int:
    """Mark conversations read or unread for their owners. Returns how many."""
    targets = check_set_read_state(db, actor, conversation_ids)
    others = owners_needing_confirmation(actor, targets)
    if others and not confirmed:
        state = "read" if read else "unread"
        raise ConfirmationRequired(
            f"This marks the conversation {state} in {_names(others)}'s inbox. Confirm to continue.",
            others,
        )
    ids = [t.conversation_id for t in targets]
    checked_owners = {t.conversation_id: t.owner_id for t in targets}
    return db.write(_recheck_and_write_read_state, actor, ids, read, checked_owners)


def _recheck_and_write_read_state(
    tx: Transaction, actor: User, ids: list[int], read: bool, checked_owners: dict[int, int | None]
) -> int:
    """The owners read at check time are still the owners (or nothing changes), then write."""
    role = permissions.recheck_actor(tx, actor, ("standard", "admin"), "mark conversations read or unread")
    owners = dict(
        tx.fetchall("SELECT id, owner_id FROM conversations WHERE id IN (SELECT unnest(?::INTEGER[]))", [ids])
    )
    moved = sorted(cid for cid in ids if owners.get(cid) != checked_owners[cid])
    if moved:
        if role != "admin" and owners.get(moved[0]) != actor.id:
            raise PermissionDenied(
                f"Conversation {moved[0]} was assigned to someone else a moment ago; nothing was changed."
            )
        raise Conflict(
            f"Conversation {moved[0]} was reassigned while you were marking it; nothing was changed. "
            "Check its new owner and try again."
        )
    return _write_read_state(tx, ids, read, actor.id)


def _write_read_state(
    tx: Transaction, ids: list[int], read: bool, actor_id: int, *, only_owner: int | None = None
) -> int:
    """Set the owners' read state; ``only_owner``: only where that user still owns it. Returns how many."""
    now = clock.utcnow()
    if only_owner is not None:
        ids = [
            r[0]
            for r in tx.fetchall(
                "SELECT id FROM conversations WHERE id IN (SELECT unnest(?::INTEGER[])) AND owner_id = ?",
                [ids, only_owner],
            )
        ]
    rows = tx.fetchall(
        "SELECT id, owner_id FROM conversations WHERE id IN (SELECT unnest(?::INTEGER[])) AND owner_id IS NOT NULL",
        [ids],
    )
    if not rows:
        return 0
    if read:
        tx.execute(
            """
            INSERT INTO read_markers (user_id, conversation_id, read_at, unread, read_upto)
            SELECT owner_id, id, ?, FALSE, last_inbound_id FROM conversations WHERE id IN (SELECT unnest(?::INTEGER[]))
                AND owner_id IS NOT NULL
            ON CONFLICT (user_id, conversation_id) DO UPDATE SET read_at = excluded.read_at, unread = FALSE,
                read_upto = excluded.read_upto
            """,
            [now, ids],
        )
    else:
        tx.execute(
            """
            INSERT INTO read_markers (user_id, conversation_id, read_at, unread)
            SELECT owner_id, id, NULL, TRUE FROM conversations WHERE id IN (SELECT unnest(?::INTEGER[]))
                AND owner_id IS NOT NULL
            ON CONFLICT (user_id, conversation_id) DO UPDATE SET unread = TRUE
            """,
            [ids],
        )
    name = events.CONVERSATION_READ if read else events.CONVERSATION_UNREAD
    for cid, owner_id in rows:
        if owner_id != actor_id:
            audit.record(tx, actor_id, name, "conversation", cid, owner_id=owner_id)
        tx.publish(name, conversation_id=cid, user_id=owner_id, actor_id=actor_id)
    return len(rows)


# ---- assignment -----------------------------------------------------------------------


def check_assign(
    db: Database, actor: User, conversation_ids: Iterable[Any], to_user_id: Any
) -> tuple[list[Target], User]:
    permissions.require_admin(actor, "assign conversations")
    try:
        target_user = get_user(db, int(to_user_id))
    except (TypeError, ValueError):
        target_user = None
    if target_user is None:
        raise NotFound("Choose an agent to assign the conversations to.")
    if not target_user.active:
        raise ValidationError(f"{target_user.display_name} is disabled; choose an active agent.")
    if target_user.role == "supervisor":
        raise ValidationError(f"{target_user.display_name} is a supervisor; conversations go to agents or admins.")
    targets = _load_targets(db, conversation_ids)
    return targets, target_user


def do_assign(db: Database, actor: User, conversation_ids: Iterable[Any], to_user_id: Any) -> int:
    """Move ownership; the new owner sees them unread and is notified. Returns moves made."""
    targets, target_user = check_assign(db, actor, conversation_ids, to_user_id)
    if not any(t.owner_id != target_user.id for t in targets):
        return 0
    return db.write(_recheck_and_assign, actor, [t.conversation_id for t in targets], target_user)


def _recheck_and_assign(tx: Transaction, actor: User, ids: list[int], target_user: User) -> int:
    """Inside the write: the actor is still an admin, the agent still takes conversations, and each
    conversation moves from whoever owns it *now* (another admin may have moved it meanwhile)."""
    permissions.recheck_actor(tx, actor, ("admin",), "assign conversations")
    row = tx.fetchone("SELECT active, role FROM users WHERE id = ?", [target_user.id])
    if row is None or not row[0]:
        raise ValidationError(f"{target_user.display_name} was disabled a moment ago; choose an active agent.")
    if row[1] == "supervisor":
        raise ValidationError(f"{target_user.display_name} is a supervisor now; conversations go to agents or admins.")
    rows = tx.fetchall(
        "SELECT c.id, c.owner_id, u.display_name, c.status, ct.name, ct.phone FROM conversations c "
        "LEFT JOIN users u ON u.id = c.owner_id LEFT JOIN contacts ct ON ct.id = c.contact_id "
        "WHERE c.id IN (SELECT unnest(?::INTEGER[])) AND c.owner_id IS DISTINCT FROM ?",
        [ids, target_user.id],
    )
    moves = [Target(*r[:4], contact_label=labels.contact_label(r[4], r[5])) for r in rows]
    if moves:
        _write_assign(tx, moves, target_user.id, actor.id)
    return len(moves)


def _write_assign(tx: Transaction, moves: list[Target], to_user_id: int, actor_id: int) -> None:
    ids = [t.conversation_id for t in moves]
    tx.execute("UPDATE conversations SET owner_id = ? WHERE id IN (SELECT unnest(?::INTEGER[]))", [to_user_id, ids])
    tx.execute(
        """
        INSERT INTO read_markers (user_id, conversation_id, read_at, unread)
        SELECT ?, unnest(?::INTEGER[]), NULL, TRUE
        ON CONFLICT (user_id, conversation_id) DO UPDATE SET unread = TRUE
        """,
        [to_user_id, ids],
    )
    for t in moves:
        audit.record(
            tx,
            actor_id,
            "conversation.assigned",
            "conversation",
            t.conversation_id,
            from_user_id=t.owner_id,
            from_user=t.owner_name,
            to_user_id=to_user_id,
        )
        tx.publish(
            events.CONVERSATION_ASSIGNED,
            conversation_id=t.conversation_id,
            user_id=to_user_id,
            from_user_id=t.owner_id,
            actor_id=actor_id,
            contact_name=t.contact_label or None,
        )


# ---- open / closed --------------------------------------------------------------------


def do_set_status(db: Database, actor: User, conversation_ids: Iterable[Any], *, closed: bool) -> int:
    """Close (done) or reopen conversations. Nothing is deleted (rule 4)."""
    targets = _load_targets(db, conversation_ids)
    _require_workable(actor, targets, "close or reopen conversations")
    wanted = "closed" if closed else "open"
    if not any(t.status != wanted for t in targets):
        return 0
    return db.write(_recheck_and_set_status, actor, [t.conversation_id for t in targets], wanted)


def _recheck_and_set_status(tx: Transaction, actor: User, ids: list[int], wanted: str) -> int:
    """Inside the write: still the actor's to work (reassigned meanwhile: refused), and only those
    not already ``wanted`` now (closed by someone else meanwhile: not counted twice)."""
    role = permissions.recheck_actor(tx, actor, ("standard", "admin"), "close or reopen conversations")
    rows = tx.fetchall(
        "SELECT id, owner_id, status FROM conversations WHERE id IN (SELECT unnest(?::INTEGER[])) ORDER BY id", [ids]
    )
    if role != "admin":
        foreign = [r[0] for r in rows if r[1] != actor.id]
        if foreign:
            raise PermissionDenied(
                f"Conversation {foreign[0]} was assigned to someone else a moment ago; nothing was changed."
            )
    changing = [Target(cid, owner, None, status) for cid, owner, status in rows if status != wanted]
    if changing:
        _write_status(tx, changing, wanted, actor.id)
    return len(changing)


def _write_status(tx: Transaction, targets: list[Target], status: str, actor_id: int) -> None:
    closed_at = clock.utcnow() if status == "closed" else None
    tx.execute(
        "UPDATE conversations SET status = ?, closed_at = ? WHERE id IN (SELECT unnest(?::INTEGER[]))",
        [status, closed_at, [t.conversation_id for t in targets]],
    )
    name = events.CONVERSATION_CLOSED if status == "closed" else events.CONVERSATION_REOPENED
    others: dict[int | None, list[int]] = {}  # an admin acting on someone else's (or nobody's): audited
    for t in targets:  # the owner's lists and counts change too, whoever closed it
        if t.owner_id != actor_id:
            others.setdefault(t.owner_id, []).append(t.conversation_id)
        tx.publish(name, conversation_id=t.conversation_id, actor_id=actor_id, owner_id=t.owner_id)
    for owner_id, ids in others.items():  # one statement per owner, for a bulk close of up to 1,000
        audit.record_each(tx, actor_id, name, "conversation", ids, owner_id=owner_id)


def _names(names: list[str]) -> str:
    if len(names) <= 1:
        return names[0] if names else "nobody"
    return ", ".join(names[:-1]) + " and " + names[-1]
