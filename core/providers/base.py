"""The one small contract every provider implements.

A provider turns an outbox row (``OutboundMessage``) into a provider message
id, and a webhook request (``WebhookRequest``) into inbound messages and
status updates (``WebhookBatch``). Everything here is framework-free: no
Starlette, no DuckDB. The dispatcher and the webhook routes are the only
callers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Protocol

# Parley's own status vocabulary (DESIGN.md rule 9).
QUEUED, SENDING, SENT, DELIVERED, READ = "queued", "sending", "sent", "delivered", "read"
FAILED, UNDELIVERED, NOT_SENT, INTERRUPTED = "failed", "undelivered", "not_sent", "interrupted"

# Rank used to move status only forward. A failure ranks after 'sent' (a
# carrier can fail a message it accepted) but before 'delivered': Meta may
# report 'delivered' after 'failed' for multi-device users, and a message
# that reached a handset did reach it. Nothing moves a message back.
STATUS_RANK = {
    QUEUED: 0,
    INTERRUPTED: 0,
    SENDING: 1,
    SENT: 2,
    FAILED: 3,
    UNDELIVERED: 3,
    DELIVERED: 4,
    READ: 5,
}


def status_moves_forward(current: str | None, new: str) -> bool:
    """True when ``new`` may replace ``current`` (rule 9)."""
    if current is None:
        return True
    if current == NOT_SENT:
        return False  # never reached a provider; nothing can change that
    return STATUS_RANK.get(new, -1) > STATUS_RANK.get(current, -1)


@dataclass(frozen=True)
class OutboundMedia:
    url: str  # public URL the provider fetches (Twilio) or link (WhatsApp)
    content_type: str
    filename: str
    path: str | None = None  # local file, for providers that upload bytes
    sha256: str | None = None


@dataclass(frozen=True)
class TemplateParameter:
    """One value a registered template is sent with (built by ``core.templates.template_ref``)."""

    component: str  # 'header' | 'body' | 'button'
    value: str  # the text; a media header's link; a quick-reply button's payload
    name: str | None = None  # the variable's name (sent as parameter_name with named-parameter templates)
    kind: str = "text"  # 'text' | 'image' | 'video' | 'document' | 'payload'
    index: int | None = None  # a button's position among the template's buttons (0-based)
    sub_type: str | None = None  # a button's type: 'url' | 'quick_reply'


@dataclass(frozen=True)
class TemplateRef:
    """A provider-approved template and the values it goes with.

    WhatsApp Cloud sends ``name`` + ``language`` and the parameters grouped by
    component; Twilio's Content API sends ``content_sid`` and the parameters
    numbered ``1``…``n`` in order (``ContentVariables``)."""

    name: str  # the template's name at WhatsApp
    language: str = "en_US"
    parameters: tuple[TemplateParameter, ...] = ()  # header, body, then button parameters
    named: bool = False  # registered with named parameters ({{first_name}}) rather than positional ({{1}})
    content_sid: str | None = None  # Twilio Content API template (HX…)


@dataclass(frozen=True)
class OutboundMessage:
    message_id: int  # Parley's id, echoed back where a provider allows
    channel: str  # 'sms' | 'whatsapp'
    from_number: str  # E.164 of the sender
    to_number: str  # E.164 of the recipient
    body: str | None = None
    media: tuple[OutboundMedia, ...] = ()
    template: TemplateRef | None = None
    sender_ref: str | None = None  # WhatsApp phone-number-id / Twilio MessagingServiceSid
    status_callback_url: str | None = None


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    status: str  # Parley vocabulary: usually 'sending' or 'sent'


class ProviderError(Exception):
    """A send that did not go through, or whose outcome is unknown.

    ``retryable`` is True when the provider certainly did not act on the
    request (429, 5xx, a refused or timed-out connection): the dispatcher
    backs off and tries again. ``outcome_unknown`` is True when the request
    left but no usable answer came back (a read timeout, a connection cut
    mid-answer, a 2xx we cannot read): the provider may have acted on it, so
    it is never sent again blindly but looked up first. Otherwise the error
    is final (4xx), recorded on the message with ``code`` and the provider's
    message.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        code: str | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable and not outcome_unknown
        self.code = code
        self.http_status = http_status
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown


@dataclass(frozen=True)
class SentCandidate:
    """A message the provider says it has, found when looking up a send whose outcome was unknown."""

    provider_message_id: str
    status: str  # Parley vocabulary
    to_number: str | None
    body: str | None
    created_at: dt.datetime | None  # naive UTC
    error_code: str | None = None  # why it failed, when the provider lists it failed or undelivered


@dataclass(frozen=True)
class WebhookRequest:
    method: str
    url: str  # full URL exactly as called, including the query string
    headers: dict[str, str]  # lower-cased names
    query: dict[str, str]
    body: bytes
    received_at: dt.datetime | None = None  # when Parley received it (naive UTC); stamps what has no time of its own


@dataclass(frozen=True)
class InboundMedia:
    content_type: str
    url: str | None = None  # Twilio MediaUrlN
    media_id: str | None = None  # WhatsApp media id (fetch with the bearer token)
    sha256: str | None = None  # WhatsApp gives it (base64 or hex); verify after download
    filename: str | None = None
    caption: str | None = None


OCTET_STREAM = "application/octet-stream"


def inbound_media(
    content_type: object, *, url=None, media_id=None, sha256: object = None, filename: object = None, caption=None
) -> InboundMedia:
    """An ``InboundMedia`` from a payload's values as they came, each of any JSON type.

    A payload may carry a number or a list where text belongs (``"mime_type": 5``): such a
    claimed type is an unknown one, such a file name none (the applier names the file), and
    such a checksum is kept as text, so that it cannot match and the attachment is refused for
    it as for a wrong one. The applier calls string methods on all three."""
    return InboundMedia(
        content_type=content_type if isinstance(content_type, str) and content_type else OCTET_STREAM,
        url=url,
        media_id=media_id,
        sha256=None if sha256 in (None, "") else sha256 if isinstance(sha256, str) else str(sha256),
        filename=filename if isinstance(filename, str) and filename else None,
        caption=caption if isinstance(caption, str) and caption else None,
    )


@dataclass(frozen=True)
class InboundEvent:
    provider_message_id: str
    channel: str  # 'sms' | 'whatsapp'
    from_number: str  # E.164 (customer)
    to_number: str | None  # E.164 of our sender, when the payload names it
    to_ref: str | None  # WhatsApp phone_number_id, when that is what the payload names
    body: str
    received_at: dt.datetime  # naive UTC
    media: tuple[InboundMedia, ...] = ()
    profile_name: str | None = None
    reply_to: str | None = None  # provider id of the message this answers


@dataclass(frozen=True)
class StatusEvent:
    provider_message_id: str
    status: str  # Parley vocabulary (queued/sending/sent/delivered/read/failed/undelivered)
    at: dt.datetime  # naive UTC
    error_code: str | None = None
    error_message: str | None = None
    client_ref: str | None = (
        None  # Parley's message id echoed by the provider (StatusCallback token, biz_opaque_callback_data)
    )


@dataclass(frozen=True)
class RejectedItem:
    """One item of a payload that could not be parsed: kept with its reason, never applied."""

    reason: str
    item: str  # the item as received (JSON text or form fields), for review


@dataclass
class WebhookBatch:
    inbound: list[InboundEvent] = field(default_factory=list)
    statuses: list[StatusEvent] = field(default_factory=list)
    rejected: list[RejectedItem] = field(default_factory=list)


class MalformedWebhook(ValueError):
    """The body cannot be parsed: answered 400 and recorded for review."""


class Provider(Protocol):
    name: str

    def send(self, msg: OutboundMessage) -> SendResult:
        """Send one message; raise ProviderError on failure."""

    def verify_webhook(self, req: WebhookRequest) -> bool:
        """Check the request's signature in constant time."""

    def parse_webhook(self, req: WebhookRequest) -> WebhookBatch:
        """Turn a verified request into events; raise MalformedWebhook."""

    def fetch_media(self, media: InboundMedia) -> bytes:
        """Download inbound media (checking sha256 where the provider gives one)."""

    def lookup_sent(self, msg: OutboundMessage, since: dt.datetime) -> list[SentCandidate] | None:
        """Messages to ``msg``'s recipient from its sender created since ``since``, as the provider
        lists them; None when the provider cannot list messages (then only an echoed
        ``client_ref`` in a status callback can settle an unknown outcome). Raises ProviderError
        when the lookup itself failed."""
