"""Meta's WhatsApp Cloud API (spec section 2).

send() makes one Graph call to ``/{version}/{phone-number-id}/messages``;
webhooks are JSON envelopes signed with ``X-Hub-Signature-256`` (HMAC-SHA256
of the raw body with the App Secret); the callback URL is verified once with
a GET handshake (``verify_handshake``); both are checked and read in
``core.providers.whatsapp_cloud_webhooks``. Media is downloaded in two steps with
the same bearer token, only from Meta's media hosts, then checked against its
sha256.

A signed payload is parsed item by item: each message or status that cannot
be read is kept as a ``RejectedItem`` with its reason while the others are
applied (Meta never resends a payload it got a 4xx for). Each send carries
``biz_opaque_callback_data`` = ``parley:<message id>``, which Meta echoes in
that message's status callbacks: the only way to settle a send whose answer
never came, since the Cloud API cannot list sent messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

import requests

from core.providers import http, whatsapp_cloud_webhooks
from core.providers.base import (
    SENDING,
    InboundMedia,
    OutboundMessage,
    ProviderError,
    SendResult,
    SentCandidate,
    TemplateParameter,
    TemplateRef,
    WebhookBatch,
    WebhookRequest,
)
from core.providers.whatsapp_cloud_webhooks import CLIENT_REF_PREFIX

NO_CAPTION = ("audio", "sticker")
# Throughput (130429), pair rate (131056) and app/account rate limits (4, 80007) pass with time.
RETRYABLE_CODES = frozenset({"130429", "131056", "4", "80007"})
PAIR_RATE_WAIT = 6.0  # ~1 message per 6 s to one user
# Where media downloads may come from (the URL in the media answer); the configured Graph base
# URL's origin is always allowed as well.
MEDIA_HOSTS = ("https://*.fbsbx.com", "https://*.whatsapp.net", "https://*.facebook.com")


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
        timeout=(http.CONNECT_TIMEOUT, 15.0),
        *,
        session: requests.Session | None = None,
        media_hosts: tuple[str, ...] | str | None = None,
        media_max_bytes: int = http.MAX_MEDIA_BYTES,
        media_seconds: float = http.MEDIA_SECONDS,
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
        if isinstance(media_hosts, str):
            media_hosts = tuple(h.strip() for h in media_hosts.split(",") if h.strip())
        self.media_hosts = (http.origin(self.base_url), *(media_hosts or MEDIA_HOSTS))
        self.media_max_bytes = int(media_max_bytes)
        self.media_seconds = float(media_seconds)

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def _url(self, *path: str) -> str:
        return "/".join([self.base_url, self.api_version, *path])

    # ---- sending ------------------------------------------------------------------------------

    def build_payload(self, msg: OutboundMessage) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": msg.to_number,
            "biz_opaque_callback_data": f"{CLIENT_REF_PREFIX}{msg.message_id}",  # echoed in its status callbacks
        }
        if msg.template is not None:
            template: dict[str, Any] = {"name": msg.template.name, "language": {"code": msg.template.language}}
            components = template_components(msg.template)
            if components:
                template["components"] = components
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
                outcome_unknown=True,
                http_status=response.status_code,
            ) from exc
        return SendResult(provider_message_id=str(wamid), status=SENDING)

    def lookup_sent(self, msg: OutboundMessage, since) -> list[SentCandidate] | None:
        """The Cloud API cannot list sent messages: only the echoed ``biz_opaque_callback_data``
        of a status callback can tell whether a send whose answer never came went out."""
        return None

    # ---- webhooks -----------------------------------------------------------------------------

    def verify_handshake(self, query: dict[str, str]) -> str | None:
        """The challenge to echo when Meta verifies the callback URL, else None (answer 403)."""
        return whatsapp_cloud_webhooks.verify_handshake(self.verify_token, query)

    def verify_webhook(self, req: WebhookRequest) -> bool:
        return whatsapp_cloud_webhooks.verify_webhook(self.app_secret, req)

    def parse_webhook(self, req: WebhookRequest) -> WebhookBatch:
        return whatsapp_cloud_webhooks.parse_webhook(req)

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
        data = http.fetch_allowed(
            self.session,
            str(url),
            provider="WhatsApp",
            allowed=self.media_hosts,
            auth_for=lambda _url: {"headers": self._auth},
            timeout=self.timeout,
            read_error=_read_error,
            limit=self.media_max_bytes,
            seconds=self.media_seconds,
        )
        for expected in {info.get("sha256"), media.sha256} - {None, ""}:
            if not sha256_matches(data, str(expected)):
                raise ProviderError("Media checksum did not match", retryable=False)
        return data


def _parameter(p: TemplateParameter, named: bool) -> dict[str, Any]:
    if p.kind == "payload":
        return {"type": "payload", "payload": p.value}
    if p.kind in ("image", "video", "document"):
        return {"type": p.kind, p.kind: {"link": p.value}}
    item: dict[str, Any] = {"type": "text", "text": p.value}
    if named and p.name and p.component != "button":  # URL-button suffixes are positional in both formats
        item["parameter_name"] = p.name
    return item


def template_components(template: TemplateRef) -> list[dict[str, Any]]:
    """The send-time ``components`` Meta expects: one header and one body entry holding their
    parameters, then one entry per button that takes a value (``sub_type`` and ``index``)."""
    components: list[dict[str, Any]] = []
    for part in ("header", "body"):
        params = [_parameter(p, template.named) for p in template.parameters if p.component == part]
        if params:
            components.append({"type": part, "parameters": params})
    buttons: dict[int, dict[str, Any]] = {}
    for p in template.parameters:
        if p.component != "button":
            continue
        entry = buttons.setdefault(
            p.index or 0, {"type": "button", "sub_type": p.sub_type, "index": str(p.index or 0), "parameters": []}
        )
        entry["parameters"].append(_parameter(p, template.named))
    components += [buttons[i] for i in sorted(buttons)]
    return components


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
