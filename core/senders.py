"""Sender numbers and their registration (rule 10).

US carriers filter or block application traffic from a local long code whose
10DLC brand and campaign are not both approved, and from a toll-free number
that is not verified. Each sender keeps its registration; ``registration_status``
is the overall state derived from the parts. Such a sender is flagged to
admins everywhere it matters (a banner on every page, a warning in the
composer), and the workspace's rule ``unregistered_senders`` decides whether
it may send at all: ``warn`` (send, with the warning) or ``block`` (nothing
goes from it: the composer records *not sent*, campaigns exclude its US
recipients, the dispatcher refuses what was already queued).

``senders.send_blocked`` holds the reason a sender may not send right now;
``refresh_send_blocked`` recomputes it in the transaction of any change that
can move it (a sender saved, the rule changed), so readers never re-decide.
"""

from __future__ import annotations

import functools
from typing import Any

import phonenumbers as pn

from core import permissions, settings
from core.auth import User
from core.db import Database, Transaction

KINDS = {
    "10dlc": "US long code (10DLC)",
    "toll_free": "US toll-free",
    "whatsapp": "WhatsApp number",
    "none": "No registration (outside the US)",
}
TEN_DLC_STATES = {
    "not_started": "Not started",
    "pending": "Pending",
    "approved": "Approved",
    "rejected": "Rejected",
    "suspended": "Suspended",
}
TOLL_FREE_STATES = {
    "unregistered": "Not submitted",
    "pending": "Pending",
    "verified": "Verified",
    "rejected": "Rejected",
}
WHATSAPP_STATES = {
    "unregistered": "Not submitted",
    "pending": "Pending",
    "approved": "Approved",
    "rejected": "Rejected",
}
REGISTERED_STATES = frozenset({"registered", "approved", "verified", "not_required"})
RULES = {"warn": "Send, and warn admins", "block": "Do not send from them"}
RULE_KEY = "unregistered_senders"

# The help page's own words for the banner.
BANNER = (
    "URGENT! Please register the 10-digit business phone number (e.g. 555-555-5555) that your organization "
    "uses to send texts to consumers in the U.S. Failure to register may cause heavy penalties and disruption "
    "to all your text messaging communications."
)


def overall_status(kind: str, brand: str | None, campaign: str | None, status: str | None) -> str:
    """The one registration state the rest of Parley reads."""
    if kind == "10dlc":
        parts = {brand or "not_started", campaign or "not_started"}
        if parts == {"approved"}:
            return "registered"
        if parts & {"rejected", "suspended"}:
            return "rejected"
        if "pending" in parts:
            return "pending"
        return "unregistered"
    if kind == "none":
        return "not_required"
    return status or "unregistered"


# +1 is the whole North American plan: Canada and the Caribbean nations share it. 10DLC and toll-free
# verification are the US carriers' (its territories included; toll-free numbers read as US).
US_REGIONS = frozenset({"US", "PR", "VI", "GU", "AS", "MP"})


@functools.lru_cache(maxsize=1024)
def is_us_number(phone: str | None) -> bool:
    if not phone or not phone.startswith("+1"):
        return False
    try:
        return pn.region_code_for_number(pn.parse(phone)) in US_REGIONS
    except pn.NumberParseException:
        return False


def needs_registration(sender: dict[str, Any]) -> bool:
    """An SMS sender on a US number without completed registration or verification."""
    phone = sender.get("phone") or sender.get("sender_phone") or ""
    channel = sender.get("channel") or "sms"
    return channel == "sms" and is_us_number(phone) and sender.get("registration_status") not in REGISTERED_STATES


def what_is_missing(sender: dict[str, Any]) -> str:
    kind = sender.get("registration_kind")
    if kind == "toll_free":
        return "toll-free verification"
    if kind == "10dlc":
        return "10DLC brand and campaign registration"
    return "carrier registration (10DLC or toll-free verification)"


def registration_warning(sender: dict[str, Any]) -> str | None:
    """One sentence for admins, or None when the sender is fine."""
    if not needs_registration(sender):
        return None
    label = sender.get("label") or sender.get("sender_label") or sender.get("phone")
    status = sender.get("registration_status") or "unregistered"
    return (
        f"{label} has no completed {what_is_missing(sender)} (status: {status}); US carriers may filter or "
        "block its messages."
    )


def rule(db: Database | Transaction) -> str:
    value = settings.get_tx(db, RULE_KEY) if isinstance(db, Transaction) else settings.get(db, RULE_KEY)
    return value if value in RULES else "warn"


def block_reason_for(sender: dict[str, Any], rule_now: str) -> str | None:
    """Why the workspace's rule keeps this sender from sending (None: it may send)."""
    if rule_now != "block" or not needs_registration(sender):
        return None
    if sender.get("registration_kind") == "toll_free":
        return "Sender not verified (toll-free)"
    return "Sender not registered (10DLC)"


def refresh_send_blocked(tx: Transaction) -> None:
    """Recompute every sender's ``send_blocked`` (a handful of rows; whether a number is a US one is
    ``phonenumbers``' to say, not a prefix's)."""
    rule_now = rule(tx)
    rows = tx.fetchall("SELECT id, phone, channel, registration_kind, registration_status FROM senders")
    names = ("id", "phone", "channel", "registration_kind", "registration_status")
    reasons = {r[0]: block_reason_for(dict(zip(names, r)), rule_now) for r in rows}
    if reasons:
        tx.execute(
            "UPDATE senders SET send_blocked = u.reason FROM "
            "(SELECT unnest(?::INTEGER[]) AS id, unnest(?::VARCHAR[]) AS reason) u WHERE senders.id = u.id",
            [list(reasons), list(reasons.values())],
        )


# ---- finders ---------------------------------------------------------------------------------------

COLUMNS = (
    "id, phone, channel, provider, label, provider_ref, registration_kind, registration_status, brand_status, "
    "campaign_status, rate_per_second, enabled, send_blocked, created_at, updated_at"
)


def list_senders(db: Database, viewer: User) -> list[dict[str, Any]]:
    """Every sender (admins), with its warning."""
    permissions.require_admin(viewer, "manage sender numbers")
    rows = db.dicts(f"SELECT {COLUMNS} FROM senders ORDER BY channel, label, id")
    for row in rows:
        row["warning"] = registration_warning(row)
    return rows


def waiting_messages(db: Database, viewer: User, sender_id: Any) -> int:
    """How many messages wait to go from a sender (queued, held by the hours, in a paused campaign):
    the dispatcher records each one that falls due while the sender is disabled as not sent."""
    permissions.require_admin(viewer, "manage sender numbers")
    return db.scalar(
        "SELECT count(*) FROM outbox WHERE sender_id = ? AND state IN ('pending', 'paused')", [int(sender_id)]
    )


def sendable(db: Database) -> list[dict[str, Any]]:
    """Senders a campaign may choose: enabled ones."""
    return db.dicts(f"SELECT {COLUMNS} FROM senders WHERE enabled ORDER BY channel, label, id")


def unregistered(db: Database) -> list[dict[str, Any]]:
    """Enabled senders that need a registration they do not have (the admins' banner)."""
    rows = db.dicts(f"SELECT {COLUMNS} FROM senders WHERE enabled AND channel = 'sms' AND phone LIKE '+1%'")
    return [r for r in rows if needs_registration(r)]


def banner(db: Database, viewer: User) -> list[dict[str, Any]]:
    """For admins: the enabled US senders the help page's warning (``BANNER``) is about (none: no banner)."""
    return unregistered(db) if viewer.is_admin else []


def block_reason(db: Database, sender_id: int) -> str | None:
    return db.scalar("SELECT send_blocked FROM senders WHERE id = ?", [sender_id])
