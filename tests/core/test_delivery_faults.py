"""Issue 18, sending: providers that fail the way real ones do, over real loopback HTTP.

- a read timeout (the provider created the message but answered too late) is looked up, never resent
  blindly: 30 messages, 30 created, none twice;
- a request lost without an answer is looked up, not found, and then sent once;
- a status callback echoing Parley's id (Twilio's StatusCallback token, WhatsApp's
  ``biz_opaque_callback_data``) settles an unknown send without any lookup;
- WhatsApp cannot be asked: an unknown send waits for a callback, then the agent decides;
- a gateway's 502 or 504 on create is an unknown outcome too (the API behind it may have acted):
  looked up, not resent blindly;
- an outage (500 or refused connections) keeps messages queued with the reason and the next try,
  and they all go exactly once when the provider is back;
- one hanging provider beside a healthy one: the healthy one keeps its rate.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from core import clock, delivery
from core.actions import messaging
from core.delivery import Dispatcher
from core.delivery_outcomes import backlog
from core.delivery_pacing import RetryPolicy
from core.engine import ProviderBook
from core.ingest_apply import WebhookApplier
from core.media_store import MediaStore
from core.providers.twilio_webhooks import compute_signature
from core.workers import LoopWorker
from tests import factories as f
from tests.fakes.graph_server import FakeGraph
from tests.fakes.twilio_server import FakeTwilio

APP_SECRET = "graph-app-secret"
PNID = "106540352242922"
PUBLIC = "https://parley.example"
DEADLINE = 60  # seconds; only reached when something is broken


@pytest.fixture
def twilio():
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def graph():
    with FakeGraph() as fake:
        yield fake


@pytest.fixture
def ws(db, make_user, twilio, graph):
    f.always_open(db)
    maria = make_user("maria")
    make_user("ada", "admin")
    sms = f.add_sender(db, provider="twilio", rate=1000)
    wa = f.add_sender(db, channel="whatsapp", provider="whatsapp_cloud", provider_ref=PNID, rate=1000)
    env = {
        "PARLEY_TWILIO_ACCOUNT_SID": twilio.account_sid,
        "PARLEY_TWILIO_AUTH_TOKEN": twilio.auth_token,
        "PARLEY_TWILIO_BASE_URL": twilio.url,
        "PARLEY_WHATSAPP_TOKEN": graph.access_token,
        "PARLEY_WHATSAPP_APP_SECRET": APP_SECRET,
        "PARLEY_WHATSAPP_VERIFY_TOKEN": "verify",
        "PARLEY_WHATSAPP_BASE_URL": graph.url,
    }
    book = ProviderBook(db, simulator_url="http://127.0.0.1:9/unused", simulator_secret=b"unused", demo=False, env=env)
    yield dict(maria=maria, sms=sms, wa=wa, env=env, book=book)
    book.close()


def short_timeouts(book, read: float = 0.5) -> None:
    for name in ("twilio", "whatsapp_cloud"):
        book.provider(name).timeout = (1.0, read)


def conversations(db, ws, sender: str, n: int) -> list[int]:
    return [
        f.add_conversation(
            db, contact_id=f.add_contact(db, name=f"Customer {i}"), sender_id=ws[sender], owner_id=ws["maria"].id
        )  # fmt: skip
        for i in range(n)
    ]


def make_dispatcher(db, ws, *, callbacks: bool = False, **policy) -> Dispatcher:
    return Dispatcher(
        db,
        ws["book"].for_sender,
        media_url=lambda token: f"{PUBLIC}/files/{token}",
        status_callback_url=lambda p: f"{PUBLIC}/webhooks/twilio" if callbacks and p == "twilio" else None,
        threads=8,
        policy=RetryPolicy(**policy),
    )


def send_all_due(db, dispatcher) -> None:
    """Steps until nothing due is left pending (a step claims at most a sender's share)."""
    while db.scalar("SELECT count(*) FROM outbox WHERE state = 'pending' AND due_at <= ?", [clock.utcnow()]):
        dispatcher.step()


def run_until_settled(db, dispatcher, rounds: int = 40) -> None:
    """Step the dispatcher, moving the clock to each next due time, until nothing waits."""
    for _ in range(rounds):
        dispatcher.step()
        due = db.scalar("SELECT min(due_at) FROM outbox WHERE state IN ('pending', 'unknown')")
        if due is None:
            return
        clock.freeze(max(clock.utcnow(), due) + dt.timedelta(seconds=1))
    raise AssertionError("the outbox never settled")


def outbox_states(db) -> dict[str, int]:
    return dict(db.fetchall("SELECT state, count(*) FROM outbox GROUP BY 1"))


def counted(**nonzero) -> dict:
    """What ``delivery_outcomes.backlog`` (/healthz) reports: these counts, every other one zero."""
    zero = {"due": 0, "retrying": 0, "oldest_retry_seconds": 0.0, "in_flight": 0, "checking": 0, "interrupted": 0}
    by_reason = ("held_business_hours", "held_quiet_hours", "held_later", "waiting_turn", "failed_24h")
    ages = ("oldest_business_hours_seconds", "oldest_quiet_hours_seconds", "oldest_turn_seconds")
    return zero | dict.fromkeys(by_reason, 0) | dict.fromkeys(ages, 0.0) | nonzero


# ---- 18.1: a read timeout never sends twice ------------------------------------------------


def test_a_late_answer_is_looked_up_and_settled_never_sent_twice(db, ws, twilio):
    short_timeouts(ws["book"])
    convs = conversations(db, ws, "sms", 30)
    mids = [
        messaging.do_send(db, ws["maria"], c, f"Your appointment is at {9 + i % 8}:00") for i, c in enumerate(convs)
    ]
    twilio.delay_answers(1.5)  # created at once, answered after the 0.5 s read timeout
    d = make_dispatcher(db, ws)
    send_all_due(db, d)
    assert len(twilio.created) == 30
    statuses = db.fetchall("SELECT DISTINCT status, error_reason FROM messages WHERE id IN (SELECT unnest(?))", [mids])
    assert statuses == [("interrupted", delivery.CHECKING_REASON)]
    assert outbox_states(db) == {"unknown": 30}
    assert backlog(db) == counted(checking=30)  # flagged and counted, for /healthz
    twilio.heal()
    run_until_settled(db, d)
    assert backlog(db) == counted()
    # Each message was created once and is settled with the provider's own id.
    assert len(twilio.created) == 30 and len(twilio.sends) == 30
    by_body = {}
    for m in twilio.created:
        by_body.setdefault((m["to"], m["body"]), []).append(m["sid"])
    rows = db.fetchall(
        "SELECT m.provider_message_id, ct.phone, m.body, m.status FROM messages m JOIN contacts ct ON ct.id = m.contact_id "
        "WHERE m.id IN (SELECT unnest(?))",
        [mids],
    )
    assert sorted(r[0] for r in rows) == sorted(m["sid"] for m in twilio.created)
    assert all([pid] == by_body[(phone, body)] and status == "sending" for pid, phone, body, status in rows)
    assert outbox_states(db) == {"done": 30}
    d.close()


def test_a_request_lost_without_an_answer_is_looked_up_then_sent_once(db, ws, twilio):
    short_timeouts(ws["book"])
    [conv] = conversations(db, ws, "sms", 1)
    mid = messaging.do_send(db, ws["maria"], conv, "Lost on the way")
    twilio.script(201, {"never": "read"}, delay=1.5)  # answers late and creates nothing
    d = make_dispatcher(db, ws, lookup_tries=2)
    d.step()
    assert db.scalar("SELECT status FROM messages WHERE id = ?", [mid]) == "interrupted"
    run_until_settled(db, d)
    assert twilio.created_bodies() == ["Lost on the way"]
    assert len(twilio.lookups) == 2  # looked twice, then sent
    assert db.fetchone("SELECT m.status, o.state FROM messages m JOIN outbox o ON o.message_id = m.id "
                       "WHERE m.id = ? ORDER BY o.id DESC LIMIT 1", [mid]) == ("sending", "done")  # fmt: skip
    d.close()


def test_two_identical_unknown_sends_take_one_listed_message_each(db, ws, twilio):
    short_timeouts(ws["book"])
    [conv] = conversations(db, ws, "sms", 1)
    first = messaging.do_send(db, ws["maria"], conv, "See you at 3")
    second = messaging.do_send(db, ws["maria"], conv, "See you at 3")
    twilio.delay_answers(1.5, count=1)  # the first is created but answered late; the second is lost
    twilio.script(201, {"never": "read"}, delay=1.5)
    d = make_dispatcher(db, ws, lookup_tries=2)
    # One at a time, so the first goes before the second.
    d.sender_cap = 1
    d.step()
    d.step()
    twilio.heal()
    run_until_settled(db, d)
    assert twilio.created_bodies() == ["See you at 3", "See you at 3"]  # the lost one went once more, no more
    pids = db.fetchall("SELECT provider_message_id FROM messages WHERE id IN (?, ?) ORDER BY id", [first, second])
    assert {p[0] for p in pids} == {m["sid"] for m in twilio.created} and len({p[0] for p in pids}) == 2
    d.close()


def test_a_status_callback_with_parleys_token_settles_an_unknown_send(db, ws, twilio, tmp_path):
    short_timeouts(ws["book"])
    [conv] = conversations(db, ws, "sms", 1)
    mid = messaging.do_send(db, ws["maria"], conv, "Token me")
    twilio.delay_answers(1.5)
    d = make_dispatcher(db, ws, callbacks=True)
    d.step()
    [created] = twilio.created
    callback = twilio.forms[created["sid"]]
    url = dict(callback)["StatusCallback"]
    assert url == f"{PUBLIC}/webhooks/twilio?parley_msg={mid}"
    # Twilio calls the StatusCallback URL exactly as given, signed.
    form = {"MessageSid": created["sid"], "MessageStatus": "sent", "AccountSid": twilio.account_sid}
    body = "&".join(f"{k}={v}" for k, v in form.items()).encode()
    db.write(
        lambda tx: tx.execute(
            "INSERT INTO webhook_inbox (received_at, provider, state, url, content_type, body) "
            "VALUES (?, 'twilio', 'pending', ?, 'application/x-www-form-urlencoded', ?)",
            [clock.utcnow(), url, body],
        )
    )
    assert compute_signature(twilio.auth_token, url, form)  # what Twilio would sign
    WebhookApplier(db, ws["book"], MediaStore(tmp_path / "media")).step()
    assert db.fetchone("SELECT status, provider_message_id, error_reason FROM messages WHERE id = ?", [mid]) == (
        "sent",
        created["sid"],
        None,
    )
    assert outbox_states(db) == {"done": 1}
    twilio.heal()
    clock.freeze(clock.utcnow() + dt.timedelta(hours=1))
    assert d.step() is False and twilio.lookups == [] and len(twilio.created) == 1
    d.close()


def wa_status_payload(wamid: str, status: str, ref: str | None) -> bytes:
    item = {"id": wamid, "status": status, "timestamp": str(int(time.time())), "recipient_id": "14158670100"}
    if ref:
        item["biz_opaque_callback_data"] = ref
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "WABA",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {"display_phone_number": "14155550199", "phone_number_id": PNID},
                                "statuses": [item],
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


def test_whatsapp_unknown_send_is_settled_by_the_echoed_callback_data(db, ws, graph, tmp_path):
    short_timeouts(ws["book"])
    [conv] = conversations(db, ws, "wa", 1)
    mid = messaging.do_send(db, ws["maria"], conv, "Hola")
    graph.delay_answers(1.5)
    d = make_dispatcher(db, ws)
    d.step()
    [(wamid, payload)] = graph.sent
    assert payload["biz_opaque_callback_data"] == f"parley:{mid}"
    assert db.scalar("SELECT status FROM messages WHERE id = ?", [mid]) == "interrupted"
    body = wa_status_payload(wamid, "delivered", payload["biz_opaque_callback_data"])
    db.write(
        lambda tx: tx.execute(
            "INSERT INTO webhook_inbox (received_at, provider, state, url, content_type, body) "
            "VALUES (?, 'whatsapp', 'pending', '/webhooks/whatsapp', 'application/json', ?)",
            [clock.utcnow(), body],
        )
    )
    WebhookApplier(db, ws["book"], MediaStore(tmp_path / "media")).step()
    assert db.fetchone("SELECT status, provider_message_id FROM messages WHERE id = ?", [mid]) == ("delivered", wamid)
    graph.heal()
    run_until_settled(db, d)
    assert len(graph.sent) == 1
    d.close()


def test_whatsapp_unknown_send_without_a_callback_is_left_to_the_agent(db, ws, graph):
    short_timeouts(ws["book"])
    [conv] = conversations(db, ws, "wa", 1)
    mid = messaging.do_send(db, ws["maria"], conv, "Hola")
    graph.delay_answers(1.5)
    d = make_dispatcher(db, ws, callback_wait=600)
    d.step()
    graph.heal()
    clock.freeze(clock.utcnow() + dt.timedelta(minutes=5))
    d.step()
    assert db.fetchone("SELECT status, error_reason FROM messages WHERE id = ?", [mid]) == (
        "interrupted",
        delivery.CHECKING_REASON,
    )
    run_until_settled(db, d)
    assert db.fetchone("SELECT status, error_reason FROM messages WHERE id = ?", [mid]) == (
        "interrupted",
        delivery.INTERRUPTED_REASON,
    )
    assert len(graph.sent) == 1  # never sent again by the dispatcher
    assert backlog(db) == counted(interrupted=1)  # left to the agent, and counted
    messaging.do_retry(db, ws["maria"], mid)  # the agent's decision
    assert backlog(db) == counted(due=1, waiting_turn=1)  # due now: waits only for its turn
    d.step()
    assert len(graph.sent) == 2 and db.scalar("SELECT status FROM messages WHERE id = ?", [mid]) == "sending"
    d.close()


# ---- a gateway's 502 or 504 on create: the outcome is unknown, as for a timeout -------------------


@pytest.mark.parametrize("status", [502, 504])
def test_a_gateway_error_after_twilio_created_the_message_is_looked_up_not_resent(db, ws, twilio, status):
    [conv] = conversations(db, ws, "sms", 1)
    mid = messaging.do_send(db, ws["maria"], conv, "Your table is ready")
    twilio.gateway_error_after_create(status)
    d = make_dispatcher(db, ws)
    d.step()
    assert db.fetchone("SELECT status, error_reason FROM messages WHERE id = ?", [mid]) == (
        "interrupted",
        delivery.CHECKING_REASON,
    )
    assert outbox_states(db) == {"unknown": 1}
    run_until_settled(db, d)
    [created] = twilio.created
    assert len(twilio.sends) == 1 and len(twilio.lookups) == 1  # asked, found, never sent again
    assert db.fetchone("SELECT status, provider_message_id FROM messages WHERE id = ?", [mid]) == (
        "sending",
        created["sid"],
    )
    d.close()


def test_a_gateway_error_where_twilio_created_nothing_is_looked_up_then_sent_once(db, ws, twilio):
    [conv] = conversations(db, ws, "sms", 1)
    mid = messaging.do_send(db, ws["maria"], conv, "Gone astray")
    twilio.script(504, b"<html><body>504 Gateway Time-out</body></html>")  # answered, nothing created
    d = make_dispatcher(db, ws, lookup_tries=2)
    d.step()
    assert db.scalar("SELECT status FROM messages WHERE id = ?", [mid]) == "interrupted"
    run_until_settled(db, d)
    assert twilio.created_bodies() == ["Gone astray"]
    assert len(twilio.lookups) == 2 and len(twilio.sends) == 2  # looked twice, then sent once more
    assert db.scalar("SELECT status FROM messages WHERE id = ?", [mid]) == "sending"
    d.close()


# ---- 18.2: an outage keeps messages queued, then they go once -------------------------------


@pytest.mark.parametrize("how", ["500", "refused"])
def test_an_outage_keeps_messages_queued_with_the_next_try_then_sends_each_once(db, ws, twilio, how):
    short_timeouts(ws["book"])
    convs = conversations(db, ws, "sms", 20)
    mids = [messaging.do_send(db, ws["maria"], c, f"Reminder {i}") for i, c in enumerate(convs)]
    if how == "500":
        twilio.fail_for(3600, 500)
    else:
        twilio.refuse_connections()
    d = make_dispatcher(db, ws)
    start = clock.utcnow()
    clock.freeze(start)
    for _ in range(6):  # six rounds of tries, backing off
        send_all_due(db, d)
        due = db.scalar("SELECT min(due_at) FROM outbox WHERE state = 'pending'")
        clock.freeze(due + dt.timedelta(seconds=1))
    rows = db.fetchall(
        "SELECT m.status, m.error_reason, m.release_at, o.due_at FROM messages m JOIN outbox o ON o.message_id = m.id "
        "WHERE m.id IN (SELECT unnest(?))",
        [mids],
    )
    assert {r[0] for r in rows} == {"queued"}
    expected = "provider unavailable (HTTP 500: Internal Server Error)" if how == "500" else "provider unreachable"
    assert all(r[1].startswith(expected) for r in rows), rows[0][1]
    assert all(r[2] == r[3] and r[2] > start for r in rows)  # the thread shows the next try
    assert twilio.created == []
    waited = (clock.utcnow() - start).total_seconds()
    assert waited > 0 and backlog(db) == counted(retrying=20, oldest_retry_seconds=round(waited, 1))
    if how == "500":
        twilio.heal()
    else:
        twilio.accept_connections()
    # The first message due goes through: the others, backed off up to minutes away, go at once.
    first_due = db.scalar("SELECT min(due_at) FROM outbox WHERE state = 'pending'")
    clock.freeze(first_due + dt.timedelta(seconds=1))
    d.step()
    assert (
        twilio.created
        and db.scalar("SELECT count(*) FROM outbox WHERE state = 'pending' AND due_at > ?", [clock.utcnow()]) == 0
    )
    send_all_due(db, d)
    assert len(twilio.created) == 20
    run_until_settled(db, d)
    assert sorted(twilio.created_bodies()) == sorted(f"Reminder {i}" for i in range(20))
    assert db.fetchall("SELECT DISTINCT status, error_reason FROM messages WHERE id IN (SELECT unnest(?))", [mids]) == [
        ("sending", None)
    ]
    d.close()


# ---- 18.3: one hanging provider does not slow the others ------------------------------------


def test_a_hanging_provider_does_not_hold_back_a_healthy_one(db, ws, twilio, graph):
    """The healthy sender keeps its rate limit's pace while the other provider's sends hang."""
    for name, read in (("twilio", 5.0), ("whatsapp_cloud", 20.0)):
        ws["book"].provider(name).timeout = (1.0, read)
    db.write(lambda tx: tx.execute("UPDATE senders SET rate_per_second = 20 WHERE id = ?", [ws["sms"]]))
    sms_convs = conversations(db, ws, "sms", 100)
    wa_convs = conversations(db, ws, "wa", 20)
    graph.delay_answers(60)  # every WhatsApp send hangs past its read timeout
    d = make_dispatcher(db, ws)
    worker = LoopWorker("dispatcher", d.pump, idle=0.25, on_stop=d.close)
    d.on_done = worker.wake
    for c in wa_convs:
        messaging.do_send(db, ws["maria"], c, "Hanging")
    for c in sms_convs:
        messaging.do_send(db, ws["maria"], c, "Healthy")
    began = time.monotonic()
    worker.start()
    try:
        deadline = began + DEADLINE
        while len(twilio.created) < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        elapsed = time.monotonic() - began
        # 100 messages at 20/s take 5 s; the hanging provider's first answer is 20 s away.
        assert len(twilio.created) == 100
        assert elapsed < 15, f"the healthy sender sent 100 in {elapsed:.1f} s"
        # ... while not one WhatsApp send has been answered yet.
        assert graph.sent and not db.scalar(
            "SELECT count(*) FROM messages WHERE body = 'Hanging' AND provider_message_id IS NOT NULL"
        )
    finally:
        worker.stop()
