"""Twilio Programmable Messaging: SMS, MMS and WhatsApp (spec section 1).

send() makes one Create Message call; webhooks are form posts signed with
``X-Twilio-Signature`` (HMAC-SHA1 of the URL plus sorted parameters, keyed
with the Auth Token), checked and read in ``core.providers.twilio_webhooks``.

A send whose answer never came is found again two ways: ``lookup_sent``
lists the messages to that recipient from that sender (Twilio's *List
Messages*, filtered by ``To`` and ``From``, newest first), and each send's
``StatusCallback`` URL carries Parley's message id (``parley_msg``), which
Twilio's status callbacks echo back in the (signed) URL they call.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from core.providers import http, twilio_webhooks
from core.providers.base import (
    FAILED,
    SENDING,
    UNDELIVERED,
    InboundMedia,
    OutboundMessage,
    ProviderError,
    SendResult,
    SentCandidate,
    TemplateRef,
    WebhookBatch,
    WebhookRequest,
)
from core.providers.twilio_webhooks import CLIENT_REF, MAX_MEDIA, STATUS_MAP

log = logging.getLogger("parley.providers.twilio")

LOOKUP_PAGES = 5
LOOKUP_PAGE_SIZE = 50
LOOKUP_SKEW = dt.timedelta(minutes=2)  # Twilio's clock against ours
# Where inbound media may be fetched from: the API host, then the storage it redirects to.
# (The configured base URL's origin is always allowed: a test's loopback fake, a regional edge.)
MEDIA_HOSTS = (
    "https://api.twilio.com",
    "https://*.twilio.com",
    "https://*.twiliocdn.com",
    "https://s3-external-1.amazonaws.com",
)


def _read_error(response: requests.Response) -> tuple[str | None, str | None]:
    """Twilio's error body: {"code": 21610, "message": "...", "more_info": ..., "status": 400}."""
    data = response.json()
    if not isinstance(data, dict):
        return None, None
    code = data.get("code")
    return (str(code) if code not in (None, "") else None), (data.get("message") or None)


class TwilioProvider:
    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str | None,
        api_key_sid: str | None = None,
        api_key_secret: str | None = None,
        base_url: str = "https://api.twilio.com",
        messaging_service_sid: str | None = None,
        timeout=(http.CONNECT_TIMEOUT, 10.0),
        *,
        session: requests.Session | None = None,
        media_hosts: tuple[str, ...] | str | None = None,
        media_max_bytes: int = http.MAX_MEDIA_BYTES,
        media_seconds: float = http.MEDIA_SECONDS,
    ) -> None:
        if not account_sid:
            raise ValueError("account_sid is required")
        if not auth_token and not (api_key_sid and api_key_secret):
            raise ValueError("auth_token or api_key_sid + api_key_secret is required")
        self.account_sid = account_sid
        self.auth_token = auth_token or None
        self.auth = (api_key_sid, api_key_secret) if api_key_sid and api_key_secret else (account_sid, auth_token)
        self.base_url = base_url.rstrip("/")
        self.messaging_service_sid = messaging_service_sid or None
        self.timeout = timeout
        self.session = session or http.make_session()
        self._api_host = (urlsplit(self.base_url).hostname or "").lower()
        if isinstance(media_hosts, str):
            media_hosts = tuple(h.strip() for h in media_hosts.split(",") if h.strip())
        self.media_hosts = (http.origin(self.base_url), *(media_hosts or MEDIA_HOSTS))
        self.media_max_bytes = int(media_max_bytes)
        self.media_seconds = float(media_seconds)
        if not self.auth_token:
            log.warning("Twilio has no Auth Token: webhooks cannot be verified and will be refused")

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    # ---- sending ------------------------------------------------------------------------------

    def build_form(self, msg: OutboundMessage) -> list[tuple[str, str]]:
        """The form fields for one message (a list, so ``MediaUrl`` can repeat)."""

        def address(number: str) -> str:
            return f"whatsapp:{number}" if msg.channel == "whatsapp" else number

        form: list[tuple[str, str]] = [("To", address(msg.to_number))]
        if msg.from_number:
            form.append(("From", address(msg.from_number)))
        ref = msg.sender_ref if msg.sender_ref and msg.sender_ref.startswith("MG") else None
        service = ref or self.messaging_service_sid
        if service:
            form.append(("MessagingServiceSid", service))
        if msg.template is not None:
            form.append(("ContentSid", content_sid(msg.template)))
            variables = content_variables(msg.template)
            if variables:
                form.append(("ContentVariables", json.dumps(variables, ensure_ascii=False)))
        elif msg.body:
            form.append(("Body", msg.body))
        if len(msg.media) > MAX_MEDIA:
            raise ProviderError(f"Twilio accepts at most {MAX_MEDIA} attachments per message.", retryable=False)
        form.extend(("MediaUrl", m.url) for m in msg.media)
        if msg.status_callback_url:
            form.append(("StatusCallback", with_client_ref(msg.status_callback_url, msg.message_id)))
        return form

    def send(self, msg: OutboundMessage) -> SendResult:
        form = self.build_form(msg)
        response = http.call(
            self.session,
            "POST",
            self.messages_url,
            provider="Twilio",
            timeout=self.timeout,
            read_error=_read_error,
            # A gateway gave up waiting for the API, which may have created the message: look it up
            # (``lookup_sent``) rather than send it again (a blind retry of a 5xx on create risks a
            # duplicate). 500 and 503 are Twilio's own answers and are retried over the horizon.
            unknown_statuses=frozenset({502, 504}),
            data=form,
            auth=self.auth,
            headers={"Accept": "application/json"},
        )
        try:
            data = response.json()
            sid = data["sid"]
        except (ValueError, KeyError, TypeError) as exc:
            # It answered 2xx, so the message may exist: never retry blindly (duplicates).
            raise ProviderError(
                "Twilio accepted the request but its answer could not be read.",
                retryable=False,
                outcome_unknown=True,
                http_status=response.status_code,
            ) from exc
        status = STATUS_MAP.get(str(data.get("status") or "").lower(), SENDING)
        if status in (FAILED, UNDELIVERED):
            code = data.get("error_code")
            raise ProviderError(
                data.get("error_message") or f"Twilio reported the message {data.get('status')}.",
                retryable=False,
                code=str(code) if code else None,
                http_status=response.status_code,
            )
        return SendResult(provider_message_id=str(sid), status=status)

    def lookup_sent(self, msg: OutboundMessage, since: dt.datetime) -> list[SentCandidate]:
        """Twilio's List Messages for this recipient and sender, newest first, back to ``since``."""

        def address(number: str) -> str:
            return f"whatsapp:{number}" if msg.channel == "whatsapp" else number

        params: dict[str, str] | None = {"To": address(msg.to_number), "PageSize": str(LOOKUP_PAGE_SIZE)}
        if msg.from_number:
            params["From"] = address(msg.from_number)
        url, found = self.messages_url, []
        for _ in range(LOOKUP_PAGES):
            response = http.call(
                self.session,
                "GET",
                url,
                provider="Twilio",
                timeout=self.timeout,
                read_error=_read_error,
                params=params,
                auth=self.auth,
                headers={"Accept": "application/json"},
            )
            try:
                data = response.json()
                page = list(data["messages"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ProviderError("Twilio's message list could not be read.", retryable=True) from exc
            oldest = None
            for item in page:
                created = _rfc2822(item.get("date_created"))
                oldest = created if oldest is None or (created and created < oldest) else oldest
                if str(item.get("direction") or "").startswith("outbound") and (
                    created is None or created >= since - LOOKUP_SKEW
                ):
                    found.append(
                        SentCandidate(
                            provider_message_id=str(item.get("sid")),
                            status=STATUS_MAP.get(str(item.get("status") or "").lower(), SENDING),
                            to_number=http.e164(item.get("to")),
                            body=item.get("body"),
                            created_at=created,
                            error_code=None if item.get("error_code") is None else str(item.get("error_code")),
                        )
                    )
            next_uri = data.get("next_page_uri")
            if not next_uri or not page or (oldest is not None and oldest < since - LOOKUP_SKEW):
                break
            url, params = self.base_url + next_uri, None
        return found

    # ---- webhooks -----------------------------------------------------------------------------

    def verify_webhook(self, req: WebhookRequest) -> bool:
        return twilio_webhooks.verify_webhook(self.auth_token, req)

    def parse_webhook(self, req: WebhookRequest) -> WebhookBatch:
        return twilio_webhooks.parse_webhook(req)

    # ---- media --------------------------------------------------------------------------------

    def fetch_media(self, media: InboundMedia) -> bytes:
        if not media.url:
            raise ProviderError("The attachment has no URL to download.", retryable=False)

        def auth_for(url: str) -> dict:
            # Credentials go only to Twilio itself, never to the storage it redirects to.
            host = (urlsplit(url).hostname or "").lower()
            ours = host == self._api_host or host == "twilio.com" or host.endswith(".twilio.com")
            return {"auth": self.auth} if ours else {}

        return http.fetch_allowed(
            self.session,
            media.url,
            provider="Twilio",
            allowed=self.media_hosts,
            auth_for=auth_for,
            timeout=self.timeout,
            read_error=_read_error,
            limit=self.media_max_bytes,
            seconds=self.media_seconds,
        )


def with_client_ref(url: str, message_id: int) -> str:
    """The StatusCallback URL with Parley's message id: Twilio calls it back exactly so (signed)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != CLIENT_REF]
    return urlunsplit(parts._replace(query=urlencode([*query, (CLIENT_REF, str(message_id))])))


def _rfc2822(value) -> dt.datetime | None:
    """Naive UTC from Twilio's dates ("Tue, 03 Jun 2025 14:05:00 +0000")."""
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when


# ---- Content API templates ----------------------------------------------------------------------


def content_sid(template: TemplateRef) -> str:
    """The Content API template to send: WhatsApp templates go through Twilio only as Content (HX…)."""
    sid = template.content_sid or (template.name if template.name.startswith("HX") else None)
    if not sid:
        raise ProviderError(
            f"The template “{template.name}” has no Twilio Content SID (HX…); an admin can add it on the "
            "Templates page.",
            retryable=False,
        )
    return sid


def content_variables(template: TemplateRef) -> dict[str, str]:
    """Content variables are one numbered list for the whole template: each distinct variable, in order
    of first appearance (header, body, buttons), is ``1``, ``2``…. Only text is a variable: quick-reply
    payloads and a media header's link are fixed in the Content template (sent as a variable, the link
    took ``1`` and moved every real variable up by one: Twilio refused the send with 21656)."""
    values: dict[str, str] = {}
    seen: set[str] = set()
    for p in template.parameters:
        if p.kind != "text":
            continue
        key = p.name or f"#{len(seen)}"
        if key in seen:
            continue
        seen.add(key)
        values[str(len(values) + 1)] = p.value
    return values
