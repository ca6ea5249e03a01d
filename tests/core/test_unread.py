"""Rule 6 against the clock: a message is unread for the owner when it reached Parley after the
owner read the conversation, whatever time it carries (review finding 2).

A message's time is the provider's (WhatsApp's ``timestamp``, the simulator's ``at``) or the moment
Parley stored the webhook (Twilio); it is kept for the thread's order and the 24-hour window. It
is not the moment the message reached the inbox: Meta delivers a webhook late (or retries it
hours later), and during a burst the applier lags behind the stored rows. Unread used to be
``read_at < last_inbound_at``, so an owner who opened the conversation in that gap never saw the
new message as unread: no dot, no badge, no tab count.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core import clock, queries, schema, stats_filter
from core.actions import conversations as conv_actions
from core.db import Database
from core.engine import ProviderBook
from core.ingest import _insert_rows
from core.ingest_apply import WebhookApplier
from core.media_store import MediaStore
from core.stats import workload
from tests import factories as f

OURS, WA, PNID = "+14155550100", "+14155550199", "106540352242922"


@pytest.fixture
def ws(db, tmp_path, make_user):
    f.always_open(db)
    admin = make_user("ada", "admin")
    maria = make_user("maria")
    sms = f.add_sender(db, phone=OURS)
    wa = f.add_sender(db, phone=WA, channel="whatsapp", provider="whatsapp_cloud", provider_ref=PNID)
    env = {"PARLEY_WHATSAPP_TOKEN": "t", "PARLEY_WHATSAPP_APP_SECRET": "s", "PARLEY_WHATSAPP_VERIFY_TOKEN": "v"}
    book = ProviderBook(db, simulator_url="http://127.0.0.1:9/x", simulator_secret=b"s", demo=False, env=env)
    return dict(admin=admin, maria=maria, sms=sms, wa=wa, applier=WebhookApplier(db, book, MediaStore(tmp_path / "m")))


def store(db, provider: str, body: bytes, *, received_at: dt.datetime | None = None) -> None:
    row = {
        "received_at": received_at or clock.utcnow(),
        "provider": provider,
        "state": "pending",
        "url": f"/webhooks/{provider}",
        "content_type": "application/json",
        "body": body,
        "error": None,
    }
    db.write(_insert_rows, [row])


def whatsapp_text(wamid: str, wa_id: str, body: str, sent_at: dt.datetime) -> bytes:
    epoch = int(sent_at.replace(tzinfo=dt.UTC).timestamp())
    message = {"from": wa_id, "id": wamid, "timestamp": str(epoch), "type": "text", "text": {"body": body}}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": WA.lstrip("+"), "phone_number_id": PNID},
        "contacts": [{"profile": {"name": "Sheena"}, "wa_id": wa_id}],
        "messages": [message],
    }
    change = {"field": "messages", "value": value}
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [change]}]}).encode()


def simulator_text(pid: str, phone: str, body: str) -> bytes:  # no time of its own: Parley's receive time
    return json.dumps(
        {"type": "inbound", "id": pid, "channel": "sms", "from": phone, "to": OURS, "body": body}
    ).encode()


def read_conversation(db, ws, phone: str, sender: str) -> int:
    contact = f.add_contact(db, phone=phone, name="Sheena")
    cid = f.add_conversation(db, contact_id=contact, sender_id=ws[sender], owner_id=ws["maria"].id,
                             last_inbound_at=clock.utcnow() - dt.timedelta(hours=1))  # fmt: skip
    assert conv_actions.mark_opened(db, ws["maria"], cid)[0] is True
    assert queries.unread_count(db, ws["maria"].id) == 0
    return cid


def what_maria_sees(db, ws, cid: int) -> tuple:
    """The badge, the inbox row's dot, the conversation's own state, and Stats' workload count."""
    maria = ws["maria"]
    view = queries.inbox_view(db, maria, unread_for=maria.id)
    [row] = [r for r in view.page.rows if r["conversation_id"] == cid]
    detail = queries.conversation_detail(db, maria, cid)
    counts = workload(db, ws["admin"], stats_filter.default_filter(ws["admin"]))
    agent = counts[counts["agent_id"] == maria.id].iloc[0]
    return queries.unread_count(db, maria.id), view.unread, row["unread"], detail["unread"], int(agent["unread"])


def test_a_whatsapp_message_delivered_after_the_owner_read_the_conversation_is_unread(db, ws):
    """The customer writes; Maria reads the thread 40 s later; Meta's webhook (delayed, or a retry
    after Parley missed the first try) comes now, stamped with the customer's time."""
    sent_at = clock.utcnow() - dt.timedelta(seconds=40)
    cid = read_conversation(db, ws, "+16505551234", "wa")
    store(db, "whatsapp", whatsapp_text("wamid.late", "16505551234", "Are you open Sunday?", sent_at))
    ws["applier"].step()
    assert db.fetchone("SELECT created_at, conversation_id FROM messages WHERE provider_message_id = 'wamid.late'") == (
        sent_at.replace(microsecond=0),  # the customer's time is kept (the thread's order, the 24-hour window)
        cid,
    )
    assert what_maria_sees(db, ws, cid) == (1, 1, True, True, 1)


def test_a_message_stored_while_the_applier_lagged_is_unread_for_an_owner_who_read_meanwhile(db, ws):
    """Twilio and the simulator send no time: the message carries the moment Parley stored it, 20 s
    before a backlog let the applier reach it; Maria opened the thread in between."""
    stored_at = clock.utcnow() - dt.timedelta(seconds=20)
    store(db, "simulator", simulator_text("SIMlag", "+14158675310", "Running 10 min late"), received_at=stored_at)
    cid = read_conversation(db, ws, "+14158675310", "sms")
    ws["applier"].step()
    assert db.scalar("SELECT created_at FROM messages WHERE provider_message_id = 'SIMlag'") == stored_at
    assert what_maria_sees(db, ws, cid) == (1, 1, True, True, 1)


def test_a_message_stamped_ahead_of_parleys_clock_is_read_once_the_owner_opens_it(db, ws):
    """The other side of comparing times: a provider clock two minutes ahead kept the conversation
    unread after Maria opened it (her read was earlier than the message's time) until then."""
    cid = read_conversation(db, ws, "+16505551235", "wa")
    ahead = clock.utcnow() + dt.timedelta(minutes=2)
    store(db, "whatsapp", whatsapp_text("wamid.ahead", "16505551235", "Hello from the future", ahead))
    ws["applier"].step()
    assert what_maria_sees(db, ws, cid) == (1, 1, True, True, 1)
    assert conv_actions.mark_opened(db, ws["maria"], cid)[0] is True
    assert what_maria_sees(db, ws, cid) == (0, 0, False, False, 0)
    assert conv_actions.mark_opened(db, ws["maria"], cid)[0] is False  # nothing left to mark


def test_a_new_conversation_and_one_marked_unread_stay_unread_and_opening_reads_them(db, ws):
    store(db, "simulator", simulator_text("SIMnew", "+14158675311", "Hi, is Tuesday free?"))
    ws["applier"].step()
    cid = db.scalar("SELECT id FROM conversations")
    conv_actions.do_assign(db, ws["admin"], [cid], ws["maria"].id)
    assert what_maria_sees(db, ws, cid) == (1, 1, True, True, 1)
    assert conv_actions.mark_opened(db, ws["maria"], cid)[0] is True
    assert what_maria_sees(db, ws, cid) == (0, 0, False, False, 0)
    conv_actions.do_set_read_state(db, ws["maria"], [cid], read=False)
    assert what_maria_sees(db, ws, cid) == (1, 1, True, True, 1)
    conv_actions.do_set_read_state(db, ws["maria"], [cid], read=True)
    assert what_maria_sees(db, ws, cid) == (0, 0, False, False, 0)


def test_the_owner_reads_up_to_the_newest_message_applied_when_the_mark_is_written(db, ws):
    """Opening marks read up to the newest incoming message Parley had then, read in the same write:
    one applied after it is unread, one applied before it is not."""
    cid = read_conversation(db, ws, "+14158675312", "sms")
    first = db.scalar("SELECT last_inbound_id FROM conversations WHERE id = ?", [cid])
    assert db.fetchone("SELECT unread, read_upto FROM read_markers WHERE conversation_id = ?", [cid]) == (False, first)
    store(db, "simulator", simulator_text("SIMa", "+14158675312", "One more thing"))
    store(db, "simulator", simulator_text("SIMb", "+14158675312", "And another"))
    ws["applier"].step()
    newest = db.scalar("SELECT max(id) FROM messages WHERE provider_message_id IN ('SIMa', 'SIMb')")
    assert db.scalar("SELECT last_inbound_id FROM conversations WHERE id = ?", [cid]) == newest
    assert what_maria_sees(db, ws, cid) == (1, 1, True, True, 1)
    assert conv_actions.mark_opened(db, ws["maria"], cid)[0] is True
    assert db.fetchone("SELECT unread, read_upto FROM read_markers WHERE conversation_id = ?", [cid]) == (False, newest)
    assert what_maria_sees(db, ws, cid) == (0, 0, False, False, 0)


def test_migration_24_keeps_every_conversation_as_read_or_unread_as_it_was(tmp_path):
    db = Database(tmp_path / "old.duckdb")
    schema.migrate(db, target=23)  # a database from before the unread rule by message id
    at = dt.datetime(2026, 3, 2, 15, 0)
    hour = dt.timedelta(hours=1)

    def older_rows(tx):
        tx.execute(
            "INSERT INTO senders (id, phone, channel, provider, label, registration_kind, registration_status, "
            "rate_per_second, enabled, created_at) VALUES (1, '+14155550100', 'sms', 'simulator', 'SMS 0100', "
            "'10dlc', 'registered', 10, true, ?)",
            [at],
        )
        for n in range(1, 7):
            tx.execute(
                "INSERT INTO contacts (id, phone, created_at, updated_at) VALUES (?, ?, ?, ?)",
                [n, f"+1415867000{n}", at, at],
            )
        # 1: a reply after the owner (user 7) read it; user 8, a former owner, read it after the reply.
        # 2: only an outgoing message, read. 3: replies, a marker that never read it. 4: marked unread
        # after reading. 5: read after the reply. 6: an incoming time but no incoming message known.
        tx.execute(
            "INSERT INTO conversations (id, contact_id, sender_id, channel, owner_id, status, created_at, "
            "last_message_at, last_inbound_at, message_count) VALUES "
            "(1, 1, 1, 'sms', 7, 'open', ?, ?, ?, 3), (2, 2, 1, 'sms', 7, 'open', ?, ?, NULL, 1), "
            "(3, 3, 1, 'sms', 7, 'open', ?, ?, ?, 1), (4, 4, 1, 'sms', 7, 'open', ?, ?, ?, 1), "
            "(5, 5, 1, 'sms', 7, 'open', ?, ?, ?, 1), (6, 6, 1, 'sms', 7, 'open', ?, ?, ?, 0)",
            [at] * 17,
        )
        tx.execute(
            "INSERT INTO messages (id, conversation_id, contact_id, sender_id, direction, body, status, created_at) "
            "VALUES (10, 1, 1, 1, 'in', 'Hi', 'received', ?), (11, 1, 1, 1, 'out', 'Hello', 'sent', ?), "
            "(12, 1, 1, 1, 'in', 'Tuesday?', 'received', ?), (13, 2, 2, 1, 'out', 'Hello', 'sent', ?), "
            "(14, 3, 3, 1, 'in', 'Hi', 'received', ?), (15, 4, 4, 1, 'in', 'Hi', 'received', ?), "
            "(16, 5, 5, 1, 'in', 'Hi', 'received', ?), (17, NULL, 6, 1, 'out', 'Offer', 'sent', ?)",
            [at] * 8,
        )
        tx.execute(
            "INSERT INTO read_markers (user_id, conversation_id, read_at, unread) VALUES "
            "(7, 1, ?, FALSE), (8, 1, ?, FALSE), (7, 2, ?, FALSE), (7, 3, NULL, FALSE), (7, 4, ?, TRUE), "
            "(7, 5, ?, FALSE)",
            [at - hour, at + hour, at - hour, at + hour, at],
        )

    db.write(older_rows)
    assert 24 in schema.migrate(db)
    assert db.fetchall("SELECT id, last_inbound_id FROM conversations ORDER BY id") == [
        (1, 12),
        (2, None),
        (3, 14),
        (4, 15),
        (5, 16),
        (6, 0),
    ]
    assert db.fetchall("SELECT user_id, conversation_id, unread, read_upto FROM read_markers ORDER BY 2, 1") == [
        (7, 1, True, None),
        (8, 1, False, 12),
        (7, 2, False, None),
        (7, 3, True, None),
        (7, 4, True, None),
        (7, 5, False, 16),
    ]
    owner_unread = db.fetchall(
        f"""SELECT c.id, {queries.UNREAD_SQL} FROM conversations c
            LEFT JOIN read_markers rm ON rm.user_id = c.owner_id AND rm.conversation_id = c.id ORDER BY c.id"""
    )
    # As the old rule read them: 1, 3 and 4 unread; 2 and 5 read; 6 unread (no marker, an incoming time).
    assert owner_unread == [(1, True), (2, False), (3, True), (4, True), (5, False), (6, True)]
    db.close()
