"""Meta's WhatsApp Cloud API (spec section 2).

send() makes one Graph call to ``/{version}/{phone-number-id}/messages``;
webhooks are JSON envelopes signed with ``X-Hub-Signature-256`` (HMAC-SHA256
of the raw body with the App Secret); the callback URL is verified once with
a GET handshake (``verify_handshake``). Media is downloaded in two steps with
the same bearer token, then checked against its sha256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
from typing import Any

import requests

from core.providers import http
from core.providers.base import (
    DELIVERED,
    FAILED,
    READ,
    SENDING,
    SENT,
    InboundEvent,
    InboundMedia,
    MalformedWebhook,
    OutboundMessage,
    ProviderError,
    SendResult,
    StatusEvent,
    WebhookBatch,
    WebhookRequest,
)
from core.unicode_text import loads_json

log = logging.getLogger("parley.providers.whatsapp")

STATUS_MAP = {"sent": SENT, "delivered": DELIVERED, "read": READ, "played": READ, "failed": FAILED}
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
NO_CAPTION = ("audio", "sticker")
# Throughput (130429), pair rate (131056) and app/account rate limits (4, 80007) pass with time.
RETRYABLE_CODES = frozenset({"130429", "131056", "4", "80007"})
PAIR_RATE_WAIT = 6.0  # ~1 message per 6 s to one user


def _read_error(response: requests.Response) -> tuple[str | None, str | None]:
    """The Graph envelope: {"error": {"message", "type", "code", "error_data": {"details"}, ...}}."""
    data = response.json()
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, None
    code = error.get("code")
    message = str(error.get("message") or "").strip()
    details = (error.get("error_data") or {}).get("details") if isinstance(error.get("error_data"), dict) else None
    if details and str(details) not in message:
        message = f"{message.rstrip('.')}: {details}" if message else str(details)
    return (str(code) if code not in (None, "") else None), (message or None)


def media_kind(content_type: str) -> str:
    try:
        from core.media_rules import media_kind as kind  # the project's rule: webp → sticker

        return kind(content_type)
    except ImportError:  # pragma: no cover
        major = (content_type or "").split("/", 1)[0].lower()
        return major if major in ("image", "video", "audio") else "document"


class WhatsAppCloudProvider:
    name = "whatsapp_cloud"

    def __init__(
        self,
        access_token: str,
        app_secret: str,
        verify_token: str,
        phone_number_id: str | None = None,
        base_url: str = "https://graph.facebook.com",
        api_version: str = "v21.0",
        timeout=(3.05, 15),
        *,
        session: requests.Session | None = None,
    ) -> None:
        if not access_token or not app_secret or not verify_token:
            raise ValueError("access_token, app_secret and verify_token are required")
        self.access_token = access_token
        self.app_secret = app_secret.encode("utf-8") if isinstance(app_secret, str) else app_secret
        self.verify_token = verify_token
        self.phone_number_id = str(phone_number_id) if phone_number_id else None
        self.base_url = base_url.rstrip("/")
        self.api_version = api_version.strip("/")
        self.timeout = timeout
        self.session = session or http.make_session()

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def _url(self, *path: str) -> str:
        return "/".join([self.base_url, self.api_version, *path])

    # ---- sending ------------------------------------------------------------------------------

    def build_payload(self, msg: OutboundMessage) -> dict[str, Any]:
        payload: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": msg.to_number}
        if msg.template is not None:
            template: dict[str, Any] = {"name": msg.template.name, "language": {"code": msg.template.language}}
            if msg.template.variables:
                template["components"] = [
                    {"type": "body", "parameters": [{"type": "text", "text": v} for v in msg.template.variables]}
                ]
            payload.update(type="template", template=template)
        elif msg.media:
            if len(msg.media) > 1:
                raise ProviderError(
                    "A WhatsApp message can carry one attachment; send the others in separate messages.",
                    retryable=False,
                )
            media = msg.media[0]
            kind = media_kind(media.content_type)
            obj: dict[str, Any] = {"link": media.url}
            if msg.body:
                if kind in NO_CAPTION:
                    raise ProviderError(
                        f"WhatsApp cannot add text to {'an audio file' if kind == 'audio' else 'a sticker'}; "
                        "send the text in a separate message.",
                        retryable=False,
                    )
                obj["caption"] = msg.body
            if kind == "document" and media.filename:
                obj["filename"] = media.filename
            payload.update(type=kind, **{kind: obj})
        elif msg.body:
            payload.update(
                type="text", text={"body": msg.body, "preview_url": "http://" in msg.body or "https://" in msg.body}
            )
        else:
            raise ProviderError("The message has no text, attachment or template.", retryable=False)
        return payload

    def send(self, msg: OutboundMessage) -> SendResult:
        phone_number_id = str(msg.sender_ref or self.phone_number_id or "")
        if not phone_number_id:
            raise ProviderError(
                "This WhatsApp sender has no phone number id: set it on the sender or PARLEY_WHATSAPP_PHONE_NUMBER_ID.",
                retryable=False,
            )
        payload = self.build_payload(msg)
        try:
            response = http.call(
                self.session,
                "POST",
                self._url(phone_number_id, "messages"),
                provider="WhatsApp",
                timeout=self.timeout,
                read_error=_read_error,
                retryable_codes=RETRYABLE_CODES,
                json=payload,
                headers=self._auth,
            )
        except ProviderError as exc:
            if exc.code == "131056" and exc.retry_after is None:
                exc.retry_after = PAIR_RATE_WAIT
            raise
        try:
            wamid = response.json()["messages"][0]["id"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ProviderError(
                "WhatsApp accepted the request but its answer could not be read.",
                retryable=False,
                http_status=response.status_code,
            ) from exc
        return SendResult(provider_message_id=str(wamid), status=SENDING)

    # ---- webhooks -----------------------------------------------------------------------------

    def verify_handshake(self, query: dict[str, str]) -> str | None:
        """The challenge to echo when Meta verifies the callback URL, else None (answer 403)."""
        mode = query.get("hub.mode")
        token = query.get("hub.verify_token") or ""
        challenge = query.get("hub.challenge")
        token_ok = hmac.compare_digest(token.encode("utf-8"), self.verify_token.encode("utf-8"))
        if mode == "subscribe" and token_ok and challenge is not None:
            return challenge
        return None

    def verify_webhook(self, req: WebhookRequest) -> bool:
        header = req.headers.get("x-hub-signature-256", "").strip()
        if not header.lower().startswith("sha256="):
            return False
        expected = hmac.new(self.app_secret, req.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, header[7:].strip().lower())

    def parse_webhook(self, req: WebhookRequest) -> WebhookBatch:
        try:
            data = loads_json(req.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedWebhook(f"WhatsApp webhook is not JSON: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("entry"), list):
            raise MalformedWebhook("WhatsApp webhook has no entry list.")
        batch = WebhookBatch()
        try:
            for entry in data["entry"]:
                for change in entry.get("changes") or []:
                    if change.get("field", "messages") != "messages":
                        continue  # template status updates, account alerts...: nothing to apply
                    self._parse_value(change.get("value") or {}, batch)
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            raise MalformedWebhook(f"WhatsApp webhook has an unexpected shape: {exc!r}") from exc
        return batch

    def _parse_value(self, value: dict[str, Any], batch: WebhookBatch) -> None:
        metadata = value.get("metadata") or {}
        to_ref = str(metadata["phone_number_id"]) if metadata.get("phone_number_id") else None
        to_number = http.e164(metadata.get("display_phone_number"))
        names = {str(c.get("wa_id")): (c.get("profile") or {}).get("name") for c in value.get("contacts") or []}
        for m in value.get("messages") or []:
            batch.inbound.append(self._message(m, to_ref, to_number, names))
        for s in value.get("statuses") or []:
            event = self._status(s)
            if event is not None:
                batch.statuses.append(event)

    def _message(self, m: dict[str, Any], to_ref, to_number, names) -> InboundEvent:
        wamid, raw_from = m.get("id"), m.get("from")
        sender = http.e164(raw_from)
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
            received_at=http.from_epoch(m.get("timestamp")) or http.utcnow(),
            media=media,
            profile_name=profile or None,
            reply_to=reply_to or None,
        )

    def _status(self, s: dict[str, Any]) -> StatusEvent | None:
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
        return StatusEvent(str(wamid), status, http.from_epoch(s.get("timestamp")) or http.utcnow(), code, message)

    # ---- media --------------------------------------------------------------------------------

    def fetch_media(self, media: InboundMedia) -> bytes:
        if not media.media_id:
            raise ProviderError("The attachment has no WhatsApp media id.", retryable=False)
        info_response = http.call(
            self.session,
            "GET",
            self._url(media.media_id),
            provider="WhatsApp",
            timeout=self.timeout,
            read_error=_read_error,
            headers=self._auth,
        )
        try:
            info = info_response.json()
            url = info["url"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ProviderError("WhatsApp's media answer could not be read.", retryable=True) from exc
        response = http.call(
            self.session,
            "GET",
            url,
            provider="WhatsApp",
            timeout=self.timeout,
            read_error=_read_error,
            headers=self._auth,
            stream=True,
        )
        data = http.read_limited(response, provider="WhatsApp")
        for expected in {info.get("sha256"), media.sha256} - {None, ""}:
            if not sha256_matches(data, str(expected)):
                raise ProviderError("Media checksum did not match", retryable=False)
        return data


def _message_content(kind: str, m: dict[str, Any]) -> tuple[str, tuple[InboundMedia, ...]]:
    """(body, media) for one inbound message; unknown types are kept with a note, never dropped."""
    part = m.get(kind) if isinstance(m.get(kind), dict) else {}
    if kind == "text":
        return str(part.get("body") or ""), ()
    if kind in MEDIA_TYPES:
        if not part.get("id"):
            raise MalformedWebhook(f"WhatsApp {kind} message without a media id.")
        item = InboundMedia(
            content_type=part.get("mime_type") or "application/octet-stream",
            media_id=str(part["id"]),
            sha256=part.get("sha256") or None,
            filename=part.get("filename") or None,
            caption=part.get("caption") or None,
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


def sha256_matches(data: bytes, expected: str) -> bool:
    """Compare with a sha256 given as hex or as base64 (Meta uses both)."""
    digest = hashlib.sha256(data).digest()
    text = expected.strip()
    if len(text) == 64:
        try:
            return hmac.compare_digest(bytes.fromhex(text), digest)
        except ValueError:
            pass
    try:
        decoded = base64.b64decode(
            text + "=" * (-len(text) % 4), altchars=b"-_" if ("-" in text or "_" in text) else None, validate=True
        )
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(decoded, digest)
