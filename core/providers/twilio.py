"""Twilio Programmable Messaging: SMS, MMS and WhatsApp (spec section 1).

send() makes one Create Message call; webhooks are form posts signed with
``X-Twilio-Signature`` (HMAC-SHA1 of the URL plus sorted parameters, keyed
with the Auth Token).

A send whose answer never came is found again two ways: ``lookup_sent``
lists the messages to that recipient from that sender (Twilio's *List
Messages*, filtered by ``To`` and ``From``, newest first), and each send's
``StatusCallback`` URL carries Parley's message id (``parley_msg``), which
Twilio's status callbacks echo back in the (signed) URL they call.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import json
import logging
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

import requests

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
    OutboundMessage,
    ProviderError,
    SendResult,
    SentCandidate,
    StatusEvent,
    TemplateRef,
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
                        )
                    )
            next_uri = data.get("next_page_uri")
            if not next_uri or not page or (oldest is not None and oldest < since - LOOKUP_SKEW):
                break
            url, params = self.base_url + next_uri, None
        return found

    # ---- webhooks -----------------------------------------------------------------------------

    def verify_webhook(self, req: WebhookRequest) -> bool:
        signature = req.headers.get("x-twilio-signature", "")
        if not signature or not self.auth_token:
            return False
        query = parse_qs(urlsplit(req.url).query, keep_blank_values=True)
        if "bodySHA256" in query:  # JSON body: the URL carries the body's hash, params are empty
            expected_hash = hashlib.sha256(req.body).hexdigest()
            if not hmac.compare_digest(expected_hash, query["bodySHA256"][0].lower()):
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
            ok |= hmac.compare_digest(_sign(self.auth_token, url + signed_params), signature.strip())
        return ok

    def parse_webhook(self, req: WebhookRequest) -> WebhookBatch:
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
            return self._status(sid, status, form, at, ref)
        if "From" in form and ("Body" in form or "NumMedia" in form):
            return WebhookBatch(inbound=[self._inbound(sid, form, at)])
        raise MalformedWebhook("Twilio webhook is neither an incoming message nor a status callback.")

    def _status(self, sid: str, status: str, form: dict[str, str], at: dt.datetime, ref: str | None) -> WebhookBatch:
        mapped = STATUS_MAP.get(status)
        if mapped is None or mapped == QUEUED:
            log.info("ignoring Twilio status %r for %s", status, sid)
            return WebhookBatch()
        code = (form.get("ErrorCode") or "").strip() or None
        message = (form.get("ErrorMessage") or "").strip() or None
        if status == "canceled" and not message:
            message = "The scheduled message was canceled."
        return WebhookBatch(statuses=[StatusEvent(sid, mapped, at, code, message, client_ref=ref)])

    def _inbound(self, sid: str, form: dict[str, str], at: dt.datetime) -> InboundEvent:
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
    of first appearance (header, body, buttons), is ``1``, ``2``…; quick-reply payloads are fixed in the
    Content template and are not variables."""
    values: dict[str, str] = {}
    seen: set[str] = set()
    for p in template.parameters:
        if p.kind == "payload":
            continue
        key = p.name or f"#{len(seen)}"
        if key in seen:
            continue
        seen.add(key)
        values[str(len(values) + 1)] = p.value
    return values


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
