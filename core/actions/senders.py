"""Writing sender numbers (admins): add, edit, registration, and the rule for unregistered senders.

Every change publishes ``sender.changed`` (the webhook routing caches reload)
and refreshes each sender's ``send_blocked`` in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core import audit, clock, events, permissions, phones, senders, settings
from core.auth import User
from core.db import Database, Transaction
from core.errors import Conflict, NotFound, ValidationError
from core.providers import registry

MIN_RATE, MAX_RATE = 0.1, 1000.0
MAX_LABEL = 60


@dataclass(frozen=True)
class SenderForm:
    phone: str
    channel: str
    provider: str
    label: str
    provider_ref: str | None = None
    rate_per_second: float = 10.0
    enabled: bool = True
    registration_kind: str = "10dlc"
    brand_status: str | None = None  # 10DLC
    campaign_status: str | None = None  # 10DLC
    registration_status: str | None = None  # toll-free verification, WhatsApp approval


def check_sender(db: Database, actor: User, form: SenderForm) -> dict[str, Any]:
    """The row to store, or one sentence."""
    permissions.require_admin(actor, "manage sender numbers")
    if form.channel not in ("sms", "whatsapp"):
        raise ValidationError("Choose the sender's channel: SMS or WhatsApp.")
    if form.provider not in registry.PROVIDERS:
        raise ValidationError(f"Choose a provider: {', '.join(sorted(registry.PROVIDERS))}.")
    phone = phones.parse_phone(form.phone)
    label = " ".join((form.label or "").split())
    if not label:
        raise ValidationError("Give the sender a display name (people in Parley see it, customers do not).")
    if len(label) > MAX_LABEL:
        raise ValidationError(f"A display name can be at most {MAX_LABEL} characters.")
    try:
        rate = float(form.rate_per_second)
    except (TypeError, ValueError):
        raise ValidationError("The rate limit is a number of messages per second.") from None
    if not MIN_RATE <= rate <= MAX_RATE:
        raise ValidationError(f"The rate limit is between {MIN_RATE:g} and {MAX_RATE:g} messages per second.")
    kind = form.registration_kind
    if kind not in senders.KINDS:
        raise ValidationError("Choose the registration the number needs.")
    if form.channel == "whatsapp" and kind != "whatsapp":
        raise ValidationError("A WhatsApp sender's registration is its WhatsApp number approval.")
    if form.channel == "sms" and kind == "whatsapp":
        raise ValidationError("An SMS sender's registration is 10DLC, toll-free verification, or none outside the US.")
    if kind == "none" and senders.is_us_number(phone) and form.channel == "sms":
        raise ValidationError("US numbers need 10DLC registration or toll-free verification; choose which.")
    brand = campaign = status = None
    if kind == "10dlc":
        brand, campaign = form.brand_status or "not_started", form.campaign_status or "not_started"
        if brand not in senders.TEN_DLC_STATES or campaign not in senders.TEN_DLC_STATES:
            raise ValidationError("Choose the 10DLC brand and campaign statuses.")
    elif kind == "toll_free":
        status = form.registration_status or "unregistered"
        if status not in senders.TOLL_FREE_STATES:
            raise ValidationError("Choose the toll-free verification status.")
    elif kind == "whatsapp":
        status = form.registration_status or "unregistered"
        if status not in senders.WHATSAPP_STATES:
            raise ValidationError("Choose the WhatsApp number's approval status.")
    ref = (form.provider_ref or "").strip() or None
    if form.provider == "whatsapp_cloud" and form.channel != "whatsapp":
        raise ValidationError("The WhatsApp Cloud API sends WhatsApp only; choose Twilio or the simulator for SMS.")
    return {
        "phone": phone,
        "channel": form.channel,
        "provider": form.provider,
        "label": label,
        "provider_ref": ref,
        "rate_per_second": rate,
        "enabled": bool(form.enabled),
        "registration_kind": kind,
        "brand_status": brand,
        "campaign_status": campaign,
        "registration_status": senders.overall_status(kind, brand, campaign, status),
    }


def _clash(tx: Transaction, row: dict[str, Any], sender_id: int | None) -> None:
    if tx.scalar(
        "SELECT count(*) FROM senders WHERE phone = ? AND channel = ? AND id <> ?",
        [row["phone"], row["channel"], sender_id or 0],
    ):
        raise Conflict(f"{phones.format_phone_display(row['phone'])} is already a {row['channel']} sender.")
    if row["provider_ref"] and tx.scalar(
        "SELECT count(*) FROM senders WHERE provider_ref = ? AND id <> ?", [row["provider_ref"], sender_id or 0]
    ):
        raise Conflict(f"Another sender already uses the provider reference {row['provider_ref']}.")


def do_create_sender(db: Database, actor: User, form: SenderForm) -> int:
    row = check_sender(db, actor, form)

    def write(tx: Transaction) -> int:
        permissions.recheck_actor(tx, actor, ("admin",), "manage sender numbers")
        _clash(tx, row, None)
        now = clock.utcnow()
        sender_id = tx.next_id("seq_senders")
        columns = ", ".join(row)
        tx.execute(
            f"INSERT INTO senders (id, {columns}, created_at, updated_at) VALUES (?, {', '.join('?' * len(row))}, ?, ?)",
            [sender_id, *row.values(), now, now],
        )
        senders.refresh_send_blocked(tx)
        audit.record(tx, actor.id, "sender.created", "sender", sender_id, **row)
        tx.publish(events.SENDER_CHANGED, sender_id=sender_id, actor_id=actor.id, change="created")
        return sender_id

    return db.write(write)


def do_update_sender(
    db: Database, actor: User, sender_id: Any, form: SenderForm, *, expected: dict[str, Any] | None = None
) -> bool:
    """Save an edit; returns whether anything changed.

    ``expected`` (the sender as the form was filled from it) refuses to overwrite someone else's
    newer save without them knowing: the form holds every field, so a stale one would put back what
    they changed (a 10DLC campaign they recorded as suspended would read approved, and send again).
    """
    sender_id = _sender_id(sender_id)
    row = check_sender(db, actor, form)

    def write(tx: Transaction) -> bool:
        permissions.recheck_actor(tx, actor, ("admin",), "manage sender numbers")
        old = tx.dicts(f"SELECT {', '.join(row)} FROM senders WHERE id = ?", [sender_id])
        if not old:
            raise NotFound("That sender does not exist.")
        if expected is not None and any(expected.get(k) != old[0][k] for k in row):
            raise Conflict(
                f"Someone else saved {old[0]['label']} while you were editing; nothing was changed. "
                "Their version is shown now: make your change again and save."
            )
        changed = {k: v for k, v in row.items() if old[0][k] != v}
        if not changed:
            return False
        if ("phone" in changed or "channel" in changed) and _has_history(tx, sender_id):
            raise ValidationError(
                f"{old[0]['label']} has messages, so its number and channel stay (its conversations were "
                "on them, and replies still arrive there); add the new number as a new sender."
            )
        _clash(tx, row, sender_id)
        tx.execute(
            f"UPDATE senders SET {', '.join(f'{c} = ?' for c in row)}, updated_at = ? WHERE id = ?",
            [*row.values(), clock.utcnow(), sender_id],
        )
        senders.refresh_send_blocked(tx)
        audit.record(tx, actor.id, "sender.updated", "sender", sender_id, **changed)
        tx.publish(events.SENDER_CHANGED, sender_id=sender_id, actor_id=actor.id, change="updated")
        return True

    return db.write(write)


def _has_history(tx: Transaction, sender_id: int) -> bool:
    return bool(
        tx.scalar(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE sender_id = ?) "
            "OR EXISTS (SELECT 1 FROM conversations WHERE sender_id = ?)",
            [sender_id, sender_id],
        )
    )


def do_set_unregistered_rule(db: Database, actor: User, rule: str) -> None:
    """Whether unregistered US senders may send ('warn') or not ('block')."""
    permissions.require_admin(actor, "change how unregistered senders are treated")
    if rule not in senders.RULES:
        raise ValidationError("Choose whether unregistered senders may send.")

    def write(tx: Transaction) -> None:
        permissions.recheck_actor(tx, actor, ("admin",), "change how unregistered senders are treated")
        before = senders.rule(tx)
        if before == rule:
            return
        settings.put(tx, senders.RULE_KEY, rule)
        senders.refresh_send_blocked(tx)
        audit.record(
            tx, actor.id, "settings.changed", "settings", None, key=senders.RULE_KEY, before=before, after=rule
        )
        tx.publish(events.SETTINGS_CHANGED, key=senders.RULE_KEY, actor_id=actor.id)
        tx.publish(events.SENDER_CHANGED, actor_id=actor.id, change="rule")

    db.write(write)


def _sender_id(value: Any) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise NotFound("That sender does not exist.") from None
