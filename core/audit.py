"""The audit log: who did what, when, to what. Written here only; admins read and export it.

Every admin action, sign-in, assignment, read-state change by an admin,
export, opt-out change, settings change, user change and campaign action
calls ``record`` inside the transaction of the change it describes, so an
entry exists exactly when the change does. ``detail`` is JSON.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd

from core import clock
from core.csv_files import to_csv_bytes
from core.db import Database, Transaction
from core.errors import PermissionDenied

PAGE_SIZE = 100
MAX_EXPORT = 200_000


# The words an admin reads for an action ('user.sign_in_failed' → 'User: sign-in failed'); the CSV
# export keeps the codes, which a spreadsheet filters on.
FAMILIES = {
    "optout": "Opt-out",
    "contacts": "Contacts",
    "contact": "Contact",
    "settings": "Settings",
    "audit": "Audit log",
    "webhook": "Webhook",
    "sender": "Sender number",
}
WORDS = {"sign_in_failed": "sign-in failed", "signed_in": "signed in", "session_ended": "a sign-in session ended"}
WORDS |= {"sessions_ended": "every sign-in session ended", "test_failed": "test message refused"}
WORDS |= {"tested": "test message sent", "transcript_exported": "transcript exported"}


def action_label(action: str) -> str:
    """'Campaign: paused', 'Opt-out: added', 'User (every action)' for a family."""
    family, _, verb = action.partition(".")
    name = FAMILIES.get(family, family.replace("_", " ").capitalize())
    if not verb:
        return f"{name} (every action)"
    return f"{name}: {WORDS.get(verb, verb.replace('_', ' '))}"


def _require_admin(viewer: Any, what: str) -> None:
    # Not core.permissions: it imports core.auth, which writes the audit log (no import cycle).
    if not getattr(viewer, "is_admin", False):
        raise PermissionDenied(f"Only an admin can {what}.")


def record(
    tx: Transaction, actor_id: int | None, action: str, object_type: str, object_id: int | None, **detail: Any
) -> None:
    tx.execute(
        "INSERT INTO audit_log (occurred_at, actor_id, action, object_type, object_id, detail) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [clock.utcnow(), actor_id, action, object_type, object_id, json.dumps(detail, default=str)],
    )


def record_each(
    tx: Transaction, actor_id: int | None, action: str, object_type: str, object_ids: list[int], **detail: Any
) -> None:
    """The same entry for each of many objects (e.g. every conversation a disabled user handed over),
    in one statement."""
    if not object_ids:
        return
    tx.execute(
        "INSERT INTO audit_log (occurred_at, actor_id, action, object_type, object_id, detail) "
        "SELECT ?, ?, ?, ?, unnest(?::BIGINT[]), ?",
        [clock.utcnow(), actor_id, action, object_type, list(object_ids), json.dumps(detail, default=str)],
    )


def _where(user_id: Any, action: str | None, since: dt.date | None, until: dt.date | None) -> tuple[str, list[Any]]:
    where, params = ["TRUE"], []
    if user_id not in (None, ""):
        where.append("a.actor_id = ?")
        params.append(int(user_id))
    if action:
        where.append("(a.action = ? OR starts_with(a.action, ? || '.'))")
        params += [action, action]
    if since is not None:
        where.append("a.occurred_at >= ?")
        params.append(dt.datetime.combine(since, dt.time()))
    if until is not None:
        where.append("a.occurred_at < ?")
        params.append(dt.datetime.combine(until + dt.timedelta(days=1), dt.time()))
    return " AND ".join(where), params


def search(
    db: Database,
    viewer: Any,
    *,
    user_id: Any = None,
    action: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    page: int = 0,
    page_size: int = PAGE_SIZE,
) -> tuple[list[dict[str, Any]], int]:
    """Entries newest first, filtered by who acted, what (an action or its family, e.g. 'user') and
    when (dates in UTC, both ends included): (rows of the page, total)."""
    _require_admin(viewer, "read the audit log")
    where, params = _where(user_id, action, since, until)
    total = db.scalar(f"SELECT count(*) FROM audit_log a WHERE {where}", params)
    rows = db.dicts(
        f"""WITH page AS (
                SELECT a.id, a.occurred_at, a.actor_id, u.display_name AS actor, u.username, a.action,
                       a.object_type, a.object_id, a.detail
                FROM audit_log a LEFT JOIN users u ON u.id = a.actor_id
                WHERE {where} ORDER BY a.occurred_at DESC, a.id DESC LIMIT ? OFFSET ?)
            SELECT p.*, {_OBJECT_NAME} AS object_name FROM page p {_OBJECT_JOINS}
            ORDER BY p.occurred_at DESC, p.id DESC""",
        [*params, page_size, max(0, int(page)) * page_size],
    )
    for row in rows:
        row["action_label"] = action_label(row["action"])
    return rows, total


# What each entry is about, by name (only the page's rows are looked up, by primary key).
_OBJECT_JOINS = """
    LEFT JOIN users ou ON p.object_type = 'user' AND ou.id = p.object_id
    LEFT JOIN contacts oc ON p.object_type = 'contact' AND oc.id = p.object_id
    LEFT JOIN senders os ON p.object_type = 'sender' AND os.id = p.object_id
    LEFT JOIN campaigns ocp ON p.object_type = 'campaign' AND ocp.id = p.object_id
    LEFT JOIN templates ot ON p.object_type = 'template' AND ot.id = p.object_id
    LEFT JOIN teams otm ON p.object_type = 'team' AND otm.id = p.object_id
    LEFT JOIN conversations ocv ON p.object_type = 'conversation' AND ocv.id = p.object_id
    LEFT JOIN contacts ocvc ON ocvc.id = ocv.contact_id
"""
_OBJECT_NAME = """coalesce(
    ou.display_name || ' (@' || ou.username || ')',
    nullif(trim(oc.name), '') || ' ' || oc.phone, oc.phone,
    os.label, ocp.name, ot.name, otm.name,
    'Conversation with ' || coalesce(nullif(trim(ocvc.name), ''), ocvc.phone),
    CASE WHEN p.object_type IS NULL THEN '' ELSE replace(p.object_type, '_', ' ') || coalesce(' ' || p.object_id, '') END
)"""


def actions(db: Database, viewer: Any) -> list[str]:
    """Every action written so far, and their families ('user', 'campaign'…), for the filter."""
    _require_admin(viewer, "read the audit log")
    names = [r[0] for r in db.fetchall("SELECT DISTINCT action FROM audit_log ORDER BY action")]
    families = sorted({n.split(".", 1)[0] for n in names if "." in n})
    return sorted(set(names) | set(families))


def export_csv(
    db: Database,
    viewer: Any,
    *,
    user_id: Any = None,
    action: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> bytes:
    """The filtered entries as CSV (formula-safe); the export itself is audited."""
    _require_admin(viewer, "export the audit log")
    where, params = _where(user_id, action, since, until)
    frame = db.df(
        f"""SELECT strftime(a.occurred_at, '%Y-%m-%d %H:%M:%S') AS "Time (UTC)", coalesce(u.username, '') AS "User",
                   a.action AS "Action", coalesce(a.object_type, '') AS "Object",
                   coalesce(CAST(a.object_id AS VARCHAR), '') AS "Object id", coalesce(a.detail, '') AS "Detail"
            FROM audit_log a LEFT JOIN users u ON u.id = a.actor_id
            WHERE {where} ORDER BY a.occurred_at, a.id LIMIT ?""",
        [*params, MAX_EXPORT],
    )
    filters = {"user_id": user_id, "action": action, "since": since, "until": until}

    def write(tx: Transaction) -> None:
        # Checked again in the write that audits the export, before the rows leave: an admin demoted
        # or disabled since the page drew gets nothing (imported here: core.permissions imports
        # core.auth, which imports this module).
        from core import permissions

        permissions.recheck_actor(tx, viewer, ("admin",), "export the audit log")
        record(
            tx,
            viewer.id,
            "audit.exported",
            "audit_log",
            None,
            rows=len(frame),
            filters={k: v for k, v in filters.items() if v},
        )

    db.write(write)
    return to_csv_bytes(pd.DataFrame(frame).astype(object))
