"""Issue 17's hostile-input suite, route half: every webhook route, ``/files/<token>``, sign-in cookie
routes, notifications and health, fed hostile values (``tests/hostile.py``), forged and replayed
signatures, wrong content types, huge and undecodable bodies.

One server (a runtime with its workers; Twilio and WhatsApp configured against loopback fakes)
serves the whole module; each case checks its own answer (literal status and body), what it
stored (the raw bytes exactly; the message text exactly, as text), and that nothing else in the
database moved.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import quote, urlencode

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from core import clock, runtime
from core.actions import messaging
from core.actions.messaging import Attachment
from core.auth import get_user
from core.providers.twilio_webhooks import compute_signature
from tests import factories as f
from tests.fakes.graph_server import FakeGraph
from tests.fakes.twilio_server import FakeTwilio
from tests.hostile import BOOKKEEPING, MEGABYTE, NAMES, VALUES, changes, snapshot

APP_SECRET = "hostile-app-secret"
VERIFY = "hostile-verify-token"
PNID = "106540352242922"
SMS, WA = "+14155550100", "+14155550199"
BASE = "http://testserver"
TWILIO_ACK = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
DEADLINE = 60  # seconds for the applier on a loaded 2-core machine


@pytest.fixture(autouse=True)
def _reset_clock_and_runtime():
    """The module's server outlives each test (the suite-wide fixture would stop it after each)."""
    yield
    clock.freeze(None)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-routes")
    with FakeTwilio() as twilio, FakeGraph() as graph, pytest.MonkeyPatch.context() as mp:
        for key, value in {
            "PARLEY_TWILIO_ACCOUNT_SID": twilio.account_sid,
            "PARLEY_TWILIO_AUTH_TOKEN": twilio.auth_token,
            "PARLEY_TWILIO_BASE_URL": twilio.url,
            "PARLEY_WHATSAPP_TOKEN": graph.access_token,
            "PARLEY_WHATSAPP_APP_SECRET": APP_SECRET,
            "PARLEY_WHATSAPP_VERIFY_TOKEN": VERIFY,
            "PARLEY_WHATSAPP_BASE_URL": graph.url,
        }.items():
            mp.setenv(key, value)
        config = runtime.Config(
            db_path=root / "parley.duckdb",
            media_dir=root / "media",
            demo=False,
            secret_key=b"hostile-secret",
            public_url=None,
            port=0,
        )
        runtime.stop()
        rt = runtime.start(config, workers=True)
        f.always_open(rt.db)
        sms = f.add_sender(rt.db, phone=SMS, provider="twilio")
        f.add_sender(rt.db, phone=WA, channel="whatsapp", provider="whatsapp_cloud", provider_ref=PNID)
        from core.actions.users import do_create_user

        admin = do_create_user(rt.db, None, "ada", "Ada", "admin", "long-enough-pw")
        maria = get_user(rt.db, do_create_user(rt.db, admin, "maria", "Maria", "standard", "long-enough-pw").id)
        conv = f.add_conversation(rt.db, contact_id=f.add_contact(rt.db, name="Zoë"), sender_id=sms, owner_id=maria.id)
        picture = Attachment(filename="tooth.png", content_type="image/png", data=f.picture_bytes())
        sent = messaging.do_send(rt.db, maria, conv, "Your x-ray", attachments=[picture], media_store=rt.media)
        token = rt.db.scalar("SELECT token FROM media WHERE message_id = ?", [sent])
        with TestClient(Starlette(routes=__import__("routes").ROUTES)) as client:
            yield dict(rt=rt, client=client, twilio=twilio, token=token, maria=maria)
        runtime.stop()


def wait_for(predicate, what: str):
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {DEADLINE} s: {what}")


_numbers = iter(range(1000, 9999))


def new_phone() -> str:
    return f"+1646555{next(_numbers):04d}"


def stored_row(db, body: bytes):
    return db.fetchone("SELECT id, provider, state, error, body FROM webhook_inbox WHERE body = ?", [body])


def settled(db, body: bytes):
    """Wait until the stored webhook with exactly these bytes is applied (or kept for review); its row."""
    wait_for(lambda: (stored_row(db, body) or (0, 0, "pending"))[2] != "pending", "the webhook applied")
    return stored_row(db, body)


def quiet(db):
    """Nothing of an earlier case is still being applied or sent."""
    wait_for(
        lambda: (
            db.scalar("SELECT count(*) FROM webhook_inbox WHERE state = 'pending'") == 0
            and db.scalar("SELECT count(*) FROM outbox WHERE state NOT IN ('done', 'cancelled')") == 0
        ),
        "the applier and dispatcher idle",
    )
    return snapshot(db)


# ---- signing as each provider does ----------------------------------------------------------------


def twilio_post(s, params, *, signature=None, content_type="application/x-www-form-urlencoded", raw=None):
    body = raw if raw is not None else urlencode(params).encode()
    headers = {"content-type": content_type}
    headers["x-twilio-signature"] = (
        signature
        if signature is not None
        else compute_signature(s["twilio"].auth_token, BASE + "/webhooks/twilio", params)
    )
    return body, s["client"].post("/webhooks/twilio", content=body, headers=headers)


def meta_signature(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def whatsapp_post(s, body: bytes, *, signature=None, content_type="application/json"):
    headers = {"content-type": content_type, "x-hub-signature-256": signature or meta_signature(body)}
    return s["client"].post("/webhooks/whatsapp", content=body, headers=headers)


def simulator_post(s, body: bytes, *, signature=None):
    secret = s["rt"].config.simulator_secret
    headers = {
        "content-type": "application/json",
        "x-parley-simulator-signature": signature or "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest(),
    }
    return s["client"].post("/webhooks/simulator", content=body, headers=headers)


def twilio_inbound(sid: str, from_phone: str, body: str) -> list[tuple[str, str]]:
    return [
        ("MessageSid", sid),
        ("AccountSid", "AC1"),
        ("From", from_phone),
        ("To", SMS),
        ("Body", body),
        ("NumMedia", "0"),
    ]


def whatsapp_payload(wamid: str, from_phone: str, text: str, profile: str = "Sheena") -> bytes:
    wa_id = from_phone.lstrip("+")
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": WA.lstrip("+"), "phone_number_id": PNID},
        "contacts": [{"profile": {"name": profile}, "wa_id": wa_id}],
        "messages": [
            {"from": wa_id, "id": wamid, "timestamp": str(int(time.time())), "type": "text", "text": {"body": text}}
        ],
    }
    # ensure_ascii: every character as a JSON escape, as Meta sends them (a lone surrogate too).
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
        }
    ).encode()


def simulator_payload(pid: str, from_phone: str, text: str) -> bytes:
    return json.dumps(
        {
            "type": "inbound",
            "id": pid,
            "channel": "sms",
            "from": from_phone,
            "to": SMS,
            "body": text,
            "at": clock.utcnow().isoformat(),
        }  # fmt: skip
    ).encode()


# ---- a hostile text in an incoming message, by provider ---------------------------------------------

# What each value becomes as a message's text (None: the body is too large to be read at all).
INBOUND_TEXT = {
    **{name: VALUES[name] for name in NAMES},
    "one_megabyte": None,
    # JSON's "\udce9" (and Twilio's %E9, which a form decodes to U+FFFD): the broken byte shows
    # as U+FFFD, and the message arrives.
    "invalid_utf8": "caf\ufffd",
}


def _inbound_case(s, provider: str, name: str):
    db = s["rt"].db
    before = quiet(db)
    phone, ref = new_phone(), f"hostile-{provider}-{name}"
    if provider == "twilio":
        params = twilio_inbound("SM" + ref, phone, VALUES[name])
        if name == "invalid_utf8":  # a raw Latin-1 byte, percent-escaped in the form as it was sent
            params = twilio_inbound("SM" + ref, phone, "caf\ufffd")
            raw = urlencode(twilio_inbound("SM" + ref, phone, "caf")).replace("Body=caf", "Body=caf%E9").encode()
            body, response = twilio_post(s, params, raw=raw)
        else:
            body, response = twilio_post(s, params)
        ack = (200, TWILIO_ACK)
        pid = "SM" + ref
    elif provider == "whatsapp":
        body = whatsapp_payload("wamid." + ref, phone, VALUES[name])
        response = whatsapp_post(s, body)
        ack, pid = (200, "ok"), "wamid." + ref
    else:
        body = simulator_payload("SIM" + ref, phone, VALUES[name])
        response = simulator_post(s, body)
        ack, pid = (200, "ok"), "SIM" + ref
    expected = INBOUND_TEXT[name]
    if expected is None:
        assert (response.status_code, response.text) == (413, "Payload too large.")
        assert quiet(db) == before
        return
    assert (response.status_code, response.text) == ack
    row = settled(db, body)
    assert (row[1], row[2], row[3], bytes(row[4])) == (provider, "applied", None, body)  # the raw bytes, exactly
    assert db.fetchall("SELECT body, direction, status FROM messages WHERE provider_message_id = ?", [pid]) == [
        (expected, "in", "received")
    ]
    changed = changes(before, quiet(db))
    # A new number: one contact, one conversation, one message, one stored webhook; nothing else.
    for table in ("webhook_inbox", "messages", "conversations", "contacts"):
        assert changed.pop(table) == (0, 1), table
    assert changed.pop("users", (1, 1)) == (1, 1)  # the owner's inbox version moved, no one else's
    assert set(changed) <= BOOKKEEPING | {"read_markers"}, changed


@pytest.mark.parametrize("name", NAMES)
def test_twilio_sms_text(server, name):
    _inbound_case(server, "twilio", name)


@pytest.mark.parametrize("name", NAMES)
def test_whatsapp_cloud_text(server, name):
    _inbound_case(server, "whatsapp", name)


@pytest.mark.parametrize("name", NAMES)
def test_simulator_text(server, name):
    _inbound_case(server, "simulator", name)


# A WhatsApp profile name becomes a new contact's name: as text, exactly as a person could have
# typed it (control characters are spaces; cut to the 120 characters a name holds).
PROFILE_NAME = {
    **{name: VALUES[name] for name in NAMES},
    "nul": "a b",
    "one_megabyte": None,  # the payload is over the size limit
    "invalid_utf8": "caf\ufffd",
}


@pytest.mark.parametrize("name", NAMES)
def test_whatsapp_profile_name(server, name):
    s = server
    db = s["rt"].db
    before = quiet(db)
    phone = new_phone()
    body = whatsapp_payload(f"wamid.profile-{name}", phone, "Hello", profile=VALUES[name])
    response = whatsapp_post(s, body)
    if PROFILE_NAME[name] is None:
        assert (response.status_code, response.text) == (413, "Payload too large.")
        assert quiet(db) == before
        return
    assert (response.status_code, response.text) == (200, "ok")
    assert settled(db, body)[2] == "applied"
    assert db.fetchall("SELECT name FROM contacts WHERE phone = ?", [phone]) == [(PROFILE_NAME[name],)]


# ---- a hostile provider error on a status callback ---------------------------------------------------

# The reason shown beside ⚠: the provider's words, as text (with the code after them).
ERROR_REASON = {
    **{name: VALUES[name] + " (error 30999)" for name in NAMES},
    "one_megabyte": None,
    "invalid_utf8": "caf\ufffd (error 30999)",
}


@pytest.mark.parametrize("name", NAMES)
def test_twilio_status_error_message(server, name):
    s = server
    db = s["rt"].db
    sid = f"SMstatus{name}"
    conv = f.add_conversation(db, contact_id=f.add_contact(db), sender_id=1, owner_id=s["maria"].id)
    mid = f.add_message(db, contact_id=db.scalar("SELECT contact_id FROM conversations WHERE id = ?", [conv]),
                        sender_id=1, conversation_id=conv, body="Reminder", status="sent")  # fmt: skip
    db.write(lambda tx: tx.execute("UPDATE messages SET provider_message_id = ? WHERE id = ?", [sid, mid]))
    before = quiet(db)
    message = "caf\ufffd" if name == "invalid_utf8" else VALUES[name]
    params = [("MessageSid", sid), ("MessageStatus", "undelivered"), ("ErrorCode", "30999"), ("ErrorMessage", message)]
    body, response = twilio_post(s, params)
    if ERROR_REASON[name] is None:
        assert (response.status_code, response.text) == (413, "Payload too large.")
        assert quiet(db) == before
        return
    assert (response.status_code, response.text) == (200, TWILIO_ACK)
    assert settled(db, body)[2] == "applied"
    assert db.fetchone("SELECT status, error_code, error_reason FROM messages WHERE id = ?", [mid]) == (
        "undelivered",
        "30999",
        ERROR_REASON[name],
    )
    changed = changes(before, quiet(db))
    assert changed.pop("webhook_inbox") == (0, 1)
    assert changed.pop("messages") == (1, 1)  # this message's row, no other
    assert changed.pop("users", (1, 1)) == (1, 1)
    assert set(changed) <= BOOKKEEPING | {"conversations"}, changed


# ---- forged and replayed signatures ------------------------------------------------------------------


def _signed(s, provider: str, ref: str):
    """(body, headers) of a good inbound webhook from ``provider``, as it would post it."""
    phone = new_phone()
    if provider == "twilio":
        params = twilio_inbound("SM" + ref, phone, "Is Tuesday free?")
        sig = compute_signature(s["twilio"].auth_token, BASE + "/webhooks/twilio", params)
        return urlencode(params).encode(), {
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": sig,
        }
    if provider == "whatsapp":
        body = whatsapp_payload("wamid." + ref, phone, "Is Tuesday free?")
        return body, {"content-type": "application/json", "x-hub-signature-256": meta_signature(body)}
    body = simulator_payload("SIM" + ref, phone, "Is Tuesday free?")
    secret = s["rt"].config.simulator_secret
    return body, {
        "content-type": "application/json",
        "x-parley-simulator-signature": "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest(),
    }


SIGNATURE_HEADER = {
    "twilio": "x-twilio-signature",
    "whatsapp": "x-hub-signature-256",
    "simulator": "x-parley-simulator-signature",
}


def _forge(s, provider: str, how: str, ref: str) -> tuple[bytes, dict[str, str]]:
    body, headers = _signed(s, provider, ref)
    header = SIGNATURE_HEADER[provider]
    if how == "missing":
        del headers[header]
    elif how == "empty":
        headers[header] = ""
    elif how == "wrong_secret":
        if provider == "twilio":
            params = twilio_inbound("SM" + ref, "+16465550000", "x")
            headers[header] = compute_signature("not-the-token", BASE + "/webhooks/twilio", params)
        else:
            headers[header] = "sha256=" + hmac.new(b"not-the-secret", body, hashlib.sha256).hexdigest()
    elif how == "replayed_onto_other_body":
        # A signature seen on one real webhook, sent with another body.
        other, other_headers = _signed(s, provider, ref + "-other")
        headers[header] = other_headers[header]
    elif how == "body_changed_after_signing":
        body = body.replace(b"Tuesday", b"Friday!")
    elif how == "other_url":
        if provider == "twilio":
            params = twilio_inbound("SM" + ref, "+16465550000", "x")
            headers[header] = compute_signature(s["twilio"].auth_token, BASE + "/webhooks/simulator", params)
        else:
            headers[header] = headers[header].replace("sha256=", "sha1=")
    elif how == "hostile_header":
        headers[header] = VALUES["script"] + VALUES["sql"]
    return body, headers


FORGERIES = ["missing", "empty", "wrong_secret", "replayed_onto_other_body", "body_changed_after_signing",
             "other_url", "hostile_header"]  # fmt: skip
FORGED_ANSWER = (403, "Invalid signature.")


@pytest.mark.parametrize("how", FORGERIES)
@pytest.mark.parametrize("provider", ["twilio", "whatsapp", "simulator"])
def test_forged_signature(server, provider, how):
    s = server
    db = s["rt"].db
    before = quiet(db)
    body, headers = _forge(s, provider, how, f"forged-{provider}-{how}")
    response = s["client"].post(f"/webhooks/{provider}", content=body, headers=headers)
    assert (response.status_code, response.text) == FORGED_ANSWER
    assert quiet(db) == before  # nothing stored, nothing applied


@pytest.mark.parametrize("where", ["start", "end"])
@pytest.mark.parametrize("provider", ["twilio", "whatsapp", "simulator"])
def test_a_signature_with_a_non_ascii_character_is_forged_too(server, provider, where):
    """Review finding 6: hmac.compare_digest refuses two str with a non-ASCII character, so such a
    header (sent as raw bytes, read as Latin-1) was answered 500 with a logged stack trace."""
    s = server
    db = s["rt"].db
    before = quiet(db)
    body, headers = _signed(s, provider, f"non-ascii-{provider}-{where}")
    header = SIGNATURE_HEADER[provider]
    good = headers[header]  # Twilio's is base64; the others "sha256=<hex>"
    prefix = "" if provider == "twilio" else "sha256="
    forged = prefix + "\u00e9" + good[len(prefix) + 1 :] if where == "start" else good + "\u00e9"
    headers[header] = forged.encode("latin-1")
    response = s["client"].post(f"/webhooks/{provider}", content=body, headers=headers)
    assert (response.status_code, response.text) == FORGED_ANSWER
    assert quiet(db) == before  # nothing stored, nothing applied


@pytest.mark.parametrize("body_hash", ["%C3%A9", "%E2%80%AE" + "0" * 64])
def test_a_twilio_body_hash_with_a_non_ascii_character_is_forged_too(server, body_hash):
    """Twilio's JSON webhooks carry the body's SHA-256 in the URL (``bodySHA256``): a non-ASCII one
    was a 500 too."""
    s = server
    db = s["rt"].db
    before = quiet(db)
    body = json.dumps({"MessageSid": "SMhash", "MessageStatus": "delivered"}).encode()
    headers = {"content-type": "application/json", "x-twilio-signature": "bm90LWEtc2lnbmF0dXJl"}
    response = s["client"].post(f"/webhooks/twilio?bodySHA256={body_hash}", content=body, headers=headers)
    assert (response.status_code, response.text) == FORGED_ANSWER
    assert quiet(db) == before


@pytest.mark.parametrize("provider", ["twilio", "whatsapp", "simulator"])
def test_replayed_webhook_is_applied_once(server, provider):
    """A provider's retry (or an attacker's replay) of a genuine webhook: acknowledged, stored, applied once."""
    s = server
    db = s["rt"].db
    body, headers = _signed(s, provider, f"replayed-{provider}")
    before = quiet(db)
    answers = [s["client"].post(f"/webhooks/{provider}", content=body, headers=headers).status_code for _ in range(3)]
    assert answers == [200, 200, 200]
    after = quiet(db)
    assert db.scalar("SELECT count(*) FROM webhook_inbox WHERE body = ? AND state = 'applied'", [body]) == 3
    changed = changes(before, after)
    for table in ("messages", "conversations", "contacts"):
        assert changed.pop(table) == (0, 1), table
    assert changed.pop("webhook_inbox") == (0, 3)
    assert changed.pop("users", (1, 1)) == (1, 1)  # the owner's inbox version moved, no one else's
    assert set(changed) <= BOOKKEEPING | {"read_markers"}, changed


# ---- wrong content types, undecodable and huge bodies -----------------------------------------------


def _signed_raw(s, provider: str, body: bytes, content_type: str) -> dict[str, str]:
    if provider == "twilio":  # Twilio signs the URL and the form fields it sent; a non-form body has none
        return {"content-type": content_type, "x-twilio-signature": compute_signature(
            s["twilio"].auth_token, BASE + "/webhooks/twilio", [])}  # fmt: skip
    secret = APP_SECRET.encode() if provider == "whatsapp" else s["rt"].config.simulator_secret
    header = SIGNATURE_HEADER[provider]
    return {"content-type": content_type, header: "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()}


# (provider, what, body, content type) -> (status, answer text, stored state or None)
ODD_BODIES = {
    ("twilio", "json_body"): (b'{"MessageSid": "SMjson", "Body": "hi"}', "application/json",
                              403, "Invalid signature.", None),
    ("twilio", "xml_body"): (b"<Response><Message>hi</Message></Response>", "text/xml",
                             403, "Invalid signature.", None),
    ("twilio", "not_utf8"): (b"Body=caf\xe9&MessageSid=SMx", "application/x-www-form-urlencoded",
                             403, "Invalid signature.", None),
    ("twilio", "empty"): (b"", "application/x-www-form-urlencoded",
                          400, "Malformed payload; it was recorded for review.", "malformed"),
    ("whatsapp", "form_body"): (b"entry=1&object=whatsapp_business_account", "application/x-www-form-urlencoded",
                                400, "Malformed payload; it was recorded for review.", "malformed"),
    ("whatsapp", "not_utf8"): (b'{"object": "caf\xe9"}', "application/json",
                               400, "Malformed payload; it was recorded for review.", "malformed"),
    ("whatsapp", "json_array"): (b"[1, 2, 3]", "application/json",
                                 400, "Malformed payload; it was recorded for review.", "malformed"),
    ("whatsapp", "nul_bytes"): (b"\x00" * 64, "application/octet-stream",
                                400, "Malformed payload; it was recorded for review.", "malformed"),
    ("whatsapp", "empty"): (b"", "application/json",
                            400, "Malformed payload; it was recorded for review.", "malformed"),
    ("simulator", "form_body"): (b"type=inbound&id=x", "application/x-www-form-urlencoded",
                                 400, "Malformed payload; it was recorded for review.", "malformed"),
    ("simulator", "not_utf8"): (b'{"id": "caf\xe9"}', "application/json",
                                400, "Malformed payload; it was recorded for review.", "malformed"),
    ("simulator", "json_string"): (b'"inbound"', "application/json",
                                   400, "Malformed payload; it was recorded for review.", "malformed"),
}  # fmt: skip


@pytest.mark.parametrize("provider,what", list(ODD_BODIES), ids=[f"{p}-{w}" for p, w in ODD_BODIES])
def test_wrong_content_type_or_undecodable_body(server, provider, what):
    s = server
    db = s["rt"].db
    body, content_type, status, text, state = ODD_BODIES[(provider, what)]
    before = quiet(db)
    response = s["client"].post(
        f"/webhooks/{provider}", content=body, headers=_signed_raw(s, provider, body, content_type)
    )
    assert (response.status_code, response.text) == (status, text)
    after = quiet(db)
    changed = changes(before, after)
    if state is None:
        assert changed == {}
        return
    # Recorded for review, byte for byte; applied to nothing.
    assert changed == {"webhook_inbox": (0, 1)}
    assert db.fetchall(
        "SELECT provider, state, body FROM webhook_inbox WHERE id = (SELECT max(id) FROM webhook_inbox)"
    ) == [(provider, state, body)]


@pytest.mark.parametrize("size", [MEGABYTE + 1, 8 * MEGABYTE])
@pytest.mark.parametrize("provider", ["twilio", "whatsapp", "simulator"])
def test_huge_body(server, provider, size):
    s = server
    db = s["rt"].db
    before = quiet(db)
    body = b"A" * size
    response = s["client"].post(
        f"/webhooks/{provider}", content=body, headers=_signed_raw(s, provider, body, "application/json")
    )
    assert (response.status_code, response.text) == (413, "Payload too large.")
    assert quiet(db) == before


UNKNOWN_ROUTES = {
    "nope": "Unknown webhook.",
    "twilio%00": "Unknown webhook.",
    "%3Cscript%3E": "Unknown webhook.",
    "..%2F..%2Fetc%2Fpasswd": "Not Found",  # an encoded '/' is a '/': no route matches at all
}


@pytest.mark.parametrize("provider", list(UNKNOWN_ROUTES))
def test_unknown_webhook_route(server, provider):
    s = server
    before = quiet(s["rt"].db)
    response = s["client"].post(f"/webhooks/{provider}", content=b"{}", headers={"content-type": "application/json"})
    assert (response.status_code, response.text) == (404, UNKNOWN_ROUTES[provider])
    assert quiet(s["rt"].db) == before


# ---- the WhatsApp verification handshake ---------------------------------------------------------------

HANDSHAKES = {
    "right_token_hostile_challenge": (
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": VALUES["script"]},
        200, VALUES["script"],  # echoed as text/plain, as Meta expects: inert
    ),
    "wrong_token": ({"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"},
                    403, "Verification failed."),
    "hostile_token": ({"hub.mode": "subscribe", "hub.verify_token": VALUES["sql"], "hub.challenge": "1"},
                      403, "Verification failed."),
    "non_ascii_token": ({"hub.mode": "subscribe", "hub.verify_token": "caf\u00e9\u202e", "hub.challenge": "1"},
                        403, "Verification failed."),
    "no_mode": ({"hub.verify_token": VERIFY, "hub.challenge": "1"}, 403, "Verification failed."),
    "nothing": ({}, 403, "Verification failed."),
}  # fmt: skip


@pytest.mark.parametrize("case", list(HANDSHAKES))
def test_whatsapp_handshake(server, case):
    query, status, text = HANDSHAKES[case]
    response = server["client"].get("/webhooks/whatsapp", params=query)
    assert (response.status_code, response.text) == (status, text)
    assert response.headers["content-type"].startswith("text/plain")


# ---- /files/<token> ------------------------------------------------------------------------------------

FILE_TOKENS = {name: quote(VALUES[name][:2000], safe="") for name in NAMES if name != "invalid_utf8"}
FILE_TOKENS.update(
    {
        "invalid_utf8": "caf%E9",
        "dot_dot": "..",
        "encoded_traversal": "..%2F..%2F..%2Fetc%2Fpasswd",
        "double_encoded": "%252e%252e%252fparley.duckdb",
        "backslashes": "..%5C..%5Cparley.duckdb",
        "nul_then_token": "%00",
        "sql_in_token": "x'%20OR%20'1'='1",
        "database_file": "parley.duckdb",
    }
)


@pytest.mark.parametrize("case", list(FILE_TOKENS))
def test_files_route_refuses_what_is_not_a_token(server, case):
    response = server["client"].get(f"/files/{FILE_TOKENS[case]}")
    assert (response.status_code, response.text) in {(404, "Not found"), (404, "Not Found")}
    assert b"DUCK" not in response.content and b"root:" not in response.content


def test_files_route_serves_a_real_token_as_a_download(server):
    response = server["client"].get(f"/files/{server['token']}")
    assert response.status_code == 200
    assert response.content == f.picture_bytes()
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == 'attachment; filename="tooth.png"'


# ---- sign-in cookie, sign-out, notifications and health ---------------------------------------------------

# Header-safe forms of the values (HTTP headers carry Latin-1 at most): the rest are URL-quoted.
HEADER_VALUES = {
    name: (VALUES[name] if VALUES[name].isascii() and VALUES[name].isprintable() else quote(VALUES[name][:4096]))
    for name in NAMES
    if name != "invalid_utf8"
}
HEADER_VALUES["invalid_utf8"] = "caf%E9"


@pytest.mark.parametrize("name", NAMES)
def test_sign_in_ticket(server, name):
    s = server
    before = quiet(s["rt"].db)
    body = VALUES[name].encode("utf-8", "surrogateescape")
    response = s["client"].post("/auth/session", content=body)
    assert (response.status_code, response.json()) == (400, {"error": "This sign-in link has expired; sign in again."})
    assert "set-cookie" not in response.headers
    assert quiet(s["rt"].db) == before


@pytest.mark.parametrize("name", NAMES)
def test_cookie_on_sign_out_and_notifications(server, name):
    s = server
    client = s["client"]
    before = quiet(s["rt"].db)
    cookie = {"parley_session": HEADER_VALUES[name][:4096]}
    response = client.get("/api/notifications", cookies=cookie)
    assert (response.status_code, response.json()) == (401, {"error": "Sign in first."})
    response = client.post("/auth/logout", cookies=cookie)
    assert response.status_code == 204
    client.cookies.clear()
    assert quiet(s["rt"].db) == before


@pytest.mark.parametrize("name", NAMES)
def test_health_with_a_hostile_bearer(server, name):
    response = server["client"].get("/healthz", headers={"authorization": "Bearer " + HEADER_VALUES[name][:4096]})
    assert (response.status_code, response.json()) == (200, {"ok": True})


# Cookie headers as raw bytes, as a real server passes them on (Starlette decodes them as Latin-1:
# b"\xb2" is "²", which str.isdigit() takes for a digit and int() refuses). TestClient re-encodes
# header values as UTF-8, so the cases above never send these.
RAW_COOKIES = {
    "superscript_id": b"parley_session=\xb2.a.b",
    "superscripts_id": b"parley_session=\xb9\xb2.x.y",
    "digit_then_superscript": b"parley_session=1\xb3.a.b",
    "latin1_token": b"parley_session=1.caf\xe9.abc",
}
SIGN_IN_FIRST = {"error": "Sign in first."}
COOKIE_ROUTES = {
    # path: the literal answer (status, JSON) to a cookie that names no live session
    ("GET", "/healthz"): (200, {"ok": True}),
    ("GET", "/api/notifications"): (401, SIGN_IN_FIRST),
    ("GET", "/api/notifications/version?user=1"): (403, {"error": "Your session has ended; sign in again."}),
    ("GET", "/api/inbox/version?owner=1"): (401, SIGN_IN_FIRST),
    ("GET", "/api/conversations/1/version"): (401, SIGN_IN_FIRST),
    ("POST", "/api/blank-page"): (401, SIGN_IN_FIRST),
    ("POST", "/auth/logout"): (204, None),
}


@pytest.mark.parametrize("route", list(COOKIE_ROUTES), ids=lambda r: f"{r[0]} {r[1]}")
@pytest.mark.parametrize("cookie", list(RAW_COOKIES))
def test_cookie_header_bytes_as_a_server_passes_them(server, route, cookie):
    from routes import ROUTES
    from tests.routes.asgi import call, json_answer

    before = quiet(server["rt"].db)
    method, path = route
    answer = call(Starlette(routes=ROUTES), method, path, [(b"cookie", RAW_COOKIES[cookie])])
    assert json_answer(answer) == COOKIE_ROUTES[route]
    assert quiet(server["rt"].db) == before
