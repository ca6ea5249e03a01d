"""Provider setup (admins): which credentials are present, where webhooks go, a test message.

Secrets are never shown, not even in part: a setting is only *set* or
*missing*. Identifiers (an Account SID, a phone-number id) are shown with
all but their last four characters hidden, enough to tell two accounts
apart. The webhook URLs are the exact addresses to paste into each
provider's console, built from ``PARLEY_PUBLIC_URL``.

``do_send_test_message`` sends one message through a sender *now*, past the
outbox (an admin checking a set-up wants the provider's own answer, not a
queue), and reports what the provider answered. The rules still hold: not to
an opted-out number, not from a disabled or blocked sender, and not outside
business hours or the recipient's quiet hours (rule 3): a test is refused
then, with the time it could go, rather than queued, since what the admin
wants is the provider's answer now. A message the
provider accepted is recorded like any other outgoing one (so its status
callbacks, and a reply, land where they should); a refusal is recorded in
the audit log with the provider's code and words.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from core import audit, clock, events, permissions, phones, settings
from core.actions import composing
from core.actions.outbound import touch_conversation
from core.auth import User
from core.compliance import hours as hours_rules
from core.db import Database, Transaction
from core.errors import NotFound, ParleyError, SendingBlocked, ValidationError
from core.providers import registry
from core.providers.base import OutboundMessage, ProviderError

SECRET_SETTINGS = {"auth_token", "api_key_secret", "access_token", "app_secret", "verify_token"}
LABELS = {
    "account_sid": "Account SID",
    "auth_token": "Auth Token",
    "api_key_sid": "API key SID",
    "api_key_secret": "API key secret",
    "messaging_service_sid": "Messaging Service SID",
    "base_url": "API base URL",
    "access_token": "Access token",
    "app_secret": "App secret",
    "verify_token": "Webhook verify token",
    "phone_number_id": "Phone number id",
    "api_version": "Graph API version",
}
NAMES = {"twilio": "Twilio", "whatsapp_cloud": "WhatsApp Cloud API", "simulator": "Built-in simulator"}
WEBHOOK_PATHS = {"twilio": "/webhooks/twilio", "whatsapp_cloud": "/webhooks/whatsapp"}
MAX_TEST_TEXT = 320


@dataclass(frozen=True)
class Credential:
    setting: str
    label: str
    env: str
    present: bool
    shown: str  # 'set', 'missing', or an identifier with all but its end hidden


@dataclass(frozen=True)
class ProviderStatus:
    name: str
    title: str
    ready: bool
    problem: str | None  # the sentence the registry gives when it cannot be built
    credentials: list[Credential]
    webhook_url: str | None
    senders: int


def mask(value: str) -> str:
    value = str(value)
    return "•" * max(4, len(value) - 4) + value[-4:] if len(value) > 4 else "••••"


def overview(
    db: Database,
    viewer: User,
    *,
    public_url: str | None,
    local_url: str,
    env: dict[str, str] | None = None,
    secrets: dict[str, Any] | None = None,
) -> list[ProviderStatus]:
    permissions.require_admin(viewer, "see the provider set-up")
    env = dict(os.environ if env is None else env)
    counts = dict(db.fetchall("SELECT provider, count(*) FROM senders GROUP BY provider"))
    found = []
    for name in ("twilio", "whatsapp_cloud"):
        settings = registry.provider_settings_from_env(name, env, secrets)
        credentials = []
        for setting, (env_name, *_keys) in registry.ENV_KEYS[name][1].items():
            value = settings.get(setting)
            if value is None:
                shown = "missing"
            elif setting in SECRET_SETTINGS:
                shown = "set"
            elif setting in ("base_url", "api_version"):
                shown = str(value)
            else:
                shown = mask(value)
            credentials.append(Credential(setting, LABELS.get(setting, setting), env_name, value is not None, shown))
        try:
            registry.build_provider(name, settings)
            ready, problem = True, None
        except (ParleyError, ValueError) as exc:
            ready, problem = False, str(exc)
        base = (public_url or local_url).rstrip("/")
        found.append(
            ProviderStatus(
                name=name,
                title=NAMES[name],
                ready=ready,
                problem=problem,
                credentials=credentials,
                webhook_url=base + WEBHOOK_PATHS[name],
                senders=counts.get(name, 0),
            )
        )
    return found


def provider_problem(
    name: str, *, env: dict[str, str] | None = None, secrets: dict[str, Any] | None = None
) -> str | None:
    """Why messages cannot go through provider ``name`` (its sentence), or None when it can be built."""
    if name == "simulator":
        return None  # built in: configured by Parley itself
    if secrets is None:
        from core.engine import streamlit_secrets

        secrets = streamlit_secrets()
    settings = registry.provider_settings_from_env(name, dict(os.environ if env is None else env), secrets)
    try:
        registry.build_provider(name, settings)
    except (ParleyError, ValueError) as exc:
        return str(exc)
    return None


def check_test_message(db: Database, actor: User, sender_id: Any, to: str, text: str) -> tuple[dict, str, str]:
    permissions.require_admin(actor, "send test messages")
    # The role as stored, before any other check: an admin demoted or disabled since the page drew
    # is told that, not why the test could not go now (outside business hours, say). The write
    # that claims the message id checks it again (``_claim_message_id``).
    permissions.recheck_actor(db, actor, ("admin",), "send test messages")
    try:
        sender_id = int(sender_id)
    except (TypeError, ValueError):
        raise NotFound("Choose the sender to test.") from None
    rows = db.dicts(
        "SELECT id, phone, channel, provider, provider_ref, label, enabled, send_blocked FROM senders WHERE id = ?",
        [sender_id],
    )
    if not rows:
        raise NotFound("Choose the sender to test.")
    sender = rows[0]
    number = phones.parse_phone(to)
    body = " ".join((text or "").split())
    if not body:
        raise ValidationError("Write the test message.")
    if len(body) > MAX_TEST_TEXT:
        raise ValidationError(f"Keep a test message to {MAX_TEST_TEXT} characters.")
    _check_sender(sender)
    problem = provider_problem(sender["provider"])
    if problem:
        raise SendingBlocked(problem)
    _check_recipient(db, number)
    return sender, number, body


def _check_sender(sender: dict[str, Any]) -> None:
    if not sender["enabled"]:
        raise SendingBlocked(f"{sender['label']} is disabled; enable it before testing it.")
    if sender["send_blocked"]:
        raise SendingBlocked(f"{sender['label']} may not send: {sender['send_blocked']}.")


def _check_recipient(db_or_tx: Any, number: str) -> None:
    """Rule 2 and rule 3 for one number, on the database or inside the write (``scalar``/``fetchone`` on both)."""
    row = db_or_tx.fetchone("SELECT opted_out, timezone FROM contacts WHERE phone = ?", [number])
    opted_out, timezone = row if row is not None else (False, None)
    if opted_out:
        raise SendingBlocked(f"{phones.format_phone_display(number)} has opted out; Parley sends it nothing.")
    business = settings.business_hours_from_json(settings.get_tx(db_or_tx, "business_hours"))
    quiet = settings.quiet_hours_from_json(settings.get_tx(db_or_tx, "quiet_hours"))
    now = clock.utcnow()
    try:
        when, why = composing.release_time_within(
            {"contact_phone": number, "contact_timezone": timezone}, now, business, quiet
        )
    except ValidationError as exc:  # hours never open: the same sentence the composer gives
        raise SendingBlocked(str(exc)) from None
    if why is not None:
        raise SendingBlocked(
            f"Parley sends nothing now ({why}), test messages included: "
            f"try again after {hours_rules.format_local(when, business.timezone, now)}."
        )


@dataclass(frozen=True)
class TestOutcome:
    ok: bool
    sentence: str  # what the provider answered, for the page
    provider_message_id: str | None = None
    status: str | None = None
    code: str | None = None


def do_send_test_message(
    db: Database, actor: User, sender_id: Any, to: str, text: str, provider_for: Any, *, status_callback_url: Any = None
) -> TestOutcome:
    """Send now through ``provider_for(sender)`` and say what the provider answered."""
    sender, number, body = check_test_message(db, actor, sender_id, to, text)
    # The role and the rules again, in a write, before anything reaches the provider: an admin demoted
    # or disabled since the page drew, a STOP or a disabled sender since the check, sends nothing.
    message_id = db.write(_claim_message_id, actor, sender["id"], number)
    try:
        provider = provider_for(sender)
    except ParleyError as exc:  # e.g. "Twilio is not configured: set ..."
        _audit_refusal(db, actor, sender, number, str(exc), None)
        return TestOutcome(False, str(exc))
    outbound = OutboundMessage(
        message_id=message_id,
        channel=sender["channel"],
        from_number=sender["phone"],
        to_number=number,
        body=body,
        sender_ref=sender["provider_ref"],
        status_callback_url=status_callback_url(sender["provider"]) if status_callback_url else None,
    )
    try:
        result = provider.send(outbound)
    except ProviderError as exc:
        _audit_refusal(db, actor, sender, number, exc.message, exc.code)
        code = f" (error {exc.code})" if exc.code else ""
        return TestOutcome(
            False, f"{NAMES.get(sender['provider'], sender['provider'])} refused it{code}: {exc.message}", code=exc.code
        )
    db.write(_record_sent, message_id, actor, sender, number, body, result.provider_message_id, result.status)
    return TestOutcome(
        True,
        f"{NAMES.get(sender['provider'], sender['provider'])} accepted it: message id {result.provider_message_id}, "
        f"status “{result.status}”.",
        provider_message_id=result.provider_message_id,
        status=result.status,
    )


def _claim_message_id(tx: Transaction, actor: User, sender_id: int, number: str) -> int:
    permissions.recheck_actor(tx, actor, ("admin",), "send test messages")
    row = tx.fetchone("SELECT label, enabled, send_blocked FROM senders WHERE id = ?", [sender_id])
    if row is None:
        raise NotFound("Choose the sender to test.")
    _check_sender(dict(zip(("label", "enabled", "send_blocked"), row)))
    _check_recipient(tx, number)
    return tx.next_id("seq_messages")


def _audit_refusal(db: Database, actor: User, sender: dict, number: str, answer: str, code: str | None) -> None:
    db.write(
        lambda tx: audit.record(
            tx, actor.id, "sender.test_failed", "sender", sender["id"], to=number, code=code, answer=answer[:500]
        )
    )


def _record_sent(
    tx: Transaction, message_id: int, actor: User, sender: dict, number: str, body: str, provider_id: str, status: str
) -> None:
    now = clock.utcnow()
    contact = tx.fetchone("SELECT id FROM contacts WHERE phone = ?", [number])
    if contact is None:
        contact_id = tx.next_id("seq_contacts")
        tx.execute(
            "INSERT INTO contacts (id, phone, created_at, updated_at, phone_digits) VALUES (?, ?, ?, ?, ?)",
            [contact_id, number, now, now, number.lstrip("+")],
        )
        tx.publish(events.CONTACT_CREATED, contact_id=contact_id, actor_id=actor.id, source="test_message")
    else:
        contact_id = contact[0]
    conversation_id = tx.scalar(
        "SELECT id FROM conversations WHERE contact_id = ? AND sender_id = ?", [contact_id, sender["id"]]
    )
    tx.execute(
        """INSERT INTO messages (id, conversation_id, contact_id, sender_id, direction, author_id, body, status,
               provider_message_id, created_at, status_at) VALUES (?, ?, ?, ?, 'out', ?, ?, ?, ?, ?, ?)""",
        [message_id, conversation_id, contact_id, sender["id"], actor.id, body, status, provider_id, now, now],
    )
    if conversation_id is not None:
        touch_conversation(tx, conversation_id, now, body, "out")
    audit.record(
        tx, actor.id, "sender.tested", "sender", sender["id"], to=number, provider_message_id=provider_id, status=status
    )
    tx.publish(
        events.MESSAGE_SENT,
        message_id=message_id,
        conversation_id=conversation_id,
        channel=sender["channel"],
        sender_id=sender["id"],
        status=status,
        test=True,
    )
