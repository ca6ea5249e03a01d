"""What Twilio calls Parley with: webhooks, their ``X-Twilio-Signature``, its status words.

Webhooks are form posts signed with ``X-Twilio-Signature`` (HMAC-SHA1 of the URL plus sorted
parameters, keyed with the Auth Token). ``TwilioProvider.verify_webhook`` and
``parse_webhook`` (``core.providers.twilio``) are these functions; they are separate from the
sending side because they share nothing with it but Twilio's vocabulary (``STATUS_MAP``,
``CLIENT_REF``, ``MAX_MEDIA``), which lives here and which the sending side imports.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
from urllib.parse import parse_qs, parse_qsl, urlsplit, urlunsplit

from core.providers import http
from core.providers.base import (
    DELIVERED,
    FAILED,
    QUEUED,
    READ,
    SENDING,
    SENT,
    UNDELIVERED,
    InboundEvent,
    InboundMedia,
    MalformedWebhook,
    StatusEvent,
    WebhookBatch,
    WebhookRequest,
)

log = logging.getLogger("parley.providers.twilio")

# Twilio's message status -> Parley's vocabulary (DESIGN.md rule 9).
STATUS_MAP = {
    "accepted": SENDING,
    "scheduled": SENDING,
    "queued": SENDING,
    "sending": SENDING,
    "sent": SENT,
    "partially_delivered": SENT,
    "delivered": DELIVERED,
    "read": READ,
    "undelivered": UNDELIVERED,
    "failed": FAILED,
    "canceled": FAILED,
}
INBOUND_STATUSES = {"receiving", "received"}
MAX_MEDIA = 10
MAX_FIELDS = 200  # an inbound webhook has ~40 fields, plus two per attachment (at most 10)
CLIENT_REF = "parley_msg"  # the StatusCallback query parameter carrying Parley's message id


def verify_webhook(auth_token: str | None, req: WebhookRequest) -> bool:
    """Whether ``X-Twilio-Signature`` signs this request with ``auth_token`` (no token: never)."""
    signature = req.headers.get("x-twilio-signature", "")
    if not signature or not auth_token:
        return False
    query = parse_qs(urlsplit(req.url).query, keep_blank_values=True)
    if "bodySHA256" in query:  # JSON body: the URL carries the body's hash, params are empty
        expected_hash = hashlib.sha256(req.body).hexdigest()
        if not http.same_secret_text(expected_hash, query["bodySHA256"][0].lower()):
            return False
        params: list[tuple[str, str]] = []
    elif req.method.upper() == "POST":
        try:
            params = parse_qsl(req.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return False
    else:
        params = []
    ok = False
    signed_params = _signed_params(params)  # the same after every variant of the URL: sorted once
    for url in url_variants(req.url):  # evaluate all: no early exit
        ok |= http.same_secret_text(_sign(auth_token, url + signed_params), signature.strip())
    return ok


def parse_webhook(req: WebhookRequest) -> WebhookBatch:
    """A status callback or an incoming message, from Twilio's form body."""
    try:
        pairs = parse_qsl(
            req.body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=bool(req.body),
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedWebhook(f"Twilio webhook is not a form body: {str(exc)[:200]}") from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    sid = form.get("MessageSid") or form.get("SmsSid") or form.get("SmsMessageSid")
    status = (form.get("MessageStatus") or "").strip().lower()
    if not sid:
        raise MalformedWebhook("Twilio webhook has no MessageSid.")
    at = req.received_at or http.utcnow()
    if status and status not in INBOUND_STATUSES:
        ref = parse_qs(urlsplit(req.url).query).get(CLIENT_REF, [None])[0]
        return _status(sid, status, form, at, ref)
    if "From" in form and ("Body" in form or "NumMedia" in form):
        return WebhookBatch(inbound=[_inbound(sid, form, at)])
    raise MalformedWebhook("Twilio webhook is neither an incoming message nor a status callback.")


def _status(sid: str, status: str, form: dict[str, str], at: dt.datetime, ref: str | None) -> WebhookBatch:
    mapped = STATUS_MAP.get(status)
    if mapped is None or mapped == QUEUED:
        log.info("ignoring Twilio status %r for %s", status, sid)
        return WebhookBatch()
    code = (form.get("ErrorCode") or "").strip() or None
    message = (form.get("ErrorMessage") or "").strip() or None
    if status == "canceled" and not message:
        message = "The scheduled message was canceled."
    return WebhookBatch(statuses=[StatusEvent(sid, mapped, at, code, message, client_ref=ref)])


def _inbound(sid: str, form: dict[str, str], at: dt.datetime) -> InboundEvent:
    raw_from = form.get("From", "")
    sender = http.e164(raw_from)
    if sender is None:
        raise MalformedWebhook(f"Twilio webhook has an unreadable From number: {raw_from[:40]!r}")
    channel = "whatsapp" if raw_from.strip().lower().startswith("whatsapp:") else "sms"
    try:
        count = int(form.get("NumMedia") or 0)
    except ValueError as exc:
        raise MalformedWebhook("Twilio webhook has a non-numeric NumMedia.") from exc
    media = []
    for n in range(max(0, min(count, MAX_MEDIA))):
        url = form.get(f"MediaUrl{n}")
        if url:
            media.append(
                InboundMedia(content_type=form.get(f"MediaContentType{n}") or "application/octet-stream", url=url)
            )
    return InboundEvent(
        provider_message_id=sid,
        channel=channel,
        from_number=sender,
        to_number=http.e164(form.get("To")),
        to_ref=None,
        body=form.get("Body", ""),
        received_at=at,  # Twilio sends no time of its own: when Parley received it
        media=tuple(media),
        profile_name=(form.get("ProfileName") or None),
        reply_to=(form.get("OriginalRepliedMessageSid") or None),
    )


# ---- X-Twilio-Signature -------------------------------------------------------------------------


def compute_signature(auth_token: str, url: str, params: list[tuple[str, str]] | dict[str, str]) -> str:
    """base64(HMAC-SHA1(AuthToken, url + name1 + value1 + ...)): names sorted; a repeated name's
    distinct values sorted (as Twilio's own validators do)."""
    return _sign(auth_token, url + _signed_params(params))


def _signed_params(params: list[tuple[str, str]] | dict[str, str]) -> str:
    """What follows the URL in the signed text: names sorted, each name's distinct values sorted."""
    items = list(params.items()) if isinstance(params, dict) else list(params)
    by_name: dict[str, list[str]] = {}
    for name, value in items:
        by_name.setdefault(name, []).append(value)
    return "".join(name + value for name in sorted(by_name) for value in sorted(set(by_name[name])))


def _sign(auth_token: str, text: str) -> str:
    digest = hmac.new(auth_token.encode("utf-8"), text.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def url_variants(url: str) -> list[str]:
    """The URL as called, with the scheme's default port added, and with the port removed.

    Twilio's own validator accepts either form because Twilio signs inconsistently.
    """
    parts = urlsplit(url)
    variants = [url]
    try:
        port = parts.port
    except ValueError:
        return variants
    host_part = parts.netloc
    if port is not None:
        host_part = host_part[: host_part.rfind(":")]
        variants.append(urlunsplit(parts._replace(netloc=host_part)))
    else:
        default = 443 if parts.scheme == "https" else 80
        variants.append(urlunsplit(parts._replace(netloc=f"{host_part}:{default}")))
    return variants
