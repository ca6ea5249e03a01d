"""Writing templates (admins): create, edit, disable, enable.

Editing what a registered template says (its text, header, footer, buttons,
name at WhatsApp, Twilio Content SID, language or parameter format) sends it back to WhatsApp's
review, so an approved template becomes *pending* until an admin marks it
approved again: until then it cannot open a closed window, and the thread
never shows words WhatsApp did not approve.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from core import audit, clock, events, permissions, template_checks, template_finders, templates
from core.auth import User
from core.db import Database, Transaction
from core.errors import Conflict, NotFound
from core.templates import Template

CONTENT_FIELDS = (
    "body",
    "provider_name",
    "language",
    "parameter_format",
    "header_format",
    "header_text",
    "header_link",
    "footer",
    "buttons",
    "content_sid",  # through Twilio, the Content SID is what goes: another one is another template
)


def check_save_template(db: Database, actor: User, template: Template) -> Template:
    permissions.require_admin(actor, "manage templates")
    return template_checks.check_template(template)


def _row(t: Template) -> dict[str, Any]:
    return {
        "name": t.name,
        "kind": t.kind,
        "channel": t.channel,
        "body": t.body,
        "registered": t.registered,
        "provider_name": t.provider_name,
        "language": t.language or "en_US",
        "category": t.category,
        "approval_status": t.approval_status,
        "parameter_format": t.parameter_format,
        "header_format": t.header_format,
        "header_text": t.header_text,
        "header_link": t.header_link,
        "footer": t.footer,
        "buttons": json.dumps([b.as_json() for b in t.buttons], ensure_ascii=False) if t.buttons else None,
        "content_sid": t.content_sid,
        "samples": json.dumps(dict(t.samples), ensure_ascii=False) if t.samples else None,
    }


def _duplicate(tx: Transaction, t: Template, template_id: int | None) -> None:
    """Two active templates of one type may not share a name (and a language, for registered ones)."""
    clash = tx.scalar(
        "SELECT count(*) FROM templates WHERE active AND lower(name) = lower(?) AND kind = ? "
        "AND language = ? AND id <> ?",
        [t.name, t.kind, t.language or "en_US", template_id or 0],
    )
    if clash:
        kind = templates.KINDS[t.kind].lower()
        raise Conflict(f"There is already an active {kind} template called “{t.name}”; choose another name.")


def do_create_template(db: Database, actor: User, template: Template) -> int:
    t = check_save_template(db, actor, template)

    def write(tx: Transaction) -> int:
        permissions.recheck_actor(tx, actor, ("admin",), "manage templates")
        _duplicate(tx, t, None)
        now = clock.utcnow()
        row = _row(t)
        template_id = tx.next_id("seq_templates")
        columns = ", ".join(row)
        tx.execute(
            f"INSERT INTO templates (id, {columns}, active, created_by, created_at, updated_by, updated_at) "
            f"VALUES (?, {', '.join('?' * len(row))}, TRUE, ?, ?, ?, ?)",
            [template_id, *row.values(), actor.id, now, actor.id, now],
        )
        audit.record(tx, actor.id, "template.created", "template", template_id, name=t.name, kind=t.kind)
        tx.publish(events.TEMPLATE_CHANGED, template_id=template_id, actor_id=actor.id, change="created")
        return template_id

    return db.write(write)


def do_update_template(
    db: Database, actor: User, template_id: Any, template: Template, *, expected: Template | None = None
) -> str | None:
    """Save an edit. Returns a sentence when the edit sent an approved template back to review.

    ``expected`` (the template as the form was filled from it) refuses to overwrite someone else's
    newer save without them knowing: the form holds every field, so a stale one would put back what
    they changed (an approval status they set to Paused would read Approved again).
    """
    template_id = template_finders.parse_template_id(template_id)
    t = check_save_template(db, actor, template)

    def write(tx: Transaction) -> str | None:
        permissions.recheck_actor(tx, actor, ("admin",), "manage templates")
        rows = tx.dicts(f"SELECT {template_finders.COLUMNS} FROM templates WHERE id = ?", [template_id])
        if not rows:
            raise NotFound("That template does not exist.")
        old_template = template_finders.from_row(rows[0])
        if expected is not None and _row(expected) != _row(old_template):
            raise Conflict(
                f"Someone else saved “{old_template.name}” while you were editing; nothing was changed. "
                "Their version is shown now: make your change again and save."
            )
        new = t
        note = None
        old_row, new_row = _row(old_template), _row(new)
        changed = [f for f in new_row if new_row[f] != old_row[f]]
        content_changed = [f for f in CONTENT_FIELDS if new_row[f] != old_row[f]]
        if new.registered and old_template.registered and content_changed and new.approval_status == "approved":
            new = replace(new, approval_status="pending")
            note = (
                "The template's content changed, so WhatsApp reviews it again: it is Pending until you mark "
                "it Approved."
            )
            changed.append("approval_status")
        if not changed:
            return None
        if old_template.active:
            _duplicate(tx, new, template_id)
        row = _row(new)
        tx.execute(
            f"UPDATE templates SET {', '.join(f'{c} = ?' for c in row)}, updated_by = ?, updated_at = ? WHERE id = ?",
            [*row.values(), actor.id, clock.utcnow(), template_id],
        )
        audit.record(
            tx, actor.id, "template.updated", "template", template_id, name=new.name, fields=sorted(set(changed))
        )
        tx.publish(events.TEMPLATE_CHANGED, template_id=template_id, actor_id=actor.id, change="updated")
        return note

    return db.write(write)


def do_set_template_active(db: Database, actor: User, template_id: Any, active: bool) -> bool:
    """Disable (kept, no longer offered) or enable a template. Returns whether anything changed."""
    permissions.require_admin(actor, "manage templates")
    template_id = template_finders.parse_template_id(template_id)

    def write(tx: Transaction) -> bool:
        permissions.recheck_actor(tx, actor, ("admin",), "manage templates")
        row = tx.fetchone("SELECT name, active FROM templates WHERE id = ?", [template_id])
        if row is None:
            raise NotFound("That template does not exist.")
        if bool(row[1]) == active:
            return False
        if active:
            current = template_finders.from_row(
                tx.dicts(f"SELECT {template_finders.COLUMNS} FROM templates WHERE id = ?", [template_id])[0]
            )
            _duplicate(tx, current, template_id)
        tx.execute(
            "UPDATE templates SET active = ?, updated_by = ?, updated_at = ? WHERE id = ?",
            [active, actor.id, clock.utcnow(), template_id],
        )
        action = "template.enabled" if active else "template.disabled"
        audit.record(tx, actor.id, action, "template", template_id, name=row[0])
        tx.publish(
            events.TEMPLATE_CHANGED,
            template_id=template_id,
            actor_id=actor.id,
            change="enabled" if active else "disabled",
        )
        return True

    return db.write(write)
