"""When held messages may go (rule 3), for many recipients at once.

``next_send_time`` answers for one recipient; a campaign or an hours change
asks for thousands. Recipients share the answer with everyone in their time
zone who may go from the same moment, so it is computed once per (zone,
earliest moment) and mapped onto the rows. A number's zone comes from its
prefix (phonenumbers keys North American zones by the first seven digits,
others by up to nine), so it too is looked up once per prefix.

``retime_queued`` re-times the outbox after the hours change: each waiting
message gets the first moment the new hours allow (never earlier than its
campaign's chosen time, nor than a retry's back-off), and goes at once if
that is now. Automatic replies (HELP, opt-out confirmations) answer the
customer and ignore hours, so they are left alone.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from core import clock, events, phones, settings
from core.compliance import hours as hours_rules
from core.db import Transaction


def recipient_zones(phone: pd.Series, contact_timezone: pd.Series | None = None) -> pd.Series:
    """Each recipient's IANA zone: the contact's own, else the number's (None when unknown)."""
    phone = phone.astype(str)
    key = phone.str.slice(0, 8).where(phone.str.startswith("+1"), phone.str.slice(0, 10))
    firsts = phone.groupby(key, sort=False).first()
    by_key = {k: phones.phone_timezone(v) for k, v in firsts.items()}
    zones = key.map(by_key).astype(object)
    if contact_timezone is not None:
        own = contact_timezone.astype(object)
        zones = own.where(own.notna() & (own != ""), zones)
    return zones.where(zones.notna(), None)


def release_times(
    zones: pd.Series,
    not_before: pd.Series,
    business: hours_rules.BusinessHours,
    quiet: hours_rules.QuietHours,
) -> pd.Series:
    """The first moment each row may go: once per distinct (zone, earliest moment)."""
    frame = pd.DataFrame({"zone": zones.astype(object).where(zones.notna(), ""), "at": pd.to_datetime(not_before)})
    answers: dict[tuple[str, pd.Timestamp], dt.datetime] = {}
    for zone, at in frame.drop_duplicates().itertuples(index=False):
        answers[(zone, at)] = hours_rules.next_send_time(at.to_pydatetime(), business, zone or None, quiet)
    keys = list(zip(frame["zone"], frame["at"]))
    return pd.Series([answers[k] for k in keys], index=frame.index, dtype="datetime64[us]")


def retime_queued(tx: Transaction, campaign_id: int | None = None) -> int:
    """Give every waiting message (or one campaign's) the release time the current hours allow.
    Returns how many moved."""
    now = clock.utcnow()
    only = "AND m.campaign_id = ?" if campaign_id is not None else ""
    rows = tx.execute(
        f"""SELECT o.id AS outbox_id, o.message_id, o.due_at, m.release_at, o.attempts, ct.phone, ct.timezone,
                   greatest(?, coalesce(cp.scheduled_at, ?)) AS not_before
            FROM outbox o JOIN messages m ON m.id = o.message_id JOIN contacts ct ON ct.id = m.contact_id
            LEFT JOIN campaigns cp ON cp.id = m.campaign_id
            WHERE o.state = 'pending' AND (m.author_id IS NOT NULL OR m.campaign_id IS NOT NULL) {only}""",
        [now, now] + ([campaign_id] if campaign_id is not None else []),
    ).df()
    if rows.empty:
        return 0
    business = settings.business_hours_from_json(settings.get_tx(tx, "business_hours"))
    quiet = settings.quiet_hours_from_json(settings.get_tx(tx, "quiet_hours"))
    due = release_times(recipient_zones(rows["phone"], rows["timezone"]), rows["not_before"], business, quiet)
    retrying = rows["attempts"] > 0
    due = due.where(~retrying | (due >= rows["due_at"]), rows["due_at"])  # a retry keeps its back-off
    shown = due.where(due > pd.Timestamp(now))  # "queued until" only while it waits
    same_release = (shown == rows["release_at"]) | (shown.isna() & rows["release_at"].isna())
    moved = rows[(due != rows["due_at"]) | ~same_release]
    if moved.empty:
        return 0
    update = pd.DataFrame(
        {
            "outbox_id": moved["outbox_id"].astype("int64"),
            "message_id": moved["message_id"].astype("int64"),
            "due_at": due[moved.index].astype("datetime64[us]"),
            "release_at": shown[moved.index].astype("datetime64[us]"),
        }
    )
    tx.cursor.register("_retimed", update)
    try:
        tx.execute("UPDATE outbox SET due_at = u.due_at FROM _retimed u WHERE outbox.id = u.outbox_id")
        tx.execute("UPDATE messages SET release_at = u.release_at FROM _retimed u WHERE messages.id = u.message_id")
    finally:
        tx.cursor.unregister("_retimed")
    tx.publish(events.MESSAGES_RETIMED, count=len(update), campaign_id=campaign_id)
    return len(update)
