"""Webhooks kept for review (admins): what could not be applied, why, and a retry.

A webhook is stored before it is acknowledged, so none is ever lost; one that
could not be applied stays in ``webhook_inbox`` with its reason:

- ``error``: applying it failed (a bug, or data Parley did not expect);
- ``malformed``: its body could not be read as the provider's format;
- ``unknown_sender``: it is for a number that is not one of our senders.

*Retry* sends rows back to the applier as they are (the raw payload never
changed): after a fix, or after adding the missing sender, they apply like
new ones. Applying is idempotent, so a retry can never apply anything twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core import audit, clock, events, permissions
from core.auth import User
from core.db import Database, Transaction
from core.errors import ValidationError

KEPT = {
    "error": "Failed to apply",
    "malformed": "Malformed",
    "unknown_sender": "Unknown sender",
}
PAGE_SIZE = 50
MAX_RETRY = 1000
PREVIEW = 600


def kept(
    db: Database, viewer: User, *, state: str | None = None, provider: str | None = None, page: int = 0
) -> tuple[list[dict[str, Any]], int, dict[str, int]]:
    """Kept webhooks newest first: (rows of the page, total, count by state)."""
    permissions.require_admin(viewer, "review webhooks")
    states = [state] if state in KEPT else list(KEPT)
    where, params = ["state IN (SELECT unnest(?::VARCHAR[]))"], [states]
    if provider:
        where.append("provider = ?")
        params.append(provider)
    where_sql = " AND ".join(where)
    total = db.scalar(f"SELECT count(*) FROM webhook_inbox WHERE {where_sql}", params)
    rows = db.dicts(
        f"""SELECT id, received_at, provider, state, error, processed_at, retries, retried_at, content_type,
                   octet_length(body) AS size, CAST(body[1:{PREVIEW}] AS VARCHAR) AS preview
            FROM webhook_inbox WHERE {where_sql} ORDER BY id DESC LIMIT ? OFFSET ?""",
        [*params, PAGE_SIZE, max(0, int(page)) * PAGE_SIZE],
    )
    counts = dict(
        db.fetchall(
            "SELECT state, count(*) FROM webhook_inbox WHERE state IN (SELECT unnest(?::VARCHAR[])) GROUP BY state",
            [list(KEPT)],
        )
    )
    return rows, total, {s: counts.get(s, 0) for s in KEPT}


def do_retry(db: Database, viewer: User, webhook_ids: Iterable[Any]) -> int:
    """Send kept webhooks back to be applied. Returns how many."""
    permissions.require_admin(viewer, "retry webhooks")
    try:
        ids = sorted({int(i) for i in webhook_ids})
    except (TypeError, ValueError):
        raise ValidationError("Choose webhooks from the list to retry.") from None
    if not ids:
        raise ValidationError("Choose at least one webhook to retry.")
    if len(ids) > MAX_RETRY:
        raise ValidationError(f"Retry at most {MAX_RETRY} webhooks at a time.")

    def write(tx: Transaction) -> int:
        permissions.recheck_actor(tx, viewer, ("admin",), "retry webhooks")
        rows = tx.fetchall(
            "SELECT id, state FROM webhook_inbox WHERE id IN (SELECT unnest(?::BIGINT[])) AND "
            "state IN (SELECT unnest(?::VARCHAR[]))",
            [ids, list(KEPT)],
        )
        if not rows:
            raise ValidationError("Those webhooks are not kept for review any more (already retried or applied).")
        retry = [r[0] for r in rows]
        now = clock.utcnow()
        tx.execute(
            """UPDATE webhook_inbox SET state = 'pending', processed_at = NULL, retries = coalesce(retries, 0) + 1,
                      retried_at = ? WHERE id IN (SELECT unnest(?::BIGINT[]))""",
            [now, retry],
        )
        audit.record(tx, viewer.id, "webhook.retried", "webhook", retry[0] if len(retry) == 1 else None, ids=retry)
        tx.publish(events.WEBHOOK_RETRIED, count=len(retry), actor_id=viewer.id)
        return len(retry)

    return db.write(write)
