"""A queued campaign: pause, resume and cancel it (its creator or an admin), and follow it: the list
with its counters, one campaign's live detail, and everyone it left out as CSV.

Separate from checking and queuing a new campaign (``core.actions.campaigns``): these act on a
campaign already written, by its id, and everyone signed in may follow them (supervisors too).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from core import audit, clock, events, release, senders
from core.actions.campaigns import parse_id
from core.auth import User
from core.campaigns import CANCELLED_REASON
from core.campaigns import audience as audiences
from core.campaigns import progress as progress_counts
from core.db import Database, Transaction
from core.errors import Conflict, NotFound, PermissionDenied
from core.permissions import recheck_actor

STATUS_LABELS = {
    "scheduled": "Scheduled",
    "sending": "Sending",
    "sent": "Sent",
    "paused": "Paused",
    "cancelled": "Cancelled",
    "draft": "Draft",
}


# ---- pause, resume, cancel ----------------------------------------------------------------------------


def _campaign(tx: Transaction | Database, campaign_id: Any) -> dict[str, Any]:
    cid = parse_id(campaign_id, "a campaign")
    rows = tx.dicts("SELECT * FROM campaigns WHERE id = ?", [cid])
    if not rows:
        raise NotFound(f"There is no campaign {cid}.")
    return rows[0]


def _may_steer(tx: Transaction, actor: User, campaign: dict[str, Any], what: str) -> None:
    if not actor.can_send:
        raise PermissionDenied(f"Supervisors can follow campaigns but cannot {what} them.")
    # The role the page drew with may be stale: an admin made an agent steers only their own.
    role = recheck_actor(tx, actor, ("standard", "admin"), "steer campaigns")
    if role != "admin" and campaign["created_by"] != actor.id:
        raise PermissionDenied(f"Only the campaign's creator or an admin can {what} it.")


def do_pause(db: Database, actor: User, campaign_id: Any) -> int:
    """Hold what has not gone yet (messages being handed over finish). Returns how many were held."""

    def write(tx: Transaction) -> int:
        c = _campaign(tx, campaign_id)
        _may_steer(tx, actor, c, "pause")
        if c["status"] not in ("sending", "scheduled"):
            raise Conflict(
                f"“{c['name']}” is {STATUS_LABELS.get(c['status'], c['status']).lower()}; only a campaign "
                "that is sending or scheduled can be paused."
            )
        held = tx.execute(
            """UPDATE outbox SET state = 'paused' WHERE state = 'pending'
               AND message_id IN (SELECT id FROM messages WHERE campaign_id = ?)""",
            [c["id"]],
        ).fetchall()[0][0]
        tx.execute(
            "UPDATE campaigns SET status = 'paused', paused_at = ?, updated_at = ? WHERE id = ?",
            [clock.utcnow(), clock.utcnow(), c["id"]],
        )
        audit.record(tx, actor.id, "campaign.paused", "campaign", c["id"], name=c["name"], held=held)
        tx.publish(events.CAMPAIGN_PAUSED, campaign_id=c["id"], user_id=c["created_by"], actor_id=actor.id)
        return held

    return db.write(write)


def do_resume(db: Database, actor: User, campaign_id: Any) -> int:
    """Release what was held, each at the first moment the hours allow from now. Returns how many."""

    def write(tx: Transaction) -> int:
        c = _campaign(tx, campaign_id)
        _may_steer(tx, actor, c, "resume")
        if c["status"] != "paused":
            raise Conflict(f"“{c['name']}” is not paused.")
        # Only messages still queued go on (rule 9): one recorded not sent meanwhile stays not sent.
        released = tx.execute(
            """UPDATE outbox SET state = 'pending' WHERE state = 'paused'
               AND message_id IN (SELECT id FROM messages WHERE campaign_id = ? AND status = 'queued')""",
            [c["id"]],
        ).fetchall()[0][0]
        tx.execute(
            """UPDATE outbox SET state = 'cancelled' WHERE state = 'paused'
               AND message_id IN (SELECT id FROM messages WHERE campaign_id = ?)""",
            [c["id"]],
        )
        release.retime_queued(tx, c["id"])
        now = clock.utcnow()
        status = "scheduled" if c["scheduled_at"] and c["scheduled_at"] > now else "sending"
        tx.execute(
            "UPDATE campaigns SET status = ?, paused_at = NULL, updated_at = ? WHERE id = ?", [status, now, c["id"]]
        )
        audit.record(tx, actor.id, "campaign.resumed", "campaign", c["id"], name=c["name"], released=released)
        tx.publish(events.CAMPAIGN_RESUMED, campaign_id=c["id"], user_id=c["created_by"], actor_id=actor.id)
        return released

    return db.write(write)


def do_cancel(db: Database, actor: User, campaign_id: Any) -> int:
    """Stop for good: what has not gone is recorded as not sent. Returns how many."""

    def write(tx: Transaction) -> int:
        c = _campaign(tx, campaign_id)
        _may_steer(tx, actor, c, "cancel")
        if c["status"] not in ("sending", "scheduled", "paused"):
            raise Conflict(f"“{c['name']}” is {STATUS_LABELS.get(c['status'], c['status']).lower()} already.")
        now = clock.utcnow()
        stopped = tx.execute(
            """UPDATE outbox SET state = 'cancelled' WHERE state IN ('pending', 'paused')
               AND message_id IN (SELECT id FROM messages WHERE campaign_id = ?)""",
            [c["id"]],
        ).fetchall()[0][0]
        # Each a failure in Stats, as a rebuild counts it: written from CAMPAIGN_CANCELLED by the
        # reporting writer in one statement (an event for each of 100k messages took 12 s).
        tx.execute(
            """UPDATE messages SET status = 'not_sent', error_reason = ?, status_at = ?, release_at = NULL
               WHERE campaign_id = ? AND status = 'queued'""",
            [CANCELLED_REASON, now, c["id"]],
        )
        tx.execute(
            "UPDATE campaigns SET status = 'cancelled', cancelled_at = ?, updated_at = ? WHERE id = ?",
            [now, now, c["id"]],
        )
        audit.record(tx, actor.id, "campaign.cancelled", "campaign", c["id"], name=c["name"], stopped=stopped)
        tx.publish(events.CAMPAIGN_CANCELLED, campaign_id=c["id"], user_id=c["created_by"], actor_id=actor.id)
        return stopped

    return db.write(write)


# ---- reading ----------------------------------------------------------------------------------------------


def shown_status(status: str, queued: int, sending: int, scheduled_at: dt.datetime | None) -> str:
    """What the list says: a campaign still 'sending' with nothing left to send has been sent."""
    if status in ("sending", "scheduled"):
        if queued + sending == 0:
            return "sent"
        if status == "scheduled" and scheduled_at is not None and scheduled_at <= clock.utcnow():
            return "sending"
    return status


def list_campaigns(db: Database, viewer: User) -> list[dict[str, Any]]:
    """Every campaign, newest first, with its counters (everyone signed in may follow them)."""
    if viewer is None:
        raise PermissionDenied("Sign in first.")
    rows = db.dicts(
        """WITH counts AS (
               SELECT campaign_id, count(*) AS total,
                      count(*) FILTER (WHERE status = 'queued') AS queued,
                      count(*) FILTER (WHERE status = 'sending') AS sending,
                      count(*) FILTER (WHERE status IN ('sent', 'delivered', 'read')) AS sent,
                      count(*) FILTER (WHERE status IN ('delivered', 'read')) AS delivered,
                      count(*) FILTER (WHERE status = 'read') AS read,
                      count(*) FILTER (WHERE status IN ('failed', 'undelivered', 'not_sent', 'interrupted')) AS failed
               FROM messages WHERE campaign_id IS NOT NULL AND direction = 'out' GROUP BY campaign_id)
           SELECT c.id, c.name, c.status, c.created_at, c.scheduled_at, c.queued_at, c.recipients, c.excluded,
                  c.created_by, u.display_name AS creator, s.label AS sender_label, s.channel, t.name AS template_name,
                  coalesce(n.total, 0) AS total, coalesce(n.queued, 0) AS queued, coalesce(n.sending, 0) AS sending,
                  coalesce(n.sent, 0) AS sent, coalesce(n.delivered, 0) AS delivered, coalesce(n.read, 0) AS read,
                  coalesce(n.failed, 0) AS failed
           FROM campaigns c LEFT JOIN counts n ON n.campaign_id = c.id
           LEFT JOIN users u ON u.id = c.created_by
           LEFT JOIN senders s ON s.id = c.sender_id LEFT JOIN templates t ON t.id = c.template_id
           ORDER BY c.created_at DESC, c.id DESC"""
    )
    # Replies as the campaign's own page counts them (progress.outcomes): to the message that last went.
    replied = progress_counts.outcomes(db)
    for r in rows:
        r["shown_status"] = shown_status(r["status"], r["queued"], r["sending"], r["scheduled_at"])
        r["replied"] = replied.get(r["id"], (0, 0))[0]
    return rows


def campaign_detail(db: Database, viewer: User, campaign_id: Any) -> dict[str, Any]:
    """One campaign with its live counters, audience, owner of replies and exclusions by reason."""
    if viewer is None:
        raise PermissionDenied("Sign in first.")
    c = _campaign(db, campaign_id)
    p = progress_counts.progress(db, c["id"])
    c["progress"] = p
    c["shown_status"] = shown_status(c["status"], p.queued, p.sending, c["scheduled_at"])
    c["exclusions"] = dict(
        db.fetchall("SELECT reason, count(*) FROM campaign_exclusions WHERE campaign_id = ? GROUP BY reason", [c["id"]])
    )
    c["audience"] = json.loads(c["audience"]) if c["audience"] else {}
    c["creator"] = db.scalar("SELECT display_name FROM users WHERE id = ?", [c["created_by"]])
    c["sender"] = db.dicts(f"SELECT {senders.COLUMNS} FROM senders WHERE id = ?", [c["sender_id"]])[0]
    c["template_name"] = db.scalar("SELECT name FROM templates WHERE id = ?", [c["template_id"]])
    c["reply_owner"] = (
        db.scalar("SELECT display_name FROM users WHERE id = ?", [c["reply_owner_id"]])
        if c["reply_owner_mode"] == "user"
        else db.scalar("SELECT name FROM teams WHERE id = ?", [c["reply_team_id"]])
        if c["reply_owner_mode"] == "team"
        else c["creator"]
    )
    c["can_steer"] = viewer.can_send and (viewer.is_admin or c["created_by"] == viewer.id)
    return c


def exclusions_csv(db: Database, viewer: User, campaign_id: Any) -> bytes:
    """Everyone the campaign left out, with the reason (for the creator and admins)."""
    from core.csv_files import to_csv_bytes

    c = _campaign(db, campaign_id)
    if not (viewer.is_admin or c["created_by"] == viewer.id):
        raise PermissionDenied("Only the campaign's creator or an admin can download its exclusions.")
    frame = db.df(
        'SELECT coalesce(given, phone) AS "Number", phone AS "E.164", reason AS "Reason" '
        "FROM campaign_exclusions WHERE campaign_id = ? ORDER BY reason, phone",
        [c["id"]],
    )
    frame["Reason"] = frame["Reason"].map(audiences.REASONS).fillna(frame["Reason"])
    db.write(
        lambda tx: audit.record(tx, viewer.id, "campaign.exclusions_exported", "campaign", c["id"], rows=len(frame))
    )
    return to_csv_bytes(frame.astype(object))
