"""Twilio over real loopback HTTP (tests/fakes/twilio_server.py), and its webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
from urllib.parse import urlencode

import pytest

from core.providers.base import (
    DELIVERED,
    FAILED,
    SENDING,
    UNDELIVERED,
    InboundMedia,
    MalformedWebhook,
    OutboundMedia,
    OutboundMessage,
    ProviderError,
    TemplateParameter,
    TemplateRef,
    WebhookRequest,
)
from core.providers.twilio import TwilioProvider
from tests.fakes.twilio_server import FakeTwilio

CUSTOMER, OURS = "+14158675309", "+14155550100"


@pytest.fixture
def fake():
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def provider(fake):
    p = TwilioProvider(fake.account_sid, fake.auth_token, base_url=fake.url, timeout=(1.0, 0.5))
    yield p
    p.session.close()


def message(**kw) -> OutboundMessage:
    base = dict(message_id=7, channel="sms", from_number=OURS, to_number=CUSTOMER, body="Your table is ready")
    base.update(kw)
    return OutboundMessage(**base)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# ---- sending ----------------------------------------------------------------------------------


def test_sms_send_posts_the_form_with_basic_auth(fake, provider):
    result = provider.send(message(status_callback_url="https://parley.example/webhooks/twilio"))
    assert result.provider_message_id.startswith("SM") and result.status == SENDING
    [req] = fake.sends
    assert req.path == f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
    assert req.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert req.headers["authorization"] == basic(fake.account_sid, fake.auth_token)
    assert req.form == [
        ("To", CUSTOMER),
        ("From", OURS),
        ("Body", "Your table is ready"),
        # Parley's id rides in the callback URL: its status callbacks can settle a send whose answer never came.
        ("StatusCallback", "https://parley.example/webhooks/twilio?parley_msg=7"),
    ]


def test_whatsapp_media_send_prefixes_numbers_and_repeats_media_url(fake, provider):
    media = (
        OutboundMedia("https://parley.example/files/a", "image/jpeg", "a.jpg"),
        OutboundMedia("https://parley.example/files/b", "application/pdf", "b.pdf"),
    )
    result = provider.send(message(channel="whatsapp", media=media, body="Menu attached"))
    assert result.provider_message_id.startswith("MM")
    req = fake.sends[0]
    assert req.value("To") == f"whatsapp:{CUSTOMER}" and req.value("From") == f"whatsapp:{OURS}"
    assert req.values("MediaUrl") == ["https://parley.example/files/a", "https://parley.example/files/b"]
    assert "StatusCallback" not in dict(req.form)


CONTENT_SID = "HX" + "0123456789abcdef" * 2


def test_template_goes_as_content_sid_and_numbered_variables(fake, provider):
    fake.register_content(CONTENT_SID, variables=2)
    template = TemplateRef(
        "appointment_reminder",
        parameters=(
            TemplateParameter("body", "Alex", name="first_name"),
            TemplateParameter("body", "Tuesday 3pm", name="when"),
        ),
        content_sid=CONTENT_SID,
    )
    provider.send(message(channel="whatsapp", body=None, template=template))
    req = fake.sends[0]
    assert req.value("ContentSid") == CONTENT_SID
    assert json.loads(req.value("ContentVariables")) == {"1": "Alex", "2": "Tuesday 3pm"}
    assert req.value("Body") is None


def test_content_variables_number_each_variable_once_across_header_body_and_buttons(fake, provider):
    fake.register_content(CONTENT_SID, variables=3)
    template = TemplateRef(
        "visit",
        parameters=(
            TemplateParameter("header", "Alex", name="first_name"),
            TemplateParameter("body", "Alex", name="first_name"),
            TemplateParameter("body", "May 4", name="date"),
            TemplateParameter("button", "b-77", name="code", index=0, sub_type="url"),
            TemplateParameter("button", "STOP", kind="payload", index=1, sub_type="quick_reply"),
        ),
        content_sid=CONTENT_SID,
    )
    provider.send(message(channel="whatsapp", body=None, template=template))
    assert json.loads(fake.sends[0].value("ContentVariables")) == {"1": "Alex", "2": "May 4", "3": "b-77"}


def test_a_media_headers_link_is_not_a_content_variable(fake, provider):
    fake.register_content(CONTENT_SID, variables=1)
    template = TemplateRef(
        "order_shipped",
        parameters=(
            TemplateParameter("header", "https://shop.example/box.jpg", kind="image"),
            TemplateParameter("body", "Zoë", name="first_name"),
        ),
        content_sid=CONTENT_SID,
    )
    provider.send(message(channel="whatsapp", body=None, template=template))
    assert json.loads(fake.sends[0].value("ContentVariables")) == {"1": "Zoë"}


def test_a_template_without_a_content_sid_is_refused_before_any_request(fake, provider):
    with pytest.raises(ProviderError, match="no Twilio Content SID") as info:
        provider.send(message(channel="whatsapp", body=None, template=TemplateRef("appointment_reminder")))
    assert not info.value.retryable and fake.sends == []


def test_twilio_refuses_content_variables_that_do_not_match_the_content_template(fake, provider):
    fake.register_content(CONTENT_SID, variables=2)
    template = TemplateRef("x", parameters=(TemplateParameter("body", "Alex", name="a"),), content_sid=CONTENT_SID)
    with pytest.raises(ProviderError) as info:
        provider.send(message(channel="whatsapp", body=None, template=template))
    assert info.value.code == "21656" and not info.value.retryable


def test_messaging_service_sid_from_the_sender(fake, provider):
    provider.send(message(sender_ref="MG0123456789abcdef0123456789abcdef"))
    assert fake.sends[0].value("MessagingServiceSid") == "MG0123456789abcdef0123456789abcdef"


def test_api_key_pair_is_used_for_basic_auth():
    with FakeTwilio(api_key_sid="SKkey", api_key_secret="key-secret") as fake:
        p = TwilioProvider(fake.account_sid, None, api_key_sid="SKkey", api_key_secret="key-secret", base_url=fake.url)
        p.send(message())
        assert fake.sends[0].headers["authorization"] == basic("SKkey", "key-secret")
        assert fake.sends[0].path.startswith(f"/2010-04-01/Accounts/{fake.account_sid}/")


def test_error_body_becomes_a_final_error_with_twilio_code(fake, provider):
    fake.script(400, FakeTwilio.error(21610, "Attempt to send to unsubscribed recipient"))
    with pytest.raises(ProviderError) as info:
        provider.send(message())
    err = info.value
    assert (err.code, err.retryable, err.http_status) == ("21610", False, 400)
    assert err.message == "Attempt to send to unsubscribed recipient"


def test_wrong_credentials_are_final(fake):
    p = TwilioProvider(fake.account_sid, "wrong-token", base_url=fake.url)
    with pytest.raises(ProviderError) as info:
        p.send(message())
    assert info.value.retryable is False and info.value.code == "20003" and info.value.http_status == 401


def test_429_is_retryable_with_retry_after(fake, provider):
    fake.script(429, FakeTwilio.error(20429, "Too Many Requests", 429), headers={"Retry-After": "7"})
    with pytest.raises(ProviderError) as info:
        provider.send(message())
    assert info.value.retryable is True and info.value.retry_after == 7.0 and info.value.code == "20429"


def test_500_is_retryable_and_send_makes_exactly_one_attempt(fake, provider):
    fake.script(500, {"message": "Internal error"})
    with pytest.raises(ProviderError) as info:
        provider.send(message())
    assert info.value.retryable is True and info.value.http_status == 500
    assert len(fake.sends) == 1  # the dispatcher owns the retry loop


@pytest.mark.parametrize("status", [502, 504])
def test_a_gateway_error_on_create_has_an_unknown_outcome_never_a_blind_retry(fake, provider, status):
    """The gateway gave up waiting for the API behind it, which may have created the message."""
    fake.script(status, b"<html><body>Gateway error</body></html>")
    with pytest.raises(ProviderError) as info:
        provider.send(message())
    assert (info.value.retryable, info.value.outcome_unknown, info.value.http_status) == (False, True, status)
    assert info.value.message == f"Twilio answered HTTP {status}. It may have been sent."


@pytest.mark.parametrize("status", [500, 503])
def test_twilios_own_500_and_503_are_retried_as_an_outage(fake, provider, status):
    fake.script(status, FakeTwilio.error(20500, "Internal Server Error", status))
    with pytest.raises(ProviderError) as info:
        provider.send(message())
    assert (info.value.retryable, info.value.outcome_unknown) == (True, False)


def test_slow_answer_has_an_unknown_outcome_never_a_blind_retry(fake, provider):
    """Issue 18.1: the request left; Twilio may have created the message."""
    fake.script(201, {"sid": "SMlate", "status": "queued"}, delay=3.0)
    with pytest.raises(ProviderError) as info:
        provider.send(message())
    assert (info.value.retryable, info.value.outcome_unknown, info.value.code) == (False, True, "timeout")


def test_a_connection_cut_after_the_request_left_has_an_unknown_outcome():
    """The server reads the whole request, then hangs up without answering."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]

        def serve():
            conn, _ = server.accept()
            with conn:
                data = b""
                while b"Body=" not in data:
                    data += conn.recv(65536)

        thread = threading.Thread(target=serve)
        thread.start()
        p = TwilioProvider("AC1", "tok", base_url=f"http://127.0.0.1:{port}")
        with pytest.raises(ProviderError) as info:
            p.send(message())
        thread.join(10)
    assert (info.value.retryable, info.value.outcome_unknown) == (False, True)


def test_the_connect_timeout_is_short_and_distinct_from_the_read_timeout(fake):
    connect, read = TwilioProvider(fake.account_sid, fake.auth_token, base_url=fake.url).timeout
    assert connect <= 2.0 < read


def test_connection_refused_is_retryable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = TwilioProvider("AC1", "tok", base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(ProviderError) as info:
        p.send(message())
    assert info.value.retryable is True and info.value.code == "connection" and not info.value.outcome_unknown


def test_missing_body_is_refused_by_twilio_as_final(fake, provider):
    with pytest.raises(ProviderError) as info:
        provider.send(message(body=None))
    assert info.value.code == "21619" and not info.value.retryable


# ---- X-Twilio-Signature -----------------------------------------------------------------------

DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}


def reference_signature(token: str, url: str, params: dict[str, str]) -> str:
    """The documented algorithm, written out independently of the provider module."""
    s = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), s.encode(), hashlib.sha1).digest()).decode()


def form_request(url: str, params: dict[str, str], signature: str | None) -> WebhookRequest:
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["x-twilio-signature"] = signature
    return WebhookRequest("POST", url, headers, {}, urlencode(params).encode())


@pytest.fixture
def doc_provider():
    return TwilioProvider("AC123", "12345")


def test_twilio_documented_vector_is_accepted(doc_provider):
    assert reference_signature("12345", DOC_URL, DOC_PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert doc_provider.verify_webhook(form_request(DOC_URL, DOC_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="))


def test_url_with_or_without_the_port_is_accepted(doc_provider):
    with_port = DOC_URL.replace(".com/", ".com:443/")
    # Twilio signed with :443, we were called without it, and the other way round.
    assert doc_provider.verify_webhook(
        form_request(DOC_URL, DOC_PARAMS, reference_signature("12345", with_port, DOC_PARAMS))
    )
    assert doc_provider.verify_webhook(
        form_request(with_port, DOC_PARAMS, reference_signature("12345", DOC_URL, DOC_PARAMS))
    )
    # Twilio's published vectors: signature of the https URL with :443, and of http with :80.
    assert doc_provider.verify_webhook(form_request(DOC_URL, DOC_PARAMS, "kvajT1Ptam85bY51eRf/AJRuM3w="))
    assert doc_provider.verify_webhook(
        form_request(DOC_URL.replace("https", "http"), DOC_PARAMS, "0ZXoZLH/DfblKGATFgpif+LLRf4=")
    )
    # A different path is still refused.
    assert not doc_provider.verify_webhook(
        form_request(DOC_URL.replace("myapp", "other"), DOC_PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    )


def test_tampered_body_wrong_key_and_missing_header_are_refused(doc_provider):
    good = reference_signature("12345", DOC_URL, DOC_PARAMS)
    assert not doc_provider.verify_webhook(form_request(DOC_URL, {**DOC_PARAMS, "Digits": "9999"}, good))
    assert not doc_provider.verify_webhook(form_request(DOC_URL, {**DOC_PARAMS, "Extra": "1"}, good))
    assert not doc_provider.verify_webhook(
        form_request(DOC_URL, DOC_PARAMS, reference_signature("54321", DOC_URL, DOC_PARAMS))
    )
    assert not doc_provider.verify_webhook(form_request(DOC_URL, DOC_PARAMS, None))
    assert not doc_provider.verify_webhook(form_request(DOC_URL + "&x=1", DOC_PARAMS, good))


def test_repeated_parameters_follow_twilio_validators():
    provider = TwilioProvider("AC123", "12345")
    body = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234"
    req = WebhookRequest("POST", DOC_URL, {"x-twilio-signature": "IK+Dwps556ElfBT0I3Rgjkr1wJU="}, {}, body)
    assert provider.verify_webhook(req)


def test_json_body_with_body_sha256(doc_provider):
    body = b'{"property": "value", "boolean": true}'
    digest = hashlib.sha256(body).hexdigest()
    assert digest == "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    url = f"{DOC_URL}&bodySHA256={digest}"
    headers = {"content-type": "application/json", "x-twilio-signature": "a9nBmqA0ju/hNViExpshrM61xv4="}
    assert reference_signature("12345", url, {}) == "a9nBmqA0ju/hNViExpshrM61xv4="
    assert doc_provider.verify_webhook(WebhookRequest("POST", url, headers, {}, body))
    tampered = b'{"property": "other", "boolean": true}'
    assert not doc_provider.verify_webhook(WebhookRequest("POST", url, headers, {}, tampered))


# ---- parsing ----------------------------------------------------------------------------------


def parse(provider, fields: dict[str, str]):
    return provider.parse_webhook(
        WebhookRequest("POST", "https://x/webhooks/twilio", {}, {}, urlencode(fields).encode())
    )


def test_inbound_sms_with_media(doc_provider):
    batch = parse(
        doc_provider,
        {
            "MessageSid": "MM1",
            "SmsSid": "MM1",
            "AccountSid": "AC123",
            "From": "+14158675309",
            "To": "+14155550100",
            "Body": "Here is the photo",
            "NumMedia": "2",
            "NumSegments": "1",
            "MediaUrl0": "https://api.twilio.com/m/0",
            "MediaContentType0": "image/jpeg",
            "MediaUrl1": "https://api.twilio.com/m/1",
            "MediaContentType1": "application/pdf",
            "SmsStatus": "received",
        },
    )
    assert batch.statuses == []
    [event] = batch.inbound
    assert (event.provider_message_id, event.channel, event.from_number, event.to_number, event.body) == (
        "MM1",
        "sms",
        "+14158675309",
        "+14155550100",
        "Here is the photo",
    )
    assert [(m.url, m.content_type) for m in event.media] == [
        ("https://api.twilio.com/m/0", "image/jpeg"),
        ("https://api.twilio.com/m/1", "application/pdf"),
    ]


def test_inbound_whatsapp_strips_prefix_and_keeps_profile_name(doc_provider):
    [event] = parse(
        doc_provider,
        {
            "MessageSid": "SM2",
            "From": "whatsapp:+14158675309",
            "To": "whatsapp:+14155550199",
            "Body": "Hola",
            "NumMedia": "0",
            "ProfileName": "Sheena",
            "WaId": "14158675309",
        },
    ).inbound
    assert (event.channel, event.from_number, event.to_number, event.profile_name) == (
        "whatsapp",
        "+14158675309",
        "+14155550199",
        "Sheena",
    )
    assert event.media == ()


@pytest.mark.parametrize(
    "twilio_status, parley",
    [("delivered", DELIVERED), ("undelivered", UNDELIVERED), ("queued", SENDING), ("failed", FAILED)],
)
def test_status_callbacks_map_to_parley_vocabulary(doc_provider, twilio_status, parley):
    fields = {"MessageSid": "SM3", "MessageStatus": twilio_status, "From": OURS, "To": CUSTOMER}
    if twilio_status in ("undelivered", "failed"):
        fields.update(ErrorCode="30003", ErrorMessage="Unreachable destination handset")
    [status] = parse(doc_provider, fields).statuses
    assert (status.provider_message_id, status.status) == ("SM3", parley)
    if twilio_status in ("undelivered", "failed"):
        assert (status.error_code, status.error_message) == ("30003", "Unreachable destination handset")
    else:
        assert status.error_code is None


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not a form",
        b"AccountSid=AC1&Foo=bar",
        b"From=%2B14158675309&Body=hi",
        b"MessageSid=SM1&From=nonsense&Body=hi",
    ],
)
def test_malformed_bodies_raise(doc_provider, body):
    with pytest.raises(MalformedWebhook):
        doc_provider.parse_webhook(WebhookRequest("POST", "https://x", {}, {}, body))


# ---- media ------------------------------------------------------------------------------------


def test_fetch_media_uses_basic_auth_and_follows_the_redirect(fake, provider):
    url = fake.add_media(b"\xff\xd8jpeg-bytes", "image/jpeg")
    assert provider.fetch_media(InboundMedia("image/jpeg", url=url)) == b"\xff\xd8jpeg-bytes"
    api_get, storage_get = fake.requests[-2:]
    assert "/Media/ME" in api_get.path and api_get.headers["authorization"] == basic(fake.account_sid, fake.auth_token)
    assert storage_get.path.startswith("/storage/")


def test_credentials_are_not_sent_to_other_hosts(fake):
    """A configured media host gets no Twilio credentials (only Twilio's own API host does)."""
    other = fake.url.replace("127.0.0.1", "localhost")
    provider = TwilioProvider(fake.account_sid, fake.auth_token, base_url=fake.url, media_hosts=(other,))
    url = fake.add_media(b"x").replace("127.0.0.1", "localhost")
    with pytest.raises(ProviderError) as info:
        provider.fetch_media(InboundMedia("image/jpeg", url=url))
    assert info.value.http_status == 401 and not info.value.retryable
    assert "authorization" not in fake.requests[-1].headers


def test_media_from_a_foreign_host_is_never_fetched(fake, provider):
    """Issue 18.10: a signed webhook's MediaUrl pointing at Parley itself (or anything else) is refused."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        port = other.getsockname()[1]
    before = len(fake.requests)
    for url in (f"http://127.0.0.1:{port}/healthz", "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd"):
        with pytest.raises(ProviderError) as info:
            provider.fetch_media(InboundMedia("image/png", url=url))
        assert info.value.code == "media_host" and "not on Twilio's media servers" in info.value.message
    assert len(fake.requests) == before


def test_a_redirect_off_the_media_hosts_is_not_followed(fake, provider):
    url = fake.add_media(b"x")
    media_sid = url.rsplit("/", 1)[-1]
    fake._media[media_sid] = (b"x", "image/png")
    original = fake._reply

    def redirect_elsewhere(h, status, data, content_type, headers=None):
        if status == 307:
            headers = {"Location": "http://10.0.0.1/internal"}
        return original(h, status, data, content_type, headers)

    fake._reply = redirect_elsewhere
    with pytest.raises(ProviderError) as info:
        provider.fetch_media(InboundMedia("image/png", url=url))
    assert info.value.code == "media_host"


def test_media_larger_than_the_limit_is_refused(fake):
    provider = TwilioProvider(fake.account_sid, fake.auth_token, base_url=fake.url, media_max_bytes=1000)
    url = fake.add_media(b"\x89PNG" + b"0" * 5000, "image/png")
    with pytest.raises(ProviderError) as info:
        provider.fetch_media(InboundMedia("image/png", url=url))
    assert "larger than" in info.value.message and not info.value.retryable


def test_e164_is_the_projects_one_parser():
    """Issue 16: the regex fallback accepted numbers phonenumbers rejects."""
    from core.providers import http

    assert http.e164("whatsapp:+14158675309") == "+14158675309"
    assert http.e164("14158675309") == "+14158675309"
    assert http.e164("+19999999999") is None  # no such area code: the old fallback said "+19999999999"
    assert http.e164("+1234567") is None
