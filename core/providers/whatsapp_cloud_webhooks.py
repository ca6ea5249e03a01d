"""What Meta's WhatsApp Cloud API calls Parley with: the callback handshake, signed webhooks.

The callback URL is verified once with a GET handshake (``verify_handshake``); webhooks are
JSON envelopes signed with ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with the
App Secret). A signed payload is parsed item by item: each message or status that cannot be
read is kept as a ``RejectedItem`` with its reason while the others are applied. The
``WhatsAppCloudProvider`` methods of the same names (``core.providers.whatsapp_cloud``) are
these functions; separate from the sending side, which imports ``CLIENT_REF_PREFIX`` from here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from core.providers import http
from core.providers.base import (
    DELIVERED,
    FAILED,
    READ,
    SENT,
    InboundEvent,
    InboundMedia,
    MalformedWebhook,
    RejectedItem,
    StatusEvent,
    WebhookBatch,
    WebhookRequest,
    inbound_media,
)
from core.unicode_text import loads_json

log = logging.getLogger("parley.providers.whatsapp")

STATUS_MAP = {"sent": SENT, "delivered": DELIVERED, "read": READ, "played": READ, "failed": FAILED}
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
CLIENT_REF_PREFIX = "parley:"


def verify_handshake(verify_token: str, query: dict[str, str]) -> str | None:
    """The challenge to echo when Meta verifies the callback URL, else None (answer 403)."""
    mode = query.get("hub.mode")
    token = query.get("hub.verify_token") or ""
    challenge = query.get("hub.challenge")
    token_ok = hmac.compare_digest(token.encode("utf-8"), verify_token.encode("utf-8"))
    if mode == "subscribe" and token_ok and challenge is not None:
        return challenge
    return None


def verify_webhook(app_secret: bytes, req: WebhookRequest) -> bool:
    """Whether ``X-Hub-Signature-256`` is the HMAC-SHA256 of the raw body with ``app_secret``."""
    header = req.headers.get("x-hub-signature-256", "").strip()
    if not header.lower().startswith("sha256="):
        return False
    expected = hmac.new(app_secret, req.body, hashlib.sha256).hexdigest()
    return http.same_secret_text(expected, header[7:].strip().lower())


def parse_webhook(req: WebhookRequest) -> WebhookBatch:
    """Every message and status of a signed payload; what cannot be read is a ``RejectedItem``."""
    try:
        data = loads_json(req.body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise MalformedWebhook(f"WhatsApp webhook is not readable JSON: {reason}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("entry"), list):
        raise MalformedWebhook("WhatsApp webhook has no entry list.")
    batch = WebhookBatch()
    at = req.received_at or http.utcnow()
    for entry in data["entry"]:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            batch.rejected.append(_reject("an entry without a list of changes", entry))
            continue
        for change in changes:
            if not isinstance(change, dict) or not isinstance(change.get("value", {}), dict):
                batch.rejected.append(_reject("a change without a value object", change))
                continue
            if change.get("field", "messages") != "messages":
                continue  # template status updates, account alerts...: nothing to apply
            _parse_value(change.get("value") or {}, batch, at)
    return batch


def _parse_value(value: dict[str, Any], batch: WebhookBatch, at) -> None:
    metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
    to_ref = str(metadata["phone_number_id"]) if metadata.get("phone_number_id") else None
    to_number = http.international_e164(_str(metadata.get("display_phone_number")))
    names = {}
    for c in value.get("contacts") or []:
        if isinstance(c, dict):
            profile = c.get("profile") if isinstance(c.get("profile"), dict) else {}
            names[str(c.get("wa_id"))] = _str(profile.get("name"))
    for m in _items(value.get("messages"), "messages", batch):
        try:
            batch.inbound.append(_message(m, to_ref, to_number, names, at))
        except (MalformedWebhook, AttributeError, TypeError, KeyError, ValueError) as exc:
            batch.rejected.append(_reject(_reason(exc, "message"), m))
    for s in _items(value.get("statuses"), "statuses", batch):
        try:
            event = _status(s, at)
        except (MalformedWebhook, AttributeError, TypeError, KeyError, ValueError) as exc:
            batch.rejected.append(_reject(_reason(exc, "status"), s))
            continue
        if event is not None:
            batch.statuses.append(event)


def _message(m: dict[str, Any], to_ref, to_number, names, at) -> InboundEvent:
    if not isinstance(m, dict):
        raise MalformedWebhook("A WhatsApp message that is not an object.")
    wamid, raw_from = m.get("id"), _str(m.get("from"))
    sender = http.international_e164(raw_from)  # always the country code, never a '+' (spec §2)
    if not wamid or sender is None:
        raise MalformedWebhook("WhatsApp message without id or a readable 'from' number.")
    kind = m.get("type") or "unknown"
    body, media = _message_content(kind, m)
    profile = names.get(str(raw_from))
    if profile is None and len(names) == 1:
        profile = next(iter(names.values()))
    reply_to = (m.get("context") or {}).get("id")
    if kind == "reaction":
        reply_to = (m.get("reaction") or {}).get("message_id") or reply_to
    return InboundEvent(
        provider_message_id=str(wamid),
        channel="whatsapp",
        from_number=sender,
        to_number=to_number,
        to_ref=to_ref,
        body=body,
        received_at=http.from_epoch(m.get("timestamp")) or at,
        media=media,
        profile_name=profile or None,
        reply_to=reply_to or None,
    )


def _status(s: dict[str, Any], at) -> StatusEvent | None:
    if not isinstance(s, dict):
        raise MalformedWebhook("A WhatsApp status that is not an object.")
    wamid, raw = s.get("id"), str(s.get("status") or "").lower()
    if not wamid or not raw:
        raise MalformedWebhook("WhatsApp status without id or status.")
    status = STATUS_MAP.get(raw)
    if status is None:
        log.info("ignoring WhatsApp status %r for %s", raw, wamid)
        return None
    code = message = None
    errors = s.get("errors") or []
    if errors:
        first = errors[0]
        code = str(first["code"]) if first.get("code") not in (None, "") else None
        message = first.get("message") or first.get("title")
        details = (first.get("error_data") or {}).get("details")
        if details and details != message:
            message = f"{message.rstrip('.')}: {details}" if message else details
    ref = _str(s.get("biz_opaque_callback_data")) or ""
    return StatusEvent(
        str(wamid),
        status,
        http.from_epoch(s.get("timestamp")) or at,
        code,
        message,
        client_ref=ref[len(CLIENT_REF_PREFIX) :] if ref.startswith(CLIENT_REF_PREFIX) else None,
    )


def _items(value: Any, name: str, batch: WebhookBatch) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        batch.rejected.append(_reject(f"'{name}' is not a list", value))
        return []
    return value


def _str(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def _reason(exc: Exception, what: str) -> str:
    if isinstance(exc, MalformedWebhook):
        return str(exc)
    return f"A WhatsApp {what} with an unexpected shape ({type(exc).__name__}: {str(exc)[:120]})."


def _reject(reason: str, item: Any) -> RejectedItem:
    try:
        text = json.dumps(item, ensure_ascii=False)[:4000]
    except (TypeError, ValueError, RecursionError):
        text = repr(item)[:4000]
    return RejectedItem(reason=reason, item=text)


def _message_content(kind: str, m: dict[str, Any]) -> tuple[str, tuple[InboundMedia, ...]]:
    """(body, media) for one inbound message; unknown types are kept with a note, never dropped."""
    part = m.get(kind) if isinstance(m.get(kind), dict) else {}
    if kind == "text":
        return str(part.get("body") or ""), ()
    if kind in MEDIA_TYPES:
        if not part.get("id"):
            raise MalformedWebhook(f"WhatsApp {kind} message without a media id.")
        item = inbound_media(
            part.get("mime_type"),
            media_id=str(part["id"]),
            sha256=part.get("sha256"),
            filename=part.get("filename"),
            caption=part.get("caption"),
        )
        return str(part.get("caption") or ""), (item,)
    if kind == "button":
        return str(part.get("text") or part.get("payload") or ""), ()
    if kind == "interactive":
        reply = part.get(part.get("type") or "") or part.get("button_reply") or part.get("list_reply") or {}
        return str(reply.get("title") or reply.get("description") or reply.get("id") or "[interactive reply]"), ()
    if kind == "location":
        label = ", ".join(str(part[k]) for k in ("name", "address") if part.get(k))
        where = f"{part.get('latitude')}, {part.get('longitude')}"
        return f"📍 {label} ({where})" if label else f"📍 {where}", ()
    if kind == "reaction":
        return str(part.get("emoji") or "[reaction removed]"), ()
    if kind == "contacts":
        people = [((c.get("name") or {}).get("formatted_name") or "contact") for c in m.get("contacts") or []]
        return "[shared contact: " + ", ".join(people or ["contact"]) + "]", ()
    return f"[unsupported message type: {kind}]", ()
