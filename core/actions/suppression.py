"""The opt-out list (rule 2), kept by hand: add a number with a reason, remove one (admins), history.

STOP and its kin opt people out by themselves (``core.actions.inbound``);
this is for what arrives another way: a customer who phoned, a complaint, a
list from another system. Adding does what STOP does, without the
confirmation text (the customer did not text us): the contact is suppressed
on every sender and channel and whatever waited for them is *not sent*. A
number that is not a contact yet becomes one, opted out, so no campaign can
reach it. Removing is for admins only and needs a reason too. Each change is
in the contact's opt-out history, with who and why, and in the audit log.
"""

from __future__ import annotations

from typing import Any

from core import audit, clock, events, permissions, phones
from core.actions.inbound import opt_out_everywhere
from core.auth import User
from core.db import Database, Transaction
from core.errors import Conflict, NotFound, PermissionDenied, ValidationError

MAX_REASON = 200
PAGE_SIZE = 50


def _reason(reason: str | None) -> str:
    text = " ".join((reason or "").split())
    if not text:
        raise ValidationError("Say why (for the opt-out history), e.g. “Asked by phone not to be texted”.")
    if len(text) > MAX_REASON:
        raise ValidationError(f"Keep the reason to {MAX_REASON} characters.")
    return text


def suppress(
    tx: Transaction, contact_ids: list[int], *, reason: str | None, user_id: int | None, kind: str = "opt_out"
) -> int:
    """Opt contacts out everywhere and stop what waits for them (no confirmation text). Returns how many
    were not opted out before."""
    now = clock.utcnow()
    fresh = [
        r[0]
        for r in tx.fetchall(
            "SELECT id FROM contacts WHERE id IN (SELECT unnest(?::INTEGER[])) AND NOT opted_out", [contact_ids]
        )
    ]
    if not fresh:
        return 0
    opt_out_everywhere(tx, fresh)  # what STOP does, shared with it
    tx.execute(
        """INSERT INTO optout_history (contact_id, kind, user_id, reason, occurred_at)
           SELECT unnest(?::INTEGER[]), ?, ?, ?, ?""",
        [fresh, kind, user_id, reason, now],
    )
    for contact_id in fresh:
        tx.publish(events.CONTACT_OPTED_OUT, contact_id=contact_id, by_user_id=user_id, source="manual")
    return len(fresh)


def do_add_opt_out(db: Database, actor: User, phone: str, reason: str) -> int:
    """Opt a number out (creating the contact if need be). Returns the contact id."""
    if not actor.can_send:
        raise PermissionDenied("Supervisors can read the opt-out list but cannot change it.")
    number = phones.parse_phone(phone)
    why = _reason(reason)

    def write(tx: Transaction) -> int:
        permissions.recheck_actor(tx, actor, ("standard", "admin"), "change the opt-out list")
        row = tx.fetchone("SELECT id, opted_out FROM contacts WHERE phone = ?", [number])
        if row is not None and row[1]:
            raise Conflict(f"{phones.format_phone_display(number)} is already opted out.")
        if row is None:
            now = clock.utcnow()
            contact_id = tx.next_id("seq_contacts")
            tx.execute(
                "INSERT INTO contacts (id, phone, created_at, updated_at, phone_digits) VALUES (?, ?, ?, ?, ?)",
                [contact_id, number, now, now, number.lstrip("+")],
            )
            tx.publish(events.CONTACT_CREATED, contact_id=contact_id, actor_id=actor.id, source="opt_out")
        else:
            contact_id = row[0]
        suppress(tx, [contact_id], reason=why, user_id=actor.id)
        audit.record(tx, actor.id, "optout.added", "contact", contact_id, phone=number, reason=why)
        return contact_id

    return db.write(write)


def do_remove_opt_out(db: Database, actor: User, contact_id: Any, reason: str) -> str:
    """Admins only: opt a contact back in, with the reason (e.g. they asked in writing). Returns the
    number opted back in, so the page can say which."""
    permissions.require_admin(actor, "remove an opt-out")
    why = _reason(reason)
    try:
        contact_id = int(contact_id)
    except (TypeError, ValueError):
        raise NotFound("That contact does not exist.") from None

    def write(tx: Transaction) -> str:
        permissions.recheck_actor(tx, actor, ("admin",), "remove an opt-out")
        row = tx.fetchone("SELECT phone, opted_out FROM contacts WHERE id = ?", [contact_id])
        if row is None:
            raise NotFound("That contact does not exist.")
        if not row[1]:
            raise Conflict(f"{phones.format_phone_display(row[0])} is not opted out.")
        now = clock.utcnow()
        tx.execute(
            "UPDATE contacts SET opted_out = FALSE, opted_out_at = NULL, updated_at = ? WHERE id = ?", [now, contact_id]
        )
        tx.execute(
            "INSERT INTO optout_history (contact_id, kind, user_id, reason, occurred_at) VALUES (?, 'opt_in', ?, ?, ?)",
            [contact_id, actor.id, why, now],
        )
        audit.record(tx, actor.id, "optout.removed", "contact", contact_id, phone=row[0], reason=why)
        tx.publish(events.CONTACT_OPTED_IN, contact_id=contact_id, by_user_id=actor.id, source="manual")
        return row[0]

    return db.write(write)


# ---- the list and the history -------------------------------------------------------------------------


def opted_out(db: Database, viewer: User, *, search: str | None = None, page: int = 0) -> tuple[list[dict], int]:
    """Opted-out contacts, newest first, with how each opted out: (rows of the page, total)."""
    permissions.require_admin(viewer, "see the opt-out list")
    where, params = ["ct.opted_out"], []
    query = (search or "").strip()[:100]
    if query:  # a name fragment (any case, accents ignored) or the digits of a number, as typed
        digits, text = phones.search_digits(query), phones.normalize_name(query)
        if digits is not None and not any(ch.isalpha() for ch in query):
            where.append("contains(ct.phone_digits, ?)")
            params.append(digits)
        elif digits is not None:
            where.append("(contains(ct.phone_digits, ?) OR contains(ct.search_name, ?))")
            params += [digits, text]
        else:
            where.append("contains(ct.search_name, ?)")
            params.append(text)
    where_sql = " AND ".join(where)
    total = db.scalar(f"SELECT count(*) FROM contacts ct WHERE {where_sql}", params)
    rows = db.dicts(
        f"""
        WITH pg AS (SELECT * FROM contacts ct WHERE {where_sql}
                    ORDER BY ct.opted_out_at DESC NULLS LAST, ct.id DESC LIMIT ? OFFSET ?)
        SELECT ct.id AS contact_id, ct.name, ct.phone, ct.opted_out_at,
               h.kind, h.keyword, h.reason, u.display_name AS by_user, h.channel
        FROM pg ct
        LEFT JOIN (SELECT * FROM optout_history WHERE kind IN ('opt_out', 'opt_out_confirmed_by_agent')
                   QUALIFY row_number() OVER (PARTITION BY contact_id ORDER BY occurred_at DESC, id DESC) = 1) h
               ON h.contact_id = ct.id
        LEFT JOIN users u ON u.id = h.user_id
        ORDER BY ct.opted_out_at DESC NULLS LAST, ct.id DESC
        """,
        [*params, PAGE_SIZE, max(0, int(page)) * PAGE_SIZE],
    )
    for r in rows:
        r["how"] = how(r)
    return rows, total


def how(row: dict[str, Any]) -> str:
    """'Replied STOP', 'Added by Alex Rivera: asked by phone', 'Reported by the carrier'…"""
    if row.get("reason") and row.get("by_user"):
        verb = "Added" if row.get("kind") != "opt_in" else "Removed"
        return f"{verb} by {row['by_user']}: {row['reason']}"
    if row.get("kind") == "opt_out_confirmed_by_agent":
        return f"Confirmed by {row.get('by_user') or 'an agent'} from a message"
    keyword = row.get("keyword") or ""
    if keyword.startswith("provider error"):
        return "Reported by the carrier (the person replied STOP to the carrier)"
    if keyword:
        return f"Replied {keyword.upper()}"
    return "Opted out"


def history(db: Database, viewer: User, contact_id: Any) -> list[dict[str, Any]]:
    """Every opt-out event of one contact, oldest first."""
    permissions.require_admin(viewer, "see the opt-out list")
    try:
        contact_id = int(contact_id)
    except (TypeError, ValueError):
        raise NotFound("That contact does not exist.") from None
    return db.dicts(
        """SELECT h.occurred_at, h.kind, h.keyword, h.channel, h.reason, u.display_name AS by_user,
                  s.label AS sender_label
           FROM optout_history h LEFT JOIN users u ON u.id = h.user_id LEFT JOIN senders s ON s.id = h.sender_id
           WHERE h.contact_id = ? ORDER BY h.occurred_at, h.id""",
        [contact_id],
    )
