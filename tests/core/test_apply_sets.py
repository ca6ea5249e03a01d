"""Issue 18.6 and 18.7: inbound messages applied in sets, in short transactions.

- a backlog of replies, first messages from new numbers (some answering a campaign) and duplicates is
  applied in a handful of transactions, with the same results as one at a time;
- a 3,000-message WhatsApp payload is split into transactions of at most ``APPLY_CHUNK_INBOUND``
  messages, and a webhook acknowledged meanwhile is stored between two of them, not after all.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest

from core import clock, ingest_apply
from core.engine import ProviderBook
from core.ingest import GroupCommitter, _insert_rows
from core.ingest_apply import WebhookApplier
from core.media_store import MediaStore
from tests import factories as f

OURS, WA, PNID = "+14155550100", "+14155550199", "106540352242922"


@pytest.fixture
def ws(db, tmp_path, make_user):
    f.always_open(db)
    admin = make_user("ada", "admin")
    maria = make_user("maria")
    sms = f.add_sender(db, phone=OURS)
    wa = f.add_sender(db, phone=WA, channel="whatsapp", provider="whatsapp_cloud", provider_ref=PNID)
    env = {
        "PARLEY_WHATSAPP_TOKEN": "t",
        "PARLEY_WHATSAPP_APP_SECRET": "s",
        "PARLEY_WHATSAPP_VERIFY_TOKEN": "v",
    }
    book = ProviderBook(db, simulator_url="http://127.0.0.1:9/x", simulator_secret=b"s", demo=False, env=env)
    return dict(admin=admin, maria=maria, sms=sms, wa=wa, applier=WebhookApplier(db, book, MediaStore(tmp_path / "m")))


def store(db, provider: str, bodies: list[bytes], url: str = "/webhooks/simulator") -> None:
    rows = [
        {
            "received_at": clock.utcnow(),
            "provider": provider,
            "state": "pending",
            "url": url,
            "content_type": "application/json",
            "body": body,
            "error": None,
        }
        for body in bodies
    ]
    db.write(_insert_rows, rows)


def sim_inbound(pid: str, phone: str, body: str) -> bytes:
    return json.dumps(
        {
            "type": "inbound",
            "id": pid,
            "channel": "sms",
            "from": phone,
            "to": OURS,
            "body": body,
            "at": clock.utcnow().isoformat(),
        }  # fmt: skip
    ).encode()


def count_transactions(db, monkeypatch) -> list[int]:
    """How many inbound messages each apply transaction held."""
    sizes = []
    real = ingest_apply.apply_inbound_batch

    def counted(tx, items):
        sizes.append(len(items))
        return real(tx, items)

    monkeypatch.setattr(ingest_apply, "apply_inbound_batch", counted)
    return sizes


def test_a_mixed_backlog_is_applied_in_sets_with_the_rules_of_one_at_a_time(db, ws, monkeypatch):
    existing = [f"+1415867{1000 + i:04d}" for i in range(150)]
    conversations = {
        phone: f.add_conversation(
            db, contact_id=f.add_contact(db, phone=phone), sender_id=ws["sms"], owner_id=ws["maria"].id
        )  # fmt: skip
        for phone in existing
    }
    new = [f"+1646555{i:04d}" for i in range(100)]
    # Ten of the new numbers got a campaign message from Maria: their replies join her conversation.
    for phone in new[:10]:
        contact = f.add_contact(db, phone=phone, name=f"Camper {phone[-2:]}")
        db.write(
            lambda tx, c=contact: tx.execute(
                "INSERT INTO messages (contact_id, sender_id, campaign_id, direction, author_id, body, status, "
                "created_at, status_at) VALUES (?, ?, 3, 'out', ?, 'Spring cleaning: 20% off', 'delivered', ?, ?)",
                [c, ws["sms"], ws["maria"].id, clock.utcnow() - dt.timedelta(hours=2), clock.utcnow()],
            )
        )
    bodies = [sim_inbound(f"SIMr{i}", p, f"Reply {i}") for i, p in enumerate(existing)]
    bodies += [sim_inbound(f"SIMn{i}", p, f"First {i}") for i, p in enumerate(new)]
    bodies += [sim_inbound("SIMn0", new[0], "First 0")]  # a duplicate within the backlog
    bodies += [sim_inbound(f"SIMn{i}b", p, f"Second {i}") for i, p in enumerate(new[:5])]  # two from one number
    store(db, "simulator", bodies)
    sizes = count_transactions(db, monkeypatch)
    started = db.scalar("SELECT count(*) FROM events WHERE name = 'message.received'")

    assert ws["applier"].step() is True and ws["applier"].step() is False

    # 256 messages in as few sets as the cap allows (not one transaction each, nor two at a time).
    assert sum(sizes) == len(bodies) == 256 and max(sizes) <= ingest_apply.APPLY_CHUNK_INBOUND
    assert len(sizes) == -(-256 // ingest_apply.APPLY_CHUNK_INBOUND)
    assert db.scalar("SELECT count(*) FROM messages WHERE direction = 'in' AND provider_message_id LIKE 'SIM%'") == 255
    assert db.scalar("SELECT count(*) FROM events WHERE name = 'message.received'") - started == 255
    assert db.scalar("SELECT count(*) FROM contacts WHERE phone LIKE '+1646555%'") == 100  # one per number
    # Rule 1: one conversation per new number; the campaign's ten belong to Maria and hold the campaign message.
    rows = db.fetchall(
        """SELECT ct.phone, c.owner_id, c.unsolicited, c.campaign_id, c.message_count, c.last_message_preview
           FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE ct.phone LIKE '+1646555%'
           ORDER BY ct.phone"""
    )
    assert len(rows) == 100
    assert rows[0] == (new[0], ws["maria"].id, False, 3, 3, "Second 0")  # campaign + first + second
    assert rows[5] == (new[5], ws["maria"].id, False, 3, 2, "First 5")
    assert rows[10] == (new[10], ws["admin"].id, True, None, 1, "First 10")  # unsolicited: the default owner
    # The lists show the campaign message's status by its id (conversations.last_out_id).
    last_out = db.fetchall(
        """SELECT ct.phone, c.last_out_id = (SELECT m.id FROM messages m WHERE m.contact_id = ct.id
                                             AND m.direction = 'out') FROM conversations c
           JOIN contacts ct ON ct.id = c.contact_id WHERE ct.phone LIKE '+1646555%' AND NOT c.unsolicited
           ORDER BY ct.phone"""
    )
    assert last_out == [(phone, True) for phone in new[:10]]
    # Replies landed in their conversations, which show them as the latest.
    c = conversations[existing[7]]
    assert db.fetchone("SELECT message_count, last_message_preview, last_message_direction FROM conversations "
                       "WHERE id = ?", [c]) == (2, "Reply 7", "in")  # fmt: skip
    # Each conversation's version moved once for its set (live pages compare it), Maria's inbox too.
    assert db.scalar("SELECT version FROM conversations WHERE id = ?", [c]) == 1
    assert db.scalar("SELECT inbox_version FROM users WHERE id = ?", [ws["maria"].id]) > 0
    assert dict(db.fetchall("SELECT state, count(*) FROM webhook_inbox GROUP BY 1")) == {"applied": len(bodies)}


def test_keywords_in_a_set_apply_in_order(db, ws):
    phone = "+14158675399"
    store(
        db,
        "simulator",
        [sim_inbound("SIMk1", phone, "Hi"), sim_inbound("SIMk2", phone, "STOP"), sim_inbound("SIMk3", phone, "START")],
    )
    ws["applier"].step()
    kinds = [r[0] for r in db.fetchall("SELECT kind FROM optout_history ORDER BY id")]
    assert kinds == ["opt_out", "opt_in"]
    assert db.scalar("SELECT opted_out FROM contacts WHERE phone = ?", [phone]) is False
    replies = [r[0] for r in db.fetchall("SELECT body FROM messages WHERE direction = 'out' ORDER BY id")]
    assert replies[0].startswith("You are unsubscribed") and replies[1].startswith("You are subscribed again")


def whatsapp_payload(n: int) -> bytes:
    messages = [
        {
            "from": f"1646555{i:04d}",
            "id": f"wamid.big{i}",
            "timestamp": str(int(time.time())),
            "type": "text",
            "text": {"body": f"Message {i}"},
        }  # fmt: skip
        for i in range(n)
    ]
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": WA.lstrip("+"), "phone_number_id": PNID},
        "contacts": [{"profile": {"name": f"P{i}"}, "wa_id": f"1646555{i:04d}"} for i in range(n)],
        "messages": messages,
    }
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [
        {"field": "messages", "value": value}]}]}).encode()  # fmt: skip


def test_a_large_payload_is_applied_in_short_transactions_and_acks_go_between_them(db, ws, monkeypatch):
    store(db, "whatsapp", [whatsapp_payload(3000)], url="/webhooks/whatsapp")
    committer = GroupCommitter(db)
    sizes: list[int] = []
    acks_seen: list[int] = []  # small webhooks stored before each part of the large one was applied
    real = ingest_apply.apply_inbound_batch
    acked = threading.Event()

    def applying(tx, items):
        sizes.append(len(items))
        acks_seen.append(tx.scalar("SELECT count(*) FROM webhook_inbox WHERE provider = 'twilio'"))
        if len(sizes) == 1:  # while the first part is applied, a small webhook arrives

            def acknowledge():
                committer.submit_blocking(
                    {
                        "received_at": clock.utcnow(),
                        "provider": "twilio",
                        "state": "pending",
                        "url": "/x",
                        "content_type": "application/x-www-form-urlencoded",
                        "body": b"MessageSid=SMsmall",
                        "error": None,
                    }  # fmt: skip
                )
                acked.set()

            threading.Thread(target=acknowledge).start()
            deadline = time.monotonic() + 30
            while not db._write_lock._urgent_waiting and time.monotonic() < deadline:
                time.sleep(0.001)  # until it waits for the write path
        return real(tx, items)

    monkeypatch.setattr(ingest_apply, "apply_inbound_batch", applying)
    ws["applier"].step()
    assert acked.wait(30)
    committer.stop()
    assert len(sizes) == 3000 // ingest_apply.APPLY_CHUNK_INBOUND and max(sizes) <= ingest_apply.APPLY_CHUNK_INBOUND
    # The small webhook was stored right after the first part, not after all 3,000.
    assert acks_seen[:2] == [0, 1]
    assert db.scalar("SELECT count(*) FROM messages WHERE provider_message_id LIKE 'wamid.big%'") == 3000
    assert db.scalar("SELECT state FROM webhook_inbox WHERE provider = 'whatsapp'") == "applied"


def test_a_set_of_replies_moves_each_conversations_reporting_state_once(db, ws):
    """Replies to 30 conversations in one set: the ones an agent answered last start waiting at the reply,
    the ones already waiting keep their older start (the wait is from the first unanswered message)."""
    phones = [f"+1415868{i:04d}" for i in range(30)]
    cids = [
        f.add_conversation(db, contact_id=f.add_contact(db, phone=p), sender_id=ws["sms"], owner_id=ws["maria"].id)
        for p in phones
    ]
    opened, earlier = dt.datetime(2026, 12, 1, 9, 0), dt.datetime(2026, 12, 7, 8, 30)
    db.write(
        lambda tx: tx.execute(
            "INSERT INTO report_conversation_state SELECT unnest(?::INTEGER[]), 'open', ?, unnest(?::TIMESTAMP[]), ? "
            "ON CONFLICT (conversation_id) DO UPDATE SET waiting_since = excluded.waiting_since, "
            "opened_at = excluded.opened_at, first_response_at = excluded.first_response_at",
            [cids, opened, [None] * 15 + [earlier] * 15, dt.datetime(2026, 12, 1, 9, 5)],
        )
    )
    bodies = [
        json.dumps(
            {
                "type": "inbound",
                "id": f"SIMs{i}",
                "channel": "sms",
                "from": p,
                "to": OURS,
                "body": f"Reply {i}",
                "at": "2026-12-07T10:00:00",
            }
        ).encode()
        for i, p in enumerate(phones)
    ]
    store(db, "simulator", bodies)

    assert ws["applier"].step() is True

    rows = db.fetchall(
        "SELECT conversation_id, status, opened_at, waiting_since, first_response_at FROM report_conversation_state "
        "WHERE conversation_id IN (SELECT unnest(?::INTEGER[])) ORDER BY conversation_id",
        [cids],
    )
    answered = dt.datetime(2026, 12, 1, 9, 5)
    reply = dt.datetime(2026, 12, 7, 10, 0)
    assert rows == [(c, "open", opened, reply, answered) for c in cids[:15]] + [
        (c, "open", opened, earlier, answered) for c in cids[15:]
    ]


def wa_payload(messages: list[dict], contacts: list[dict] | None = None) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": WA.lstrip("+"), "phone_number_id": PNID},
        "contacts": contacts or [],
        "messages": messages,
    }
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "W", "changes": [{"field": "messages", "value": value}]}],
        }
    ).encode()


def wa_text(wamid: str, wa_id: str, body: str, timestamp: int | None = None) -> dict:
    at = int(time.time()) if timestamp is None else timestamp
    return {"from": wa_id, "id": wamid, "timestamp": str(at), "type": "text", "text": {"body": body}}


def test_whatsapp_numbers_of_ten_digits_keep_their_country(db, ws):
    """Review finding 1: Singapore's 6598765432 became the Alabama number +16598765432 (a stranger's
    contact, a STOP opting out the wrong person), and 6581234567 was rejected as unreadable."""
    store(
        db,
        "whatsapp",
        [
            wa_payload(
                [wa_text("wamid.sg1", "6598765432", "Hello from Singapore"), wa_text("wamid.sg2", "6581234567", "Hi")],
                [
                    {"profile": {"name": "Wei"}, "wa_id": "6598765432"},
                    {"profile": {"name": "Li"}, "wa_id": "6581234567"},
                ],
            ),
            wa_payload(
                [wa_text("wamid.no1", "4799887766", "Hei")], [{"profile": {"name": "Ola"}, "wa_id": "4799887766"}]
            ),
        ],
        url="/webhooks/whatsapp",
    )
    ws["applier"].step()
    contacts = db.fetchall("SELECT phone, name FROM contacts ORDER BY phone")
    assert contacts == [("+4799887766", "Ola"), ("+6581234567", "Li"), ("+6598765432", "Wei")]
    assert db.fetchall("SELECT reason FROM webhook_rejects") == []
    assert db.scalar("SELECT count(*) FROM messages WHERE direction = 'in'") == 3


def test_stop_then_start_that_arrive_swapped_leave_the_customer_subscribed(db, ws):
    """Review finding 5: the customer wrote STOP, then START 5 s later; Meta delivered START first
    and both landed in one set. Keywords followed arrival (START a no-op, then STOP): the thread
    showed STOP, START but the contact was opted out, and the last text said "unsubscribed"."""
    t = int(time.time()) - 30
    store(
        db,
        "whatsapp",
        [
            wa_payload([wa_text("wamid.start", "16505551234", "START", t + 5)]),
            wa_payload([wa_text("wamid.stop", "16505551234", "STOP", t)]),
        ],
        url="/webhooks/whatsapp",
    )
    ws["applier"].step()
    thread = [r[0] for r in db.fetchall("SELECT body FROM messages WHERE direction = 'in' ORDER BY created_at")]
    assert thread == ["STOP", "START"]
    assert db.scalar("SELECT opted_out FROM contacts WHERE phone = '+16505551234'") is False
    assert [r[0] for r in db.fetchall("SELECT kind FROM optout_history ORDER BY id")] == ["opt_out", "opt_in"]
    replies = [r[0] for r in db.fetchall("SELECT body FROM messages WHERE direction = 'out' ORDER BY id")]
    assert replies == [
        "You are unsubscribed and will receive no more messages from us. Reply START to resubscribe.",
        "You are subscribed again. Reply STOP to opt out, HELP for help.",
    ]


def test_start_then_stop_that_arrive_swapped_leave_the_customer_opted_out(db, ws):
    contact = f.add_contact(db, phone="+16505551235", name="Ana")
    db.write(lambda tx: tx.execute("UPDATE contacts SET opted_out = TRUE, opted_out_at = ? WHERE id = ?",
                                   [clock.utcnow() - dt.timedelta(days=1), contact]))  # fmt: skip
    t = int(time.time()) - 30
    store(
        db,
        "whatsapp",
        [
            wa_payload([wa_text("wamid.stop2", "16505551235", "STOP", t + 5)]),
            wa_payload([wa_text("wamid.start2", "16505551235", "START", t)]),
        ],
        url="/webhooks/whatsapp",
    )
    ws["applier"].step()
    assert db.scalar("SELECT opted_out FROM contacts WHERE id = ?", [contact]) is True
    assert [r[0] for r in db.fetchall("SELECT kind FROM optout_history ORDER BY id")] == ["opt_in", "opt_out"]


def test_a_stop_written_before_a_start_applied_in_an_earlier_set_is_not_applied(db, ws):
    """The customer, opted out, wrote START, then STOP 5 s later, then START again 5 s after that;
    Meta delivered the last START in one set and the STOP only in the next. The customer's last
    word is START: the late STOP is kept in the thread and the history, and changes nothing."""
    contact = f.add_contact(db, phone="+16505551236", name="Ben")
    t = int(time.time()) - 30
    store(db, "whatsapp", [wa_payload([wa_text("wamid.stop3", "16505551236", "STOP", t)])], url="/webhooks/whatsapp")
    ws["applier"].step()
    store(db, "whatsapp", [wa_payload([wa_text("wamid.start3", "16505551236", "START", t + 10)])],
          url="/webhooks/whatsapp")  # fmt: skip
    ws["applier"].step()
    store(db, "whatsapp", [wa_payload([wa_text("wamid.stop4", "16505551236", "STOP", t + 5)])],
          url="/webhooks/whatsapp")  # fmt: skip
    ws["applier"].step()
    assert db.scalar("SELECT opted_out FROM contacts WHERE id = ?", [contact]) is False
    history = db.fetchall("SELECT kind, keyword FROM optout_history ORDER BY id")
    assert history == [("opt_out", "STOP"), ("opt_in", "START"), ("opt_out_superseded", "STOP")]
    thread = [r[0] for r in db.fetchall("SELECT body FROM messages WHERE direction = 'in' ORDER BY created_at")]
    assert thread == ["STOP", "STOP", "START"]
    replies = [r[0] for r in db.fetchall("SELECT body FROM messages WHERE direction = 'out' ORDER BY id")]
    assert replies == [
        "You are unsubscribed and will receive no more messages from us. Reply START to resubscribe.",
        "You are subscribed again. Reply STOP to opt out, HELP for help.",
    ]


def test_a_start_written_before_a_stop_applied_in_an_earlier_set_is_not_applied(db, ws):
    """Subscribed, the customer wrote START (nothing to do), then STOP; the STOP came first, in its
    own set, and the START after it: the customer stays opted out."""
    contact = f.add_contact(db, phone="+16505551237", name="Cleo")
    t = int(time.time()) - 30
    store(db, "whatsapp", [wa_payload([wa_text("wamid.stop5", "16505551237", "STOP", t + 5)])],
          url="/webhooks/whatsapp")  # fmt: skip
    ws["applier"].step()
    store(db, "whatsapp", [wa_payload([wa_text("wamid.start5", "16505551237", "START", t)])],
          url="/webhooks/whatsapp")  # fmt: skip
    ws["applier"].step()
    assert db.scalar("SELECT opted_out FROM contacts WHERE id = ?", [contact]) is True
    history = db.fetchall("SELECT kind, keyword FROM optout_history ORDER BY id")
    assert history == [("opt_out", "STOP"), ("opt_in_superseded", "START")]
    replies = [r[0] for r in db.fetchall("SELECT body FROM messages WHERE direction = 'out' ORDER BY id")]
    assert replies == ["You are unsubscribed and will receive no more messages from us. Reply START to resubscribe."]


def test_a_start_while_subscribed_is_remembered_so_an_earlier_stop_arriving_later_is_not_applied(db, ws):
    contact = f.add_contact(db, phone="+16505551238", name="Dora")
    t = int(time.time()) - 30
    store(db, "whatsapp", [wa_payload([wa_text("wamid.start6", "16505551238", "START", t + 5)])],
          url="/webhooks/whatsapp")  # fmt: skip
    ws["applier"].step()
    assert db.fetchall("SELECT kind FROM optout_history") == [("opt_in_repeat",)]
    assert db.scalar("SELECT count(*) FROM messages WHERE direction = 'out'") == 0  # nothing to confirm
    store(db, "whatsapp", [wa_payload([wa_text("wamid.stop6", "16505551238", "STOP", t)])], url="/webhooks/whatsapp")
    ws["applier"].step()
    assert db.scalar("SELECT opted_out FROM contacts WHERE id = ?", [contact]) is False
    assert [r[0] for r in db.fetchall("SELECT kind FROM optout_history ORDER BY id")] == [
        "opt_in_repeat",
        "opt_out_superseded",
    ]


UNSUBSCRIBED = "You are unsubscribed and will receive no more messages from us. Reply START to resubscribe."


@pytest.mark.parametrize(
    "bodies, summary",
    [
        (["STOP", "Sorry, wrong button"], ("Sorry, wrong button", "in", 3)),
        (["STOP", "HELP"], ("HELP", "in", 3)),  # opted out: HELP gets no reply
        (["Hi", "STOP"], (UNSUBSCRIBED, "out", 3)),  # the reply is the last word
        (["STOP", "Sorry", "STOP"], ("STOP", "in", 4)),  # the second STOP: no second confirmation
    ],
)
def test_the_inbox_row_of_a_set_with_a_keyword_ends_where_one_at_a_time_would(db, ws, bodies, summary):
    """Review finding 7: the automatic reply's summary was written after the set's, so after
    ["STOP", "Sorry, wrong button"] My Inbox showed "Sent: You are unsubscribed…" although the
    customer wrote last (one at a time, the row shows "Sorry, wrong button")."""
    phone = "+14158675320"
    store(db, "simulator", [sim_inbound(f"SIMs{i}", phone, body) for i, body in enumerate(bodies)])
    ws["applier"].step()
    row = db.fetchone("SELECT last_message_preview, last_message_direction, message_count FROM conversations")
    assert row == summary
