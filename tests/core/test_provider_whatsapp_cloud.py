"""WhatsApp Cloud API over real loopback HTTP (tests/fakes/graph_server.py), and its webhooks."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import pytest

from core.providers.base import (
    DELIVERED,
    FAILED,
    READ,
    SENDING,
    SENT,
    InboundMedia,
    MalformedWebhook,
    OutboundMedia,
    OutboundMessage,
    ProviderError,
    TemplateParameter,
    TemplateRef,
    WebhookRequest,
)
from core.providers.whatsapp_cloud import WhatsAppCloudProvider, sha256_matches
from tests.fakes.graph_server import FakeGraph

APP_SECRET, VERIFY = "app-secret-123", "verify-me"
PNID, CUSTOMER, OURS = "106540352242922", "+14158675309", "+14155550199"


@pytest.fixture
def fake():
    with FakeGraph() as server:
        yield server


@pytest.fixture
def provider(fake):
    p = WhatsAppCloudProvider(fake.access_token, APP_SECRET, VERIFY, PNID, base_url=fake.url, timeout=(1.0, 0.5))
    yield p
    p.session.close()


def message(**kw) -> OutboundMessage:
    base = dict(message_id=9, channel="whatsapp", from_number=OURS, to_number=CUSTOMER, body="Hi Sheena!")
    base.update(kw)
    return OutboundMessage(**base)


# ---- sending ----------------------------------------------------------------------------------


def test_text_send_shape_auth_and_wamid(fake, provider):
    result = provider.send(message(body="See https://example.com"))
    assert result.provider_message_id.startswith("wamid.") and result.status == SENDING
    [req] = fake.sends
    assert req.path == f"/v21.0/{PNID}/messages"
    assert req.headers["authorization"] == f"Bearer {fake.access_token}"
    assert req.headers["content-type"].startswith("application/json")
    assert req.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "biz_opaque_callback_data": "parley:9",  # echoed in its status callbacks (issue 18.1)
        "type": "text",
        "text": {"body": "See https://example.com", "preview_url": True},
    }


def test_sender_ref_chooses_the_phone_number_id(fake, provider):
    provider.send(message(sender_ref="999000111"))
    assert fake.sends[0].path == "/v21.0/999000111/messages"


def test_no_phone_number_id_anywhere_is_final(fake):
    p = WhatsAppCloudProvider(fake.access_token, APP_SECRET, VERIFY, base_url=fake.url)
    with pytest.raises(ProviderError) as info:
        p.send(message())
    assert not info.value.retryable and fake.sends == []


@pytest.mark.parametrize(
    "ctype, filename, kind, expected",
    [
        ("image/jpeg", "p.jpg", "image", {"link": "https://p/f/1", "caption": "Hi Sheena!"}),
        ("video/mp4", "v.mp4", "video", {"link": "https://p/f/1", "caption": "Hi Sheena!"}),
        (
            "application/pdf",
            "Invoice.pdf",
            "document",
            {"link": "https://p/f/1", "caption": "Hi Sheena!", "filename": "Invoice.pdf"},
        ),
    ],
)
def test_media_send_by_link(fake, provider, ctype, filename, kind, expected):
    provider.send(message(media=(OutboundMedia("https://p/f/1", ctype, filename),)))
    body = fake.sends[0].json
    assert body["type"] == kind and body[kind] == expected


def test_audio_goes_without_caption_and_text_on_audio_is_refused(fake, provider):
    provider.send(message(body=None, media=(OutboundMedia("https://p/a", "audio/mpeg", "a.mp3"),)))
    assert fake.sends[0].json["audio"] == {"link": "https://p/a"}
    with pytest.raises(ProviderError) as info:
        provider.send(message(media=(OutboundMedia("https://p/a", "audio/mpeg", "a.mp3"),)))
    assert not info.value.retryable and len(fake.sends) == 1


def test_template_with_language_and_body_parameters(fake, provider):
    fake.register_template("order_update", "es_MX", body=2)
    template = TemplateRef(
        "order_update", "es_MX", (TemplateParameter("body", "Alex"), TemplateParameter("body", "#1234"))
    )
    provider.send(message(body=None, template=template))
    assert fake.sends[0].json["template"] == {
        "name": "order_update",
        "language": {"code": "es_MX"},
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Alex"}, {"type": "text", "text": "#1234"}]}
        ],
    }


def test_template_with_header_body_and_buttons_in_the_cloud_api_shape(fake, provider):
    fake.register_template("visit", header="image", body=1, buttons={0: "url", 1: "quick_reply"})
    template = TemplateRef(
        "visit",
        parameters=(
            TemplateParameter("header", "https://cdn.example/map.png", kind="image"),
            TemplateParameter("body", "Alex", name="first_name"),
            TemplateParameter("button", "b-77", name="code", index=0, sub_type="url"),
            TemplateParameter("button", "NOT_ME", kind="payload", index=1, sub_type="quick_reply"),
        ),
    )
    provider.send(message(body=None, template=template))
    assert fake.sends[0].json["template"]["components"] == [
        {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://cdn.example/map.png"}}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Alex"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "b-77"}]},
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": "1",
            "parameters": [{"type": "payload", "payload": "NOT_ME"}],
        },
    ]


def test_named_parameters_carry_their_names(fake, provider):
    fake.register_template("reminder", body=["first_name", "date"])
    template = TemplateRef(
        "reminder",
        parameters=(
            TemplateParameter("body", "Alex", name="first_name"),
            TemplateParameter("body", "May 4", name="date"),
        ),
        named=True,
    )
    provider.send(message(body=None, template=template))
    assert fake.sends[0].json["template"]["components"] == [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Alex", "parameter_name": "first_name"},
                {"type": "text", "text": "May 4", "parameter_name": "date"},
            ],
        }
    ]


def test_meta_refuses_a_template_sent_with_the_wrong_number_of_parameters(fake, provider):
    fake.register_template("reminder", body=2)
    with pytest.raises(ProviderError) as info:
        provider.send(
            message(body=None, template=TemplateRef("reminder", parameters=(TemplateParameter("body", "A"),)))
        )
    assert info.value.code == "132000" and not info.value.retryable


def test_window_closed_error_is_final_with_code_and_details(fake, provider):
    fake.script(
        400,
        FakeGraph.error(
            131047, "Re-engagement message", details="Message failed to send because more than 24 hours have passed."
        ),
    )
    with pytest.raises(ProviderError) as info:
        provider.send(message())
    err = info.value
    assert (err.code, err.retryable, err.http_status) == ("131047", False, 400)
    assert "Re-engagement message" in err.message and "24 hours" in err.message


@pytest.mark.parametrize("code, status, retry_after", [(130429, 400, None), (131056, 400, 6.0), (130429, 429, None)])
def test_throughput_and_pair_rate_limits_are_retryable(fake, provider, code, status, retry_after):
    fake.script(status, FakeGraph.error(code, "Rate limit hit"))
    with pytest.raises(ProviderError) as info:
        provider.send(message())
    assert info.value.retryable and info.value.code == str(code) and info.value.retry_after == retry_after


def test_a_gateway_504_is_retried_since_whatsapp_cannot_be_asked_what_it_sent(fake, provider):
    """Unlike Twilio (looked up first), an unknown WhatsApp send could only wait for a callback and
    then go to the agent: an outage of 504s would leave every message to a person."""
    fake.script(504, b"<html><body>504 Gateway Time-out</body></html>")
    with pytest.raises(ProviderError) as info:
        provider.send(message())
    assert (info.value.retryable, info.value.outcome_unknown, info.value.http_status) == (True, False, 504)


def test_429_retry_after_header_and_500(fake, provider):
    fake.script(429, FakeGraph.error(80007, "Rate limit"), headers={"Retry-After": "3"})
    fake.script(500, FakeGraph.error(1, "An unknown error occurred"))
    with pytest.raises(ProviderError) as first:
        provider.send(message())
    with pytest.raises(ProviderError) as second:
        provider.send(message())
    assert first.value.retry_after == 3.0 and first.value.retryable
    assert second.value.retryable and second.value.http_status == 500
    assert len(fake.sends) == 2  # one attempt per send()


def test_timeout_has_an_unknown_outcome(fake, provider):
    fake.script(200, {"messages": [{"id": "wamid.late"}]}, delay=3.0)
    with pytest.raises(ProviderError) as info:
        provider.send(message())
    assert (info.value.retryable, info.value.outcome_unknown, info.value.code) == (False, True, "timeout")


def test_bad_token_and_bad_request_are_final(fake):
    p = WhatsAppCloudProvider("wrong", APP_SECRET, VERIFY, PNID, base_url=fake.url)
    with pytest.raises(ProviderError) as info:
        p.send(message())
    assert (info.value.code, info.value.retryable, info.value.http_status) == ("190", False, 401)
    good = WhatsAppCloudProvider(fake.access_token, APP_SECRET, VERIFY, PNID, base_url=fake.url)
    with pytest.raises(ProviderError) as info:
        good.send(message(to_number="not-a-number"))
    assert info.value.code == "100" and not info.value.retryable and "to" in info.value.message


# ---- handshake and signature ------------------------------------------------------------------


def test_handshake(provider):
    ok = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    assert provider.verify_handshake(ok) == "1158201444"
    assert provider.verify_handshake({**ok, "hub.verify_token": "nope"}) is None
    assert provider.verify_handshake({**ok, "hub.mode": "unsubscribe"}) is None
    assert provider.verify_handshake({"hub.mode": "subscribe", "hub.challenge": "1"}) is None


def signed(body: bytes, secret: str = APP_SECRET) -> WebhookRequest:
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return WebhookRequest(
        "POST",
        "https://x/webhooks/whatsapp",
        {"content-type": "application/json", "x-hub-signature-256": signature},
        {},
        body,
    )


def test_signature_right_tampered_wrong_key_missing(provider):
    body = json.dumps(envelope(messages=[text_message()])).encode()
    assert provider.verify_webhook(signed(body))
    tampered = signed(body)
    assert not provider.verify_webhook(WebhookRequest("POST", tampered.url, tampered.headers, {}, body + b" "))
    assert not provider.verify_webhook(signed(body, secret="other-secret"))
    assert not provider.verify_webhook(WebhookRequest("POST", "https://x", {}, {}, body))
    bare = signed(body).headers["x-hub-signature-256"][7:]
    assert not provider.verify_webhook(WebhookRequest("POST", "https://x", {"x-hub-signature-256": bare}, {}, body))


# ---- parsing ----------------------------------------------------------------------------------


def envelope(messages=(), statuses=(), contacts=None, field="messages"):
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "14155550199", "phone_number_id": PNID},
    }
    if messages:
        value["messages"] = list(messages)
        value["contacts"] = (
            contacts if contacts is not None else [{"profile": {"name": "Sheena"}, "wa_id": "14158675309"}]
        )
    if statuses:
        value["statuses"] = list(statuses)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": field, "value": value}]}],
    }


def text_message(**kw):
    m = {
        "from": "14158675309",
        "id": "wamid.T1",
        "timestamp": "1749416383",
        "type": "text",
        "text": {"body": "Is Tuesday ok?"},
    }
    m.update(kw)
    return m


def parse(provider, payload):
    return provider.parse_webhook(signed(json.dumps(payload).encode()))


def test_inbound_text(provider):
    [event] = parse(
        provider, envelope(messages=[text_message(context={"from": "14155550199", "id": "wamid.ours"})])
    ).inbound
    assert (event.provider_message_id, event.channel, event.from_number, event.body) == (
        "wamid.T1",
        "whatsapp",
        CUSTOMER,
        "Is Tuesday ok?",
    )
    assert (event.to_ref, event.to_number, event.profile_name, event.reply_to) == (PNID, OURS, "Sheena", "wamid.ours")
    assert event.received_at == dt.datetime(2025, 6, 8, 20, 59, 43)


@pytest.mark.parametrize(
    "wa_id, number",
    [
        ("6598765432", "+6598765432"),  # Singapore: ten digits, also a valid US number read nationally
        ("6581234567", "+6581234567"),  # Singapore: ten digits, not a valid US number
        ("4799887766", "+4799887766"),  # Norway
        ("3546123456", "+3546123456"),  # Iceland
        ("29051234", "+29051234"),  # Saint Helena: eight digits
        ("447400123456", "+447400123456"),
    ],
)
def test_a_wa_id_of_any_length_is_the_international_number(provider, wa_id, number):
    """Meta's ``from`` and ``wa_id`` always carry the country code and never the '+' (spec §2):
    ten digits or fewer are not a US number written nationally."""
    payload = envelope(
        messages=[text_message(**{"from": wa_id})], contacts=[{"profile": {"name": "Wei"}, "wa_id": wa_id}]
    )
    payload["entry"][0]["changes"][0]["value"]["metadata"]["display_phone_number"] = "6561234567"
    batch = parse(provider, payload)
    assert batch.rejected == []
    [event] = batch.inbound
    assert (event.from_number, event.profile_name, event.to_number) == (number, "Wei", "+6561234567")


@pytest.mark.parametrize(
    "kind, part, body",
    [
        ("image", {"id": "111", "mime_type": "image/jpeg", "sha256": "abc=", "caption": "my receipt"}, "my receipt"),
        ("document", {"id": "222", "mime_type": "application/pdf", "sha256": "def=", "filename": "lease.pdf"}, ""),
        ("sticker", {"id": "333", "mime_type": "image/webp", "sha256": "ghi=", "animated": False}, ""),
        ("audio", {"id": "444", "mime_type": "audio/ogg; codecs=opus", "sha256": "jkl=", "voice": True}, ""),
    ],
)
def test_inbound_media(provider, kind, part, body):
    [event] = parse(provider, envelope(messages=[text_message(type=kind, text=None, **{kind: part})])).inbound
    [media] = event.media
    assert event.body == body
    assert (media.media_id, media.content_type, media.sha256) == (part["id"], part["mime_type"], part["sha256"])
    assert media.filename == part.get("filename") and media.caption == part.get("caption")


def test_button_interactive_and_unknown_types_are_kept(provider):
    payload = envelope(
        messages=[
            text_message(id="w1", type="button", button={"payload": "YES_PAYLOAD", "text": "Yes"}),
            text_message(
                id="w2",
                type="interactive",
                interactive={"type": "button_reply", "button_reply": {"id": "b1", "title": "Confirm"}},
            ),
            text_message(
                id="w3",
                type="interactive",
                interactive={
                    "type": "list_reply",
                    "list_reply": {"id": "l1", "title": "Tuesday", "description": "3pm"},
                },
            ),
            text_message(id="w4", type="order", order={"catalog_id": "1"}),
        ]
    )
    bodies = [e.body for e in parse(provider, payload).inbound]
    assert bodies == ["Yes", "Confirm", "Tuesday", "[unsupported message type: order]"]


def test_statuses_including_failed_with_errors(provider):
    payload = envelope(
        statuses=[
            {"id": "wamid.A", "status": "sent", "timestamp": "1749416400", "recipient_id": "14158675309"},
            {"id": "wamid.A", "status": "delivered", "timestamp": "1749416401", "recipient_id": "14158675309"},
            {"id": "wamid.A", "status": "read", "timestamp": "1749416402", "recipient_id": "14158675309"},
            {
                "id": "wamid.B",
                "status": "failed",
                "timestamp": "1749416403",
                "recipient_id": "14158675309",
                "errors": [
                    {
                        "code": 131047,
                        "title": "Re-engagement message",
                        "message": "Re-engagement message",
                        "error_data": {"details": "More than 24 hours have passed."},
                    }
                ],
            },
            {"id": "wamid.C", "status": "deleted", "timestamp": "1749416404"},
        ]
    )
    statuses = parse(provider, payload).statuses
    assert [(s.provider_message_id, s.status) for s in statuses] == [
        ("wamid.A", SENT),
        ("wamid.A", DELIVERED),
        ("wamid.A", READ),
        ("wamid.B", FAILED),
    ]
    failed = statuses[-1]
    assert failed.error_code == "131047" and "24 hours" in failed.error_message
    assert statuses[0].at == dt.datetime(2025, 6, 8, 21, 0, 0)


def test_other_fields_are_ignored(provider):
    batch = parse(provider, envelope(messages=[text_message()], field="message_template_status_update"))
    assert batch.inbound == [] and batch.statuses == []


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[]",
        b'{"object": "whatsapp_business_account"}',
        b"[" * 100_000 + b"]" * 100_000,  # issue 18.9: nested too deeply for the parser
    ],
)
def test_unreadable_bodies_raise(provider, raw):
    with pytest.raises(MalformedWebhook):
        provider.parse_webhook(signed(raw))


@pytest.mark.parametrize(
    "bad, reason",
    [
        (text_message(**{"from": None}), "without id or a readable 'from' number"),
        (text_message(**{"from": "99"}), "without id or a readable 'from' number"),
        (text_message(type="image", image={"mime_type": "image/jpeg"}), "image message without a media id"),
        ("not an object", "not an object"),
    ],
)
def test_a_bad_message_is_rejected_alone_and_the_good_one_kept(provider, bad, reason):
    """Issue 18.5: one bad item no longer loses the payload."""
    good = text_message(id="wamid.good", text={"body": "Still here"})
    batch = provider.parse_webhook(signed(json.dumps(envelope(messages=[bad, good])).encode()))
    assert [e.provider_message_id for e in batch.inbound] == ["wamid.good"]
    assert len(batch.rejected) == 1 and reason in batch.rejected[0].reason
    assert json.loads(batch.rejected[0].item) == bad


def test_a_status_without_a_status_is_rejected_alone(provider):
    good = {"id": "wamid.s1", "status": "delivered", "timestamp": "1749416400", "recipient_id": "16505551234"}
    batch = provider.parse_webhook(signed(json.dumps(envelope(statuses=[{"id": "wamid.s0"}, good])).encode()))
    assert [(s.provider_message_id, s.status) for s in batch.statuses] == [("wamid.s1", "delivered")]
    assert [r.reason for r in batch.rejected] == ["WhatsApp status without id or status."]


def test_a_list_that_is_not_a_list_is_rejected(provider):
    raw = json.dumps({"entry": [{"changes": [{"field": "messages", "value": {"messages": "nope"}}]}]}).encode()
    batch = provider.parse_webhook(signed(raw))
    assert batch.inbound == [] and [r.reason for r in batch.rejected] == ["'messages' is not a list"]


def test_the_echoed_callback_data_names_parleys_message(provider):
    item = {"id": "wamid.s1", "status": "sent", "timestamp": "1749416400", "biz_opaque_callback_data": "parley:42"}
    other = {"id": "wamid.s2", "status": "sent", "timestamp": "1749416400", "biz_opaque_callback_data": "crm:9"}
    batch = provider.parse_webhook(signed(json.dumps(envelope(statuses=[item, other])).encode()))
    assert [s.client_ref for s in batch.statuses] == ["42", None]


# ---- media ------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_fetch_media_two_steps_with_bearer_and_checksum(fake, provider, encoding):
    data = b"\x89PNG fake image bytes"
    media_id = fake.add_media(data, "image/png", encoding=encoding)
    assert provider.fetch_media(InboundMedia("image/png", media_id=media_id)) == data
    info_get, download = fake.requests[-2:]
    assert info_get.path == f"/v21.0/{media_id}" and download.path.startswith("/download/")
    assert download.headers["authorization"] == f"Bearer {fake.access_token}"


def test_fetch_media_checksum_mismatch_is_final(fake, provider):
    media_id = fake.add_media(b"real bytes", sha256=hashlib.sha256(b"other bytes").hexdigest())
    with pytest.raises(ProviderError) as info:
        provider.fetch_media(InboundMedia("image/jpeg", media_id=media_id))
    assert info.value.message == "Media checksum did not match" and not info.value.retryable
    # The webhook's own sha256 is checked too.
    good_id = fake.add_media(b"real bytes")
    with pytest.raises(ProviderError):
        provider.fetch_media(InboundMedia("image/jpeg", media_id=good_id, sha256="AAAA" * 11))


def test_fetch_media_unknown_id_is_an_error(fake, provider):
    with pytest.raises(ProviderError) as info:
        provider.fetch_media(InboundMedia("image/jpeg", media_id="404404"))
    assert info.value.code == "100"


def test_sha256_accepts_hex_and_base64():
    import base64

    digest = hashlib.sha256(b"abc").digest()
    assert sha256_matches(b"abc", digest.hex()) and sha256_matches(b"abc", digest.hex().upper())
    assert sha256_matches(b"abc", base64.b64encode(digest).decode())
    assert sha256_matches(b"abc", base64.urlsafe_b64encode(digest).decode().rstrip("="))
    assert not sha256_matches(b"abd", digest.hex()) and not sha256_matches(b"abc", "zz")


def test_media_values_of_the_wrong_type_are_read_as_unknown(provider):
    """Review finding 3: the applier calls string methods on these; a number or a list there
    stopped it for every webhook. An unknown type, no name; a checksum kept as text cannot match."""
    part = {"id": "555", "mime_type": 5, "sha256": 7, "filename": ["a.pdf"], "caption": {"x": 1}}
    [event] = parse(provider, envelope(messages=[text_message(type="document", text=None, document=part)])).inbound
    [media] = event.media
    assert (media.media_id, media.content_type, media.sha256, media.filename, media.caption) == (
        "555",
        "application/octet-stream",
        "7",
        None,
        None,
    )
