"""The dispatch bench's workspace: contacts, conversations each started by the customer's reply
(rule 1), and outgoing messages queued in bulk exactly as ``do_send`` records them.

Apart from ``bench.bench_dispatch`` (which runs the dispatcher over them): these are the rows
a real workspace would hold when a burst of sends is due.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from core import clock, events, schema, settings
from core.actions.users import do_create_workspace
from core.db import Database
from core.phones import normalize_name
from tests import factories

# ---- the workspace ---------------------------------------------------------------------------


def build_workspace(path: Path, conversations: int) -> tuple[Database, int, list[tuple[int, int]]]:
    db = Database(path)
    schema.migrate(db)
    do_create_workspace(db, name="Dispatch bench", demo=False)
    settings.ensure_defaults(db)
    factories.always_open(db)  # business and quiet hours open all day: everything is due now
    now = clock.utcnow()

    def write(tx):
        agent = tx.next_id("seq_users")
        tx.execute(
            "INSERT INTO users (id, username, display_name, role, team_id, password_hash, active, created_at) "
            "VALUES (?, 'agent', 'Bench Agent', 'standard', 1, 'x', TRUE, ?)",
            [agent, now],
        )
        ids = np.asarray(tx.next_ids("seq_contacts", conversations), dtype=np.int64)
        phones = [f"+1415{867 + i // 10000}{i % 10000:04d}" for i in range(conversations)]
        names = [f"Customer {i}" for i in range(conversations)]
        tx.insert_df(
            "contacts",
            pd.DataFrame(
                {
                    "id": ids,
                    "phone": phones,
                    "name": names,
                    "opted_out": False,
                    "created_at": now,
                    "updated_at": now,
                    "search_name": [normalize_name(n) for n in names],
                    "phone_digits": [p[1:] for p in phones],
                }
            ),
        )
        return agent, ids

    agent, contact_ids = db.write(write)
    return db, agent, contact_ids


def add_conversations(db: Database, sender_id: int, agent: int, contact_ids: np.ndarray) -> list[tuple[int, int]]:
    """One conversation per contact on this sender, each started by the customer's reply (rule 1)."""
    at = clock.utcnow() - dt.timedelta(minutes=5)

    def write(tx):
        conv = np.asarray(tx.next_ids("seq_conversations", len(contact_ids)), dtype=np.int64)
        first = np.asarray(tx.next_ids("seq_messages", len(conv)), dtype=np.int64)
        tx.insert_df(
            "conversations",
            pd.DataFrame(
                {
                    "id": conv,
                    "contact_id": contact_ids,
                    "sender_id": sender_id,
                    "channel": "sms",
                    "owner_id": agent,
                    "status": "open",
                    "created_at": at,
                    "last_message_at": at,
                    "last_message_preview": "Hello",
                    "last_message_direction": "in",
                    "last_inbound_at": at,
                    "last_inbound_id": first,
                    "message_count": 1,
                }
            ),
        )
        tx.insert_df(
            "messages",
            pd.DataFrame(
                {
                    "id": first,
                    "conversation_id": conv,
                    "contact_id": contact_ids,
                    "sender_id": sender_id,
                    "direction": "in",
                    "body": "Hello",
                    "status": "received",
                    "provider_message_id": [f"IN{c}" for c in conv],
                    "created_at": at,
                    "status_at": at,
                }
            ),
        )
        return list(zip(conv.tolist(), contact_ids.tolist()))

    return db.write(write)


def queue_messages(
    db: Database, sender_id: int, agent: int, convs: list[tuple[int, int]], count: int, tag: str
) -> list[int]:
    """What ``do_send`` writes, ``count`` times in one transaction: messages (queued), outbox rows
    (pending, due now), the conversations' summary columns and the ``message.queued`` events."""
    now = clock.utcnow()
    conv_of = np.array([convs[i % len(convs)][0] for i in range(count)], dtype=np.int64)
    contact_of = np.array([convs[i % len(convs)][1] for i in range(count)], dtype=np.int64)
    bodies = [f"{tag} message {i}: your appointment is confirmed for Tuesday at 3 pm." for i in range(count)]

    def write(tx):
        ids = np.asarray(tx.next_ids("seq_messages", count), dtype=np.int64)
        tx.insert_df(
            "messages",
            pd.DataFrame(
                {
                    "id": ids,
                    "conversation_id": conv_of,
                    "contact_id": contact_of,
                    "sender_id": sender_id,
                    "direction": "out",
                    "author_id": agent,
                    "body": bodies,
                    "status": "queued",
                    "error_reason": pd.Series([None] * count, dtype="object"),
                    "created_at": now,
                    "status_at": now,
                    "has_media": False,
                    "release_at": pd.Series([None] * count, dtype="datetime64[us]"),
                    "template_id": pd.array([None] * count, dtype="Int64"),
                }
            ),
        )
        tx.insert_df(
            "outbox",
            pd.DataFrame(
                {
                    "id": tx.next_ids("seq_outbox", count),
                    "message_id": ids,
                    "sender_id": sender_id,
                    "due_at": now,
                    "created_at": now,
                }
            ),
        )
        per_conv = (
            pd.DataFrame({"id": conv_of, "body": bodies}).groupby("id").agg(n=("body", "size"), last=("body", "last"))
        )
        per_conv = per_conv.reset_index()
        tx.cursor.register("_bench_touch", per_conv)
        try:
            tx.execute(
                """UPDATE conversations SET last_message_at = greatest(last_message_at, ?),
                              last_message_preview = t.last, last_message_direction = 'out',
                              message_count = message_count + t.n
                          FROM _bench_touch t WHERE conversations.id = t.id""",
                [now],
            )
        finally:
            tx.cursor.unregister("_bench_touch")
        for c, m in zip(conv_of.tolist(), ids.tolist()):  # persisted in bulk with the commit, then released
            tx.publish(
                events.MESSAGE_QUEUED,
                conversation_id=c,
                message_id=m,
                user_id=agent,
                author_id=agent,
                channel="sms",
                sender_id=sender_id,
                reason=None,
            )
        return ids.tolist()

    return db.write(write)
