"""The generated workspaces (demo and benchmark) obey the domain rules in their data."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import json
import re
from pathlib import Path

import phonenumbers
import pytest

from core import auth, clock, phones, schema, settings
from core.compliance import hours
from core.compliance.keywords import classify
from core.db import Database
from core.media_store import MediaStore
from core.phones import normalize_name
from core.queries import UNREAD_SQL
from generator.demo import DEMO_SIGN_INS, create_demo_workspace, is_demo

ROOT = Path(__file__).resolve().parents[2]
ALL_STATUSES = {"queued", "sending", "sent", "delivered", "read", "failed", "undelivered", "not_sent", "received"}


# Generation times that stress the hours rules (naive UTC): a holiday, a Sunday night on the
# spring-forward day, Saturday just before closing, and an ordinary weekday noon.
FROZEN = {
    "christmas": dt.datetime(2026, 12, 25, 15, 0),
    "dst-sunday-night": dt.datetime(2027, 3, 14, 7, 30),
    "saturday-1pm": dt.datetime(2027, 7, 3, 17, 0),
    "weekday-noon": dt.datetime(2027, 1, 13, 17, 0),
    # A Monday after 16:30 UTC: the first campaign (a Sunday's, moved to the Friday before, at 16:30)
    # lies more than 31 days back; a bound of days + 1 failed CI at this hour.
    "monday-after-the-campaign-hour": dt.datetime(2026, 12, 7, 16, 57),
}


def _demo(root: Path, now: dt.datetime | None = None):
    db = Database(root / "parley.duckdb")
    schema.migrate(db)
    store = MediaStore(root / "media")
    clock.freeze(now)
    try:
        report = create_demo_workspace(db, store)
    finally:
        clock.freeze(None)
    return db, store, report


def _bench(root: Path):
    """bench/generate.py at a small scale: 2k conversations over two years, 20 agents, a 500-message thread."""
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "bench" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = [
        "--db",
        str(root / "bench.duckdb"),
        "--conversations",
        "2000",
        "--messages",
        "20000",
        "--contacts",
        "1500",
        "--agents",
        "20",
        "--big",
        "500",
    ]
    assert module.main(argv) == 0
    assert module.main(argv) == 1  # refuses to overwrite without --force
    return Database(root / "bench.duckdb"), MediaStore(root / "media"), None


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    db, store, report = _demo(tmp_path_factory.mktemp("demo"))
    yield db, store, report
    db.close()


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    db, store, report = _bench(tmp_path_factory.mktemp("bench"))
    yield db, store, report
    db.close()


@pytest.fixture(scope="module", params=["demo", "bench", *FROZEN])
def generated(request, tmp_path_factory):
    if request.param in FROZEN:
        db, store, _ = _demo(tmp_path_factory.mktemp(request.param), FROZEN[request.param])
        yield db, store, FROZEN[request.param], 30
        db.close()
    else:
        db, store, _ = request.getfixturevalue(request.param)
        yield db, store, None, 730 if request.param == "bench" else 30


@pytest.fixture
def ws(generated):
    """(db, store, days of history) of each generated workspace, with the clock at its generation time."""
    db, store, now, days = generated
    if now is not None:
        clock.freeze(now + dt.timedelta(seconds=5))
    return db, store, days


def test_every_status_is_present_and_failures_say_why(ws):
    db, _, _ = ws
    assert {r[0] for r in db.fetchall("SELECT DISTINCT status FROM messages")} == ALL_STATUSES
    assert not db.fetchall("""SELECT id FROM messages WHERE status IN ('failed', 'undelivered')
                              AND (error_code IS NULL OR NOT contains(error_reason, error_code))""")
    assert not db.fetchall("SELECT id FROM messages WHERE status = 'not_sent' AND coalesce(error_reason, '') = ''")
    assert not db.fetchall("SELECT id FROM messages WHERE (direction = 'in') <> (status = 'received')")
    assert not db.fetchall("""SELECT m.id FROM messages m JOIN senders s ON s.id = m.sender_id
                              WHERE m.status = 'read' AND s.channel <> 'whatsapp'""")
    assert not db.fetchall("""SELECT id FROM messages WHERE (provider_message_id IS NULL)
                              <> (status IN ('queued', 'sending', 'not_sent'))""")
    assert db.scalar("SELECT count(DISTINCT provider_message_id) = count(provider_message_id) FROM messages")
    now = clock.utcnow()
    assert not db.fetchall(
        "SELECT id FROM messages WHERE status_at < created_at OR status_at > ? OR created_at > ?", [now, now]
    )
    # Waiting messages are in the outbox: queued until the next opening, sending due now.
    rows = db.fetchall("""SELECT m.status, m.release_at, o.due_at, o.state FROM messages m
                          LEFT JOIN outbox o ON o.message_id = m.id WHERE m.status IN ('queued', 'sending')""")
    assert all(state == "pending" for _, _, _, state in rows)
    assert all(release > now and due == release for status, release, due, _ in rows if status == "queued")
    assert all(release is None and due <= now for status, release, due, _ in rows if status == "sending")


def test_nothing_went_out_outside_business_or_quiet_hours(ws):
    db, _, _ = ws
    business = settings.business_hours_from_json(settings.DEFAULTS["business_hours"])
    quiet = hours.QuietHours(start=dt.time(8), end=dt.time(21))
    assert db.scalar("SELECT value FROM settings WHERE key = 'business_hours'")  # the rules the data follows
    # The provider got each message (event 'message.sent') at an open time for business and recipient.
    sent = db.fetchall("""SELECT e.occurred_at, m.created_at, m.status_at, ct.phone FROM events e
                          JOIN messages m ON m.id = e.message_id JOIN contacts ct ON ct.id = m.contact_id
                          WHERE e.name = 'message.sent' AND m.author_id IS NOT NULL USING SAMPLE 3000 ROWS""")
    assert len(sent) > 500
    for went, written, status_at, phone in sent:
        assert written <= went <= status_at
        assert hours.is_open(went, business, phones.phone_timezone(phone), quiet), (went, phone)
    assert any(went > written for went, written, _, _ in sent)  # some were written after hours
    # Queued messages wait for exactly the next opening, or retry a busy provider shortly.
    now = clock.utcnow()
    for written, release, phone, attempts in db.fetchall(
        """SELECT m.created_at, m.release_at, ct.phone, o.attempts FROM messages m JOIN outbox o
               ON o.message_id = m.id JOIN contacts ct ON ct.id = m.contact_id WHERE m.status = 'queued'"""
    ):
        if attempts:
            assert release < now + dt.timedelta(minutes=6)
        else:
            assert release == hours.next_send_time(written, business, phones.phone_timezone(phone), quiet)


def test_whatsapp_free_text_only_inside_the_24_hour_window(ws):
    db, _, _ = ws
    rows = db.fetchall("""
        WITH x AS (SELECT m.id, m.direction, m.template_id, m.status, m.error_reason, m.created_at,
                          max(CASE WHEN m.direction = 'in' THEN m.created_at END) OVER (
                              PARTITION BY m.conversation_id ORDER BY m.created_at
                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS previous_in
                   FROM messages m JOIN senders s ON s.id = m.sender_id
                   WHERE s.channel = 'whatsapp' AND m.conversation_id IS NOT NULL)
        SELECT status, error_reason, previous_in IS NOT NULL AND created_at - previous_in <= INTERVAL 24 HOURS
        FROM x WHERE direction = 'out' AND template_id IS NULL""")
    assert rows
    for status, reason, inside in rows:
        assert inside or (status == "not_sent" and reason.startswith("WhatsApp window closed")), (status, reason)
    assert not db.fetchall("""SELECT m.id FROM messages m JOIN senders s ON s.id = m.sender_id
                              WHERE m.campaign_id IS NOT NULL AND s.channel = 'whatsapp' AND m.template_id IS NULL""")
    # 63016: written inside the window, handed over (next opening) after it had closed.
    refused = db.fetchall("""
        SELECT e.occurred_at - (SELECT max(i.created_at) FROM messages i WHERE i.conversation_id = m.conversation_id
                                AND i.direction = 'in' AND i.created_at < m.created_at)
        FROM messages m JOIN events e ON e.message_id = m.id AND e.name = 'message.sent' WHERE m.error_code = '63016'""")
    assert all(gap > dt.timedelta(hours=24) for (gap,) in refused)


def test_summary_columns_equal_the_messages(ws):
    db, _, _ = ws
    assert not db.fetchall("""SELECT conversation_id FROM messages WHERE conversation_id IS NOT NULL
                              GROUP BY conversation_id, created_at HAVING count(*) > 1""")  # 'last' is unambiguous
    bad = db.fetchall("""
        WITH a AS (
            SELECT conversation_id AS id, count(*) AS n, max(created_at) AS last_at,
                   max(created_at) FILTER (WHERE direction = 'in') AS last_in,
                   min(created_at) FILTER (WHERE direction = 'in') AS first_in,
                   arg_max(direction, created_at) AS last_dir, count(DISTINCT contact_id) AS contacts,
                   min(contact_id) AS contact_id, min(sender_id) AS sender_id, count(DISTINCT sender_id) AS senders
            FROM messages WHERE conversation_id IS NOT NULL GROUP BY 1)
        SELECT c.id FROM conversations c LEFT JOIN a USING (id) JOIN senders s ON s.id = c.sender_id
        WHERE a.n IS DISTINCT FROM c.message_count OR a.last_at IS DISTINCT FROM c.last_message_at
           OR a.last_in IS DISTINCT FROM c.last_inbound_at OR a.last_dir IS DISTINCT FROM c.last_message_direction
           OR a.first_in IS DISTINCT FROM c.created_at OR a.contacts <> 1 OR a.senders <> 1
           OR a.contact_id <> c.contact_id OR a.sender_id <> c.sender_id OR c.channel <> s.channel
           OR (c.status = 'closed') <> (c.closed_at IS NOT NULL) OR c.closed_at < c.last_message_at""")
    assert bad == []
    rows = db.fetchall("""
        SELECT c.id, c.last_message_preview, m.body, md.filename FROM conversations c
        JOIN (SELECT conversation_id, arg_max(id, created_at) AS id FROM messages
              WHERE conversation_id IS NOT NULL GROUP BY 1) l ON l.conversation_id = c.id
        JOIN messages m ON m.id = l.id LEFT JOIN media md ON md.message_id = m.id""")
    for _, preview, body, filename in rows:
        assert preview == (" ".join(body.split())[:120] if body else f"📎 {filename}")
    assert any(p.startswith("📎 ") for _, p, _, _ in rows)
    assert db.scalar("SELECT count(*) FROM conversations WHERE status = 'closed'") > 0
    assert (
        db.scalar("SELECT count(*) FROM conversations WHERE status = 'open'")
        > db.scalar("SELECT count(*) FROM conversations") / 2
    )


def test_conversations_start_with_a_reply(ws):
    db, _, _ = ws
    assert not db.fetchall("""SELECT c.id FROM conversations c WHERE NOT EXISTS
                              (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'in')""")
    # Outside conversations there are only campaign messages, to people who never answered on that number.
    assert not db.fetchall("""SELECT id FROM messages WHERE conversation_id IS NULL
                              AND (direction <> 'out' OR campaign_id IS NULL)""")
    assert not db.fetchall("""SELECT m.id FROM messages m JOIN conversations c
                              ON c.contact_id = m.contact_id AND c.sender_id = m.sender_id
                              WHERE m.conversation_id IS NULL""")
    assert db.scalar("SELECT count(*) FROM messages WHERE conversation_id IS NULL") > 0
    # Campaign threads open with the campaign message and belong to its author.
    assert not db.fetchall("""
        SELECT c.id FROM conversations c JOIN campaigns k ON k.id = c.campaign_id
        JOIN (SELECT conversation_id, arg_min(campaign_id, created_at) AS first_campaign,
                     arg_min(direction, created_at) AS first_dir, arg_min(author_id, created_at) AS first_author
              FROM messages GROUP BY 1) f ON f.conversation_id = c.id
        WHERE f.first_campaign IS DISTINCT FROM c.campaign_id OR f.first_dir <> 'out' OR c.unsolicited
           OR f.first_author <> k.created_by OR c.owner_id <> k.created_by""")
    admin = db.scalar("SELECT id FROM users WHERE username = 'admin'")
    unsolicited = db.fetchall("""SELECT c.id, c.owner_id, c.campaign_id,
               EXISTS (SELECT 1 FROM messages m WHERE m.contact_id = c.contact_id AND m.sender_id = c.sender_id
                       AND m.campaign_id IS NOT NULL) FROM conversations c WHERE c.unsolicited""")
    assert len(unsolicited) >= 2
    assert all(owner == admin and campaign is None and not prior for _, owner, campaign, prior in unsolicited)
    assert not db.fetchall("SELECT id FROM conversations WHERE NOT unsolicited AND campaign_id IS NULL")
    # Authors: campaign messages by the campaign's creator, replies by the owner, the STOP confirmation by Parley.
    assert not db.fetchall("""SELECT m.id FROM messages m JOIN campaigns k ON k.id = m.campaign_id
                              WHERE m.author_id IS DISTINCT FROM k.created_by OR m.sender_id <> k.sender_id""")
    assert not db.fetchall("""SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id
                              WHERE m.direction = 'out' AND m.campaign_id IS NULL
                              AND m.author_id IS DISTINCT FROM c.owner_id AND NOT starts_with(m.body, 'You are unsub')""")
    assert not db.fetchall("""SELECT k.id FROM campaigns k WHERE k.status <> 'sent' OR contains(k.body, '{{') IS FALSE
                              OR k.recipients <> (SELECT count(*) FROM messages m WHERE m.campaign_id = k.id)""")
    assert not db.fetchall("SELECT id FROM messages WHERE contains(body, '{{')")


def test_opted_out_contact_gets_nothing_after_stop(ws):
    db, _, _ = ws
    rows = db.fetchall("""SELECT ct.id, ct.opted_out_at, h.keyword, h.kind, m.body, m.created_at, m.conversation_id
                          FROM contacts ct JOIN optout_history h ON h.contact_id = ct.id AND h.kind = 'opt_out'
                          JOIN messages m ON m.id = h.message_id WHERE ct.opted_out""")
    assert rows and len(rows) == db.scalar("SELECT count(*) FROM contacts WHERE opted_out")
    for contact_id, opted_out_at, keyword, _, body, at, conversation_id in rows:
        assert keyword == "STOP" and body == "STOP" and at == opted_out_at
        assert (
            db.scalar(
                "SELECT max(created_at) FROM messages WHERE conversation_id = ? AND direction = 'in'", [conversation_id]
            )
            == at
        )
        after = db.fetchall(
            """SELECT body, status, error_reason, author_id FROM messages
                               WHERE contact_id = ? AND created_at > ? ORDER BY created_at""",
            [contact_id, at],
        )
        assert after[0][0].startswith("You are unsubscribed") and after[0][1] == "delivered" and after[0][3] is None
        assert after[1:] and all(s == "not_sent" and r == "Contact opted out" for _, s, r, _ in after[1:])
    flagged = db.fetchall("SELECT id, optout_flag FROM conversations WHERE optout_flag IS NOT NULL")
    assert flagged and all(classify(flag).kind == "possible_opt_out" for _, flag in flagged)
    # No other message in the data would trip the keyword rules.
    for body, conversation_id in db.fetchall("SELECT body, conversation_id FROM messages WHERE direction = 'in'"):
        kind = classify(body).kind
        if kind == "opt_out":
            assert body == "STOP"
        elif kind == "possible_opt_out":
            assert conversation_id in {c for c, _ in flagged}


def test_media_files_are_stored_by_hash(ws):
    db, store, _ = ws
    rows = db.fetchall("SELECT message_id, sha256, content_type, filename, size, token FROM media")
    assert rows
    for _, sha, _, _, size, _ in rows:
        data = store.read(sha)
        assert hashlib.sha256(data).hexdigest() == sha and len(data) == size
    assert {r[2] for r in rows} >= {"image/png", "application/pdf", "text/vcard", "audio/wav"}
    assert len({r[5] for r in rows}) == len(rows) and all(len(r[5]) >= 32 for r in rows)
    assert db.scalar("SELECT count(*) FROM messages WHERE has_media") == len({r[0] for r in rows})
    assert store.read(next(r[1] for r in rows if r[2] == "image/png")).startswith(b"\x89PNG\r\n\x1a\n")
    assert store.read(next(r[1] for r in rows if r[2] == "application/pdf")).startswith(b"%PDF")


def test_every_sample_file_is_attached_on_a_day_whose_draw_left_one_out(tmp_path):
    # Generated at this moment, the old random draw attached no PDF at all (the CI run of
    # 5f7a36d met the same with the contact card): every file must show on any day.
    db, _, _ = _demo(tmp_path, dt.datetime(2026, 12, 5, 15, 8, 11))
    try:
        types = {t for (t,) in db.fetchall("SELECT content_type FROM media")}
    finally:
        db.close()
    assert types == {"image/png", "application/pdf", "text/vcard", "audio/wav"}


def test_many_languages_and_scripts(ws, request):
    db, _, _ = ws
    bodies = "\n".join(r[0] for r in db.fetchall("SELECT DISTINCT body FROM messages"))
    names = "\n".join(r[0] for r in db.fetchall("SELECT DISTINCT name FROM contacts WHERE name IS NOT NULL"))
    for script in (
        r"[\u0600-\u06FF]",
        r"[\u4E00-\u9FFF]",
        r"[\u0900-\u097F]",
        r"[\u0400-\u04FF]",
        r"[\u3040-\u309F]",
        r"[éñçãü]",
        "[\U0001f300-\U0001faff]",
    ):
        assert re.search(script, bodies), script
    for script in (r"[\u0600-\u06FF]", r"[\u4E00-\u9FFF]", r"[\u0900-\u097F]", r"[\u0400-\u04FF]", r"[éëñçã]"):
        assert re.search(script, names), script
    assert "¿" in bodies  # Spanish questions, written as people write them
    if request.node.callspec.params["generated"] != "bench":
        # The demo's conversations are written from the curated lines. The bench composes nearly every
        # text word by word: whether a given curated line is drawn depends on the hour it is generated
        # at (its history ends now), so asking for one failed at some hours.
        assert "¿Tienen cita el sábado?" in bodies and "شكرا لكم" in bodies


def test_contacts_have_valid_numbers_and_search_columns(ws):
    db, _, _ = ws
    rows = db.fetchall("SELECT phone, phone_digits, name, search_name FROM contacts")
    assert len({r[0] for r in rows}) == len(rows)
    for phone, digits, name, search_name in rows:
        number = phonenumbers.parse(phone)
        assert phonenumbers.is_valid_number(number), phone
        assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == phone
        assert digits == phone[1:] and search_name == normalize_name(name)
    assert any(name is None for _, _, name, _ in rows)
    assert "jose" in {w for _, _, _, s in rows for w in s.split()}
    assert db.scalar("SELECT count(*) FROM contacts WHERE email IS NOT NULL AND tags IS NULL") > 0


def test_read_state_events_and_times(ws):
    db, _, days = ws
    total = db.scalar("SELECT count(*) FROM conversations")
    waiting = db.scalar("SELECT count(*) FROM conversations WHERE last_message_direction = 'in'")
    unread = db.scalar(f"""SELECT count(*) FROM conversations c LEFT JOIN read_markers rm
                           ON rm.user_id = c.owner_id AND rm.conversation_id = c.id WHERE {UNREAD_SQL}""")
    # About two thirds of the conversations waiting on their owner (the customer wrote last) are
    # unread, whatever the clock. The share of all conversations follows the clock: the "demo"
    # workspace is built at the real time, and on a Sunday evening more customers wait for an
    # answer (0.51 of all then, 0.40 on a weekday afternoon; 0.71-0.73 of the waiting ones at both).
    assert 0.55 < unread / waiting < 0.85
    assert 0.2 < unread / total
    assert not db.fetchall("""SELECT rm.conversation_id FROM read_markers rm JOIN conversations c
                              ON c.id = rm.conversation_id WHERE rm.user_id <> c.owner_id""")
    assert not db.fetchall(f"""SELECT c.id FROM conversations c LEFT JOIN read_markers rm ON rm.user_id = c.owner_id
                               AND rm.conversation_id = c.id WHERE NOT {UNREAD_SQL} AND rm.read_at < c.last_message_at""")
    counts = dict(db.fetchall("SELECT name, count(*) FROM events GROUP BY 1"))
    assert counts["message.received"] == db.scalar("SELECT count(*) FROM messages WHERE direction = 'in'")
    assert counts["conversation.created"] == total
    assert sum(v for k, v in counts.items() if k.startswith("message.")) == db.scalar("SELECT count(*) FROM messages")
    for payload, conversation_id, message_id in db.fetchall(
        "SELECT payload, conversation_id, message_id FROM events USING SAMPLE 50 ROWS"
    ):
        data = json.loads(payload)
        assert data["conversation_id"] == conversation_id and data.get("message_id") == message_id
    now = clock.utcnow()
    oldest, newest = db.fetchone("SELECT min(created_at), max(created_at) FROM messages")
    # The first campaign goes on the first day of the history, or the weekday before it when that
    # is a weekend or a holiday (at most 4 days back), at 16:30 UTC: the bound holds at any hour.
    assert now - dt.timedelta(days=days + 4) < oldest and newest < now


def test_demo_workspace_users_senders_and_sign_in(demo):
    db, _, report = demo
    assert is_demo(db)
    assert db.fetchone("SELECT name, timezone FROM workspace") == ("Brightside Dental", "America/New_York")
    users = dict(db.fetchall("SELECT username, role FROM users"))
    assert users == {
        "admin": "admin",
        "maria": "standard",
        "james": "standard",
        "aiko": "standard",
        "sam": "supervisor",
    }
    assert report.users == dict(db.fetchall("SELECT username, id FROM users"))
    assert db.scalar("SELECT count(DISTINCT password_hash) FROM users") == 1
    for username, password, label in DEMO_SIGN_INS:
        user = auth.sign_in(db, username, password)
        assert auth.ROLE_LABELS[user.role] == label and user.timezone == "America/New_York"
    senders = {
        r[0]: r[1:]
        for r in db.fetchall("SELECT registration_kind, channel, registration_status, provider FROM senders")
    }
    assert senders == {
        "10dlc": ("sms", "registered", "simulator"),
        "whatsapp": ("whatsapp", "approved", "simulator"),
        "toll_free": ("sms", "pending", "simulator"),
    }
    assert (
        db.scalar(
            "SELECT count(*) FROM templates WHERE registered AND channel = 'whatsapp' AND provider_name IS NOT NULL"
        )
        >= 2
    )
    assert db.scalar("SELECT count(*) FROM templates WHERE NOT registered") >= 2
    # Alive: the newest message is minutes old; every agent owns conversations and sent a campaign.
    assert db.scalar("SELECT max(last_message_at) FROM conversations") > clock.utcnow() - dt.timedelta(hours=1)
    assert db.scalar("SELECT count(DISTINCT owner_id) FROM conversations") == 4
    assert db.scalar("SELECT count(DISTINCT created_by) FROM campaigns") == 3
    assert 250 <= report.conversations <= 350 and report.contacts == 500


def test_bench_workspace_shape(bench):
    db, _, _ = bench
    assert not is_demo(db)
    assert db.scalar("SELECT count(*) FROM users WHERE role = 'standard'") == 20
    assert db.scalar("SELECT count(DISTINCT owner_id) FROM conversations") == 21  # 20 agents + admin
    big = db.fetchone("""SELECT c.message_count, u.username FROM conversations c JOIN users u ON u.id = c.owner_id
                         ORDER BY c.message_count DESC LIMIT 1""")
    assert big == (500, "agent01")
    assert db.scalar("SELECT count(*) FROM conversations") == 2001
    assert 18_000 < db.scalar("SELECT count(*) FROM messages WHERE conversation_id IS NOT NULL") < 22_000
    # Two years of history: messages in every quarter, the long thread from the first to the last.
    first, last = db.fetchone("SELECT min(created_at), max(created_at) FROM messages")
    assert last - first > dt.timedelta(days=700)
    assert db.scalar("SELECT count(DISTINCT date_trunc('quarter', created_at)) FROM messages") >= 8
    assert db.scalar(
        "SELECT max(created_at) - min(created_at) FROM messages WHERE conversation_id = "
        "(SELECT id FROM conversations ORDER BY message_count DESC LIMIT 1)"
    ) > dt.timedelta(days=700)
    # Rows are stored in id order (as a running Parley appends them), ids in time order.
    assert db.scalar("SELECT bool_and(id > prev) FROM (SELECT id, lag(id, 1, 0) OVER () AS prev FROM messages)")
    assert auth.sign_in(db, "agent07", "parley-demo").role == "standard"


def test_the_demo_sms_sender_is_registered_as_its_form_reads_it(demo):
    """Its 10DLC brand and campaign are approved, so a save of the Senders form (a rename) keeps it
    registered: without them the form read "Not started" and any save made it unregistered, which
    the "do not send" rule blocks."""
    db, _, _ = demo
    row = db.fetchone(
        "SELECT registration_kind, registration_status, brand_status, campaign_status, send_blocked FROM senders "
        "WHERE label = 'Front desk SMS'"
    )
    assert row == ("10dlc", "registered", "approved", "approved", None)
