"""Version numbers that tell a live page, cheaply, that what it shows has changed.

Each conversation has ``conversations.version`` and each user
``users.inbox_version``; both live in the database, so every Parley process
sharing it sees the same numbers and nothing is stale after a restart. They
are raised in the very transaction of the change, from the events it
publishes (``Database`` calls ``stamp`` when it stores them): every state
change publishes an event, so no writer has to remember a version.

- a conversation's version moves when its messages, their statuses, its
  read state, owner, open/closed state or opt-out flag change, and when its
  contact or sender changes (events naming a message or a contact are
  resolved to their conversations; an event naming many, ``conversation_ids``,
  a disabled user's conversations handed over, raises each);
- a user's inbox version moves when a conversation they own (or owned, for
  an assignment) or a message they wrote changes, or when a contact they
  wrote to is renamed (Sent Messages shows the name): My Inbox and Sent
  Messages compare it; Team Inbox for the whole team compares the sum
  (unowned conversations raise the admins' versions, so the sum moves);
- a bulk write whose one event names none of the rows it changed (a CSV
  import renaming contacts, queued messages retimed) calls ``touch``.

Browsers ask through ``viewable_conversation_version`` and
``viewable_inbox_version`` (routes ``/api/conversations/<id>/version`` and
``/api/inbox/version``), which answer only what the asker may see.

A live page reads one number by primary key (well under a millisecond) and
reruns only when it moved.
"""

from __future__ import annotations

from typing import Any

from core import events as names

USER_KEYS = ("user_id", "owner_id", "from_user_id", "author_id")
CONTACT_EVENTS = frozenset(n for n in names.ALL if n.startswith("contact."))
# Delivery outcomes name the message (and its owner) but not its author, whose Sent Messages
# show its status: those messages are looked up. A new message names its author itself.
DELIVERY_EVENTS = frozenset(
    {
        names.MESSAGE_SENT,
        names.MESSAGE_FAILED,
        names.MESSAGE_NOT_SENT,
        names.MESSAGE_RETRY_SCHEDULED,
        names.MESSAGE_INTERRUPTED,
        names.MESSAGE_STATUS,
        names.MESSAGE_RETRIED,
    }
)


def stamp(tx: Any, events: list[Any]) -> None:
    """Raise the versions of whatever ``events`` (published in ``tx``) concern."""
    conversations: set[int] = set()
    messages: set[int] = set()
    contacts: set[int] = set()
    senders: set[int] = set()
    users: set[int] = set()
    ownerless: set[int] = set()  # conversations named by an event that names no user
    renamed: set[int] = set()  # contacts whose name changed: whoever wrote to them shows it
    for event in events:
        p = event.payload
        if p.get("conversation_id") is not None:
            conversations.add(int(p["conversation_id"]))
            if not any(p.get(k) is not None for k in USER_KEYS):
                ownerless.add(int(p["conversation_id"]))
        conversations.update(int(c) for c in p.get("conversation_ids") or ())  # many handed over at once
        if p.get("message_id") is not None and (
            p.get("conversation_id") is None or (event.name in DELIVERY_EVENTS and "author_id" not in p)
        ):  # a delivery outcome naming its conversation and its author (the dispatcher's) needs no lookup
            messages.add(int(p["message_id"]))
        if p.get("contact_id") is not None and event.name in CONTACT_EVENTS:
            contacts.add(int(p["contact_id"]))
            if event.name == names.CONTACT_UPDATED and "name" in (p.get("fields") or ("name",)):
                renamed.add(int(p["contact_id"]))
        if event.name == names.SENDER_CHANGED and p.get("sender_id") is not None:
            senders.add(int(p["sender_id"]))
        users.update(int(p[k]) for k in USER_KEYS if p.get(k) is not None)
    _raise(tx, conversations, messages, contacts, senders, users, ownerless, renamed)


def touch(tx: Any, *, messages: Any = (), contacts: Any = ()) -> None:
    """Raise the versions behind many ``messages`` or ``contacts`` changed in ``tx`` by a bulk
    write whose one event does not name them (a CSV import renaming contacts, queued messages
    retimed by new business hours, or cancelled by an opt-out): their conversations, owners and
    authors see it (``contacts``: renamed, so whoever wrote to them too)."""
    renamed = {int(c) for c in contacts}
    _raise(tx, set(), {int(m) for m in messages}, renamed, set(), set(), set(), renamed)


def _raise(
    tx: Any,
    conversations: set[int],
    messages: set[int],
    contacts: set[int],
    senders: set[int],
    users: set[int],
    ownerless: set[int],
    renamed: set[int],
) -> None:
    if messages:  # a status names the message only; its author's Sent Messages changes too
        for conversation_id, author_id in tx.fetchall(
            "SELECT conversation_id, author_id FROM messages WHERE id IN (SELECT unnest(?::BIGINT[]))",
            [sorted(messages)],
        ):
            if conversation_id is not None:
                conversations.add(conversation_id)
            if author_id is not None:
                users.add(author_id)
    # A conversation whose version was raised in passing (recording a message) is not updated
    # again; its owner, named by the event, still gets a new inbox version.
    done = conversations & getattr(tx, "versioned", set())
    conversations -= done
    conversations |= done & ownerless  # no event said whose it is: the update below finds out
    where, params = [], []
    for column, ids in (("id", conversations), ("contact_id", contacts), ("sender_id", senders)):
        if len(ids) == 1:  # the usual case: one conversation, found by its key
            where.append(f"{column} = ?")
            params.append(next(iter(ids)))
        elif ids:
            where.append(f"{column} IN (SELECT unnest(?::INTEGER[]))")
            params.append(sorted(ids))
    unowned = False
    if where:
        for (owner_id,) in tx.fetchall(
            f"UPDATE conversations SET version = version + 1 WHERE {' OR '.join(where)} RETURNING owner_id", params
        ):
            if owner_id is None:
                unowned = True
            else:
                users.add(owner_id)
    who, params = [], []
    if len(users) == 1:
        who.append("id = ?")
        params.append(next(iter(users)))
    elif users:
        who.append("id IN (SELECT unnest(?::INTEGER[]))")
        params.append(sorted(users))
    if unowned:  # a conversation nobody owns shows only in Team Inbox: the admins' versions carry it
        who.append("role = 'admin'")
    if renamed:
        # Sent Messages shows the contact's name beside each message: its authors' lists changed, in
        # conversations others own or in none (a campaign nobody answered). One scan of the messages'
        # contact and author columns, in the same statement; only a rename pays it (a manual edit, an import).
        who.append(
            "id IN (SELECT author_id FROM messages WHERE contact_id IN (SELECT unnest(?::INTEGER[])) "
            "AND direction = 'out')"
        )
        params.append(sorted(renamed))
    if who:
        tx.execute(f"UPDATE users SET inbox_version = inbox_version + 1 WHERE {' OR '.join(who)}", params)


def conversation_version(db: Any, conversation_id: int) -> int | None:
    """The conversation's version (None if it does not exist): one primary-key read."""
    return db.scalar("SELECT version FROM conversations WHERE id = ?", [int(conversation_id)])


def viewable_conversation_version(db: Any, viewer: Any, conversation_id: Any) -> int:
    """The conversation's version, for a browser asking whether to redraw it: only for a viewer
    who may open it (the same sentence as the page's otherwise). One primary-key read."""
    from core import permissions

    cid = permissions.parse_conversation_id(conversation_id)
    rows = db.dicts("SELECT version, owner_id FROM conversations WHERE id = ?", [cid])
    permissions.require_conversation_view(viewer, cid, rows[0] if rows else None)
    return int(rows[0]["version"])


def inbox_version(db: Any, user_id: int | None) -> int:
    """What one user's inbox and sent messages show; ``None``: everyone's (the whole team)."""
    if user_id is None:
        return db.scalar("SELECT coalesce(sum(inbox_version), 0) FROM users")
    return db.scalar("SELECT coalesce(max(inbox_version), 0) FROM users WHERE id = ?", [int(user_id)])


TEAM = "team"


def viewable_inbox_version(db: Any, viewer: Any, owner: Any) -> int:
    """The inbox version a live list compares, for a browser asking whether to redraw it: ``owner``
    is a user's id (My Inbox and Sent Messages: the viewer's own; Team Inbox: an agent's) or
    ``"team"`` (Team Inbox for the whole team). An agent may ask only their own; admins and
    supervisors anyone's, as the Team Inbox shows them. One read by primary key (the team's: one
    sum over the users)."""
    from core import permissions
    from core.errors import NotFound

    text = str(owner if owner is not None else "").strip()
    if text == TEAM:
        permissions.require_team_view(viewer)
        return inbox_version(db, None)
    try:
        owner_id = int(text)
    except ValueError:
        raise NotFound(f"“{text}” is not an inbox: ask for a user's number or “team”.") from None
    if owner_id != viewer.id:
        permissions.require_team_view(viewer)
    version = db.scalar("SELECT inbox_version FROM users WHERE id = ?", [owner_id])
    if version is None:
        raise NotFound(f"There is no inbox of user {owner_id}.")
    return int(version)
