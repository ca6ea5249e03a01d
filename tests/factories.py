"""Small builders for core tests: senders, contacts, conversations, messages.

They write rows directly (as a data import would) so each test states only
what it is about; behaviour under test always goes through core actions.
"""

from __future__ import annotations

import datetime as dt
import itertools

from core import clock, events

_phone_seq = itertools.count(100)


def picture_bytes(fmt: str = "PNG", size: tuple[int, int] = (8, 8)) -> bytes:
    """A real picture (it opens): what an attachment of an image type must be to be sent."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (30, 120, 200)).save(out, format=fmt)
    return out.getvalue()


def next_phone() -> str:
    # 415-867-xxxx: valid San Francisco numbers for phonenumbers.
    return f"+1415867{next(_phone_seq):04d}"


def add_sender(
    db,
    *,
    channel="sms",
    provider="simulator",
    phone=None,
    rate=10.0,
    enabled=True,
    registration_status="registered",
    provider_ref=None,
    label=None,
) -> int:
    phone = phone or ("+14155550100" if channel == "sms" else "+14155550199")

    def write(tx):
        sid = tx.next_id("seq_senders")
        tx.execute(
            "INSERT INTO senders (id, phone, channel, provider, label, provider_ref, registration_kind, "
            "registration_status, rate_per_second, enabled, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [
                sid,
                phone,
                channel,
                provider,
                label or f"{channel.upper()} {phone[-4:]}",
                provider_ref,
                "10dlc" if channel == "sms" else "whatsapp",
                registration_status,
                rate,
                enabled,
                clock.utcnow(),
            ],
        )
        tx.publish(events.SENDER_CHANGED, sender_id=sid)
        return sid

    return db.write(write)


def add_contact(db, *, phone=None, name=None, opted_out=False, timezone=None) -> int:
    from core.phones import normalize_name

    phone = phone or next_phone()

    def write(tx):
        cid = tx.next_id("seq_contacts")
        now = clock.utcnow()
        tx.execute(
            "INSERT INTO contacts (id, phone, name, opted_out, timezone, created_at, updated_at, search_name, "
            "phone_digits) VALUES (?,?,?,?,?,?,?,?,?)",
            [cid, phone, name, opted_out, timezone, now, now, normalize_name(name or ""), phone.lstrip("+")],
        )
        tx.publish(events.CONTACT_CREATED, contact_id=cid, source="import")  # indexes it for search
        return cid

    return db.write(write)


def add_conversation(
    db, *, contact_id, sender_id, owner_id, last_inbound_at=None, channel=None, status="open", inbound_body="Hello"
) -> int:
    """A conversation that started with one inbound message at ``last_inbound_at``."""
    at = last_inbound_at or clock.utcnow() - dt.timedelta(minutes=5)

    def write(tx):
        ch = channel or tx.scalar("SELECT channel FROM senders WHERE id = ?", [sender_id])
        conv = tx.next_id("seq_conversations")
        tx.execute(
            "INSERT INTO conversations (id, contact_id, sender_id, channel, owner_id, status, created_at, "
            "last_message_at, last_message_preview, last_message_direction, last_inbound_at, message_count) "
            "VALUES (?,?,?,?,?,?,?,?,?, 'in', ?, 1)",
            [conv, contact_id, sender_id, ch, owner_id, status, at, at, inbound_body, at],
        )
        first = tx.scalar(
            "INSERT INTO messages (conversation_id, contact_id, sender_id, direction, body, status, "
            "provider_message_id, created_at, status_at) VALUES (?,?,?, 'in', ?, 'received', ?, ?, ?) RETURNING id",
            [conv, contact_id, sender_id, inbound_body, f"IN{conv}-{at.timestamp()}", at, at],
        )
        # A workspace built at an older schema (a migration test) has no last_inbound_id yet: migration 24 fills it.
        if tx.scalar(
            "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'conversations' AND column_name = 'last_inbound_id'"
        ):
            tx.execute("UPDATE conversations SET last_inbound_id = ? WHERE id = ?", [first, conv])
        return conv

    return db.write(write)


def always_open(db) -> None:
    """Business hours every day, all day; quiet hours the whole day (tests of other rules)."""
    from core import settings

    def write(tx):
        settings.put(
            tx,
            "business_hours",
            {"timezone": "UTC", "weekly": {str(d): [["00:00", "24:00"]] for d in range(7)}, "holidays": []},
        )
        settings.put(tx, "quiet_hours", {"start": "00:00", "end": "24:00"})

    db.write(write)


def add_user(db, username: str, *, role="standard", display_name=None, timezone="UTC", active=True) -> int:
    """A user whose password is ``parley-test`` (pages tests sign in through session state)."""

    def write(tx):
        uid = tx.next_id("seq_users")
        tx.execute(
            "INSERT INTO users (id, username, display_name, role, team_id, password_hash, timezone, active, "
            "created_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?)",
            [uid, username, display_name or username.title(), role, _password_hash(), timezone, active, clock.utcnow()],
        )
        return uid

    return db.write(write)


def set_hours(db, *, weekly, quiet=("00:00", "24:00")) -> None:
    """Business hours in UTC (``{weekday: [[open, close]]}``, 0 = Monday) and recipients' quiet hours."""
    from core import settings

    def write(tx):
        settings.put(tx, "business_hours", {"timezone": "UTC", "weekly": weekly, "holidays": []})
        settings.put(tx, "quiet_hours", {"start": quiet[0], "end": quiet[1]})

    db.write(write)


def add_messages(db, *, conversation_id, count, start=None, every=dt.timedelta(minutes=3)) -> list[int]:
    """``count`` more messages in a conversation (alternating in and out, bodies "m1", "m2", …),
    written in one statement as an import would; returns their ids, oldest first."""
    import pandas as pd

    start = start or clock.utcnow() - every * (count + 1)

    def write(tx):
        contact_id, sender_id, owner_id, already = tx.fetchone(
            "SELECT contact_id, sender_id, owner_id, message_count FROM conversations WHERE id = ?",
            [conversation_id],
        )
        ids = tx.next_ids("seq_messages", count)
        at = [start + every * i for i in range(count)]
        frame = pd.DataFrame(
            {
                "id": ids,
                "conversation_id": conversation_id,
                "contact_id": contact_id,
                "sender_id": sender_id,
                "direction": ["in" if i % 2 == 0 else "out" for i in range(count)],
                "author_id": [None if i % 2 == 0 else owner_id for i in range(count)],
                "body": [f"m{already + i + 1}" for i in range(count)],
                "status": ["received" if i % 2 == 0 else "delivered" for i in range(count)],
                "provider_message_id": [f"IMP{conversation_id}-{already + i + 1}" for i in range(count)],
                "created_at": at,
                "status_at": at,
            }
        )
        frame["author_id"] = frame["author_id"].astype("Int64")
        tx.insert_df("messages", frame)
        outgoing = [i for n, i in enumerate(ids) if n % 2 == 1]
        tx.execute(
            "UPDATE conversations SET message_count = message_count + ?, last_message_at = ?, "
            "last_out_id = greatest(coalesce(last_out_id, 0), ?) WHERE id = ?",
            [count, at[-1], max(outgoing) if outgoing else 0, conversation_id],
        )
        return ids

    return db.write(write)


_HASHES: dict[str, str] = {}


def _password_hash() -> str:
    from core.auth import hash_password

    if "h" not in _HASHES:  # hashing is slow on purpose: once per test session
        _HASHES["h"] = hash_password("parley-test")
    return _HASHES["h"]


def add_campaign(db, *, name: str, sender_id: int, body: str = "", created_by=None) -> int:
    def write(tx):
        cid = tx.next_id("seq_campaigns")
        tx.execute(
            "INSERT INTO campaigns (id, name, sender_id, body, status, created_by, created_at) "
            "VALUES (?, ?, ?, ?, 'sent', ?, ?)",
            [cid, name, sender_id, body, created_by, clock.utcnow()],
        )
        return cid

    return db.write(write)


def add_message(
    db,
    *,
    contact_id,
    sender_id,
    body,
    conversation_id=None,
    direction="out",
    status="delivered",
    author_id=None,
    at=None,
    campaign_id=None,
    error_code=None,
    error_reason=None,
    release_at=None,
    has_media=False,
) -> int:
    """One message; in a conversation, its summary (last message, counts) moves as core's writes move it."""
    at = at or clock.utcnow()

    def write(tx):
        mid = tx.scalar(
            "INSERT INTO messages (conversation_id, contact_id, sender_id, campaign_id, direction, author_id, body, "
            "status, provider_message_id, error_code, error_reason, created_at, status_at, has_media, release_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
            [
                conversation_id,
                contact_id,
                sender_id,
                campaign_id,
                direction,
                author_id,
                body,
                "received" if direction == "in" else status,
                f"F{next(_phone_seq)}-{at.timestamp()}",
                error_code,
                error_reason,
                at,
                at,
                has_media,
                release_at,
            ],
        )
        if conversation_id is not None:
            tx.execute(
                "UPDATE conversations SET last_message_at = ?, last_message_preview = ?, "
                "last_message_direction = ?, message_count = message_count + 1, "
                "last_inbound_at = CASE WHEN ? = 'in' THEN ? ELSE last_inbound_at END, "
                "last_inbound_id = CASE WHEN ? = 'in' THEN greatest(coalesce(last_inbound_id, 0), ?) "
                "ELSE last_inbound_id END, "
                "last_out_id = CASE WHEN ? = 'out' THEN greatest(coalesce(last_out_id, 0), ?) ELSE last_out_id END "
                "WHERE id = ?",
                [at, body[:140], direction, direction, at, direction, mid, direction, mid, conversation_id],
            )
        return mid

    return db.write(write)


def mark_read(db, user_id: int, conversation_id: int) -> None:
    """The owner has read the conversation up to now (as opening it does)."""
    db.write(
        lambda tx: tx.execute(
            "INSERT OR REPLACE INTO read_markers (user_id, conversation_id, read_at, unread, read_upto) "
            "SELECT ?, ?, ?, FALSE, last_inbound_id FROM conversations WHERE id = ?",
            [user_id, conversation_id, clock.utcnow(), conversation_id],
        )
    )


def add_template(
    db,
    *,
    name="Reminder",
    body="Hi {{first_name}}, see you soon.",
    kind="conversation",
    channel=None,
    registered=False,
    provider_name=None,
    language="en_US",
    category=None,
    approval_status=None,
    parameter_format="positional",
    header_format="none",
    header_text=None,
    header_link=None,
    footer=None,
    buttons=None,
    content_sid=None,
    samples=None,
    active=True,
) -> int:
    """A template row (for any channel unless one is given); a registered one is WhatsApp's, approved
    utility under a provider name from its name unless told otherwise."""
    import json

    if registered:
        channel = channel or "whatsapp"
        provider_name = provider_name or name.lower().replace(" ", "_")
        category = category or "utility"
        approval_status = approval_status or "approved"

    def write(tx):
        tid = tx.next_id("seq_templates")
        tx.execute(
            "INSERT INTO templates (id, name, kind, channel, body, registered, provider_name, language, category, "
            "approval_status, parameter_format, header_format, header_text, header_link, footer, buttons, "
            "content_sid, samples, active, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                tid,
                name,
                kind,
                channel,
                body,
                registered,
                provider_name,
                language,
                category,
                approval_status,
                parameter_format,
                header_format,
                header_text,
                header_link,
                footer,
                json.dumps(buttons) if buttons else None,
                content_sid,
                json.dumps(samples) if samples else None,
                active,
                clock.utcnow(),
            ],
        )
        return tid

    return db.write(write)


def add_outbox(
    db, *, message_id, sender_id, due_at, state="pending", created_at=None, retry_since=None, queued_reason=None
) -> None:
    """One outbox row for ``message_id`` (as queuing writes it), and why the message waits."""

    def write(tx):
        tx.execute(
            "INSERT INTO outbox (message_id, sender_id, due_at, state, created_at, retry_since) VALUES (?,?,?,?,?,?)",
            [message_id, sender_id, due_at, state, created_at or clock.utcnow(), retry_since],
        )
        tx.execute("UPDATE messages SET queued_reason = ? WHERE id = ?", [queued_reason, message_id])

    db.write(write)


def add_webhook(db, *, received_at, state="pending", provider="twilio") -> int:
    """One stored webhook (as the ingest route stores it before acknowledging)."""
    return db.write(
        lambda tx: tx.scalar(
            "INSERT INTO webhook_inbox (received_at, provider, state, url, content_type, body) "
            "VALUES (?, ?, ?, '/webhooks/twilio', 'application/x-www-form-urlencoded', ?) RETURNING id",
            [received_at, provider, state, b"MessageSid=SM1"],
        )
    )
