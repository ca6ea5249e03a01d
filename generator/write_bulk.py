"""Writing the planned workspace in bulk: contacts, campaigns, conversations, messages, files,
the outbox, opt-outs, read markers and the events of it all, as DataFrame and Arrow inserts
with ids reserved from the sequences.

Part of ``generator.write`` (which calls ``_write_bulk`` inside its one transaction, after the
workspace's own rows); the id and column helpers here serve both.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core import contact_search
from core.db import Transaction
from generator.plan_shared import NAT, OUT, RETRY_ERROR, Plan

if TYPE_CHECKING:  # generator.write imports this module
    from generator.write import GenerationReport, Progress


def _ids(tx: Transaction, sequence: str, n: int) -> np.ndarray:
    """``n`` consecutive ids from ``sequence``, reserved in one statement (nobody else writes meanwhile)."""
    if n == 0:
        return np.zeros(0, np.int64)
    first, last = tx.fetchone(f"SELECT min(v), max(v) FROM (SELECT nextval('{sequence}') AS v FROM range(?))", [n])
    if last - first + 1 != n:
        raise RuntimeError(f"{sequence} gave non-consecutive ids")
    return np.arange(first, last + 1, dtype=np.int64)


def _insert_arrow(tx: Transaction, table: str, data: pa.Table) -> None:
    name = f"_arrow_{table}"
    tx.cursor.register(name, data)
    try:
        cols = ", ".join(f'"{c}"' for c in data.column_names)
        tx.cursor.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {name}")
    finally:
        tx.cursor.unregister(name)


def _arrow_ints(values: np.ndarray, null: np.ndarray | None = None, type_=pa.int64()) -> pa.Array:
    return pa.array(np.asarray(values, np.int64), type_, mask=None if null is None else np.asarray(null, bool))


def _arrow_times(us: np.ndarray) -> pa.Array:
    us = np.asarray(us, np.int64)
    return pa.array(us, pa.int64(), mask=us == NAT).cast(pa.timestamp("us"))


def _ts(us: np.ndarray) -> np.ndarray:
    return np.asarray(us, dtype=np.int64).view("datetime64[us]")


def _nullable(values: np.ndarray, null: np.ndarray) -> pd.arrays.IntegerArray:
    return pd.arrays.IntegerArray(np.where(null, 0, values).astype(np.int64), np.asarray(null, dtype=bool))


def _write_bulk(tx: Transaction, report: GenerationReport, p: Plan, ids: dict, say: Progress) -> None:
    users, senders = ids["users"], ids["senders"]
    c, v, m = p.contacts, p.conversations, p.messages

    say(0.35, f"Writing {len(c['phone']):,} contacts")
    contact_ids = _ids(tx, "seq_contacts", len(c["phone"]))
    tx.insert_df(
        "contacts",
        pd.DataFrame(
            {
                "id": contact_ids,
                "phone": c["phone"],
                "name": c["name"],
                "email": c["email"],
                "tags": c["tags"],
                "notes": c["notes"],
                "opted_out": c["opted_out"],
                "opted_out_at": _ts(c["opted_out_at"]),
                "created_at": _ts(c["created_at"]),
                "updated_at": _ts(c["updated_at"]),
                "search_name": c["search_name"],
                "phone_digits": c["phone_digits"],
            }
        ),
    )
    say(0.4, "Indexing contacts for search")
    contact_search.rebuild(tx)

    k = p.campaigns
    campaign_ids = _ids(tx, "seq_campaigns", len(k["name"]))
    tx.insert_df(
        "campaigns",
        pd.DataFrame(
            {
                "id": campaign_ids,
                "name": k["name"],
                "sender_id": senders[k["sender"]],
                "body": k["body"],
                "template_id": pd.array([ids["campaign_templates"].get(b) for b in k["body"]], dtype="Int64"),
                "queued_at": _ts(k["created_at"]),
                "status": "sent",
                "created_by": users[k["creator"]],
                "created_at": _ts(k["created_at"]),
                "recipients": k["recipients"],
            }
        ),
    )

    say(0.45, f"Writing {len(v['contact']):,} conversations")
    conv_ids = _ids(tx, "seq_conversations", len(v["contact"]))
    ranked = _ids(tx, "seq_messages", len(m["conv"]))
    msg_ids = ranked[m["id_rank"]]  # ids follow created_at
    # Each conversation's latest outgoing message (conversations.last_out_id): its messages come
    # first in the plan, conversation by conversation, in time order.
    starts = np.cumsum(v["count"]) - v["count"]
    threaded = int(v["count"].sum())
    last_out = np.maximum.reduceat(np.where(m["direction"][:threaded] == OUT, msg_ids[:threaded], -1), starts)
    # And its latest incoming one (conversations.last_inbound_id: unread after it, core.queries).
    last_in = np.maximum.reduceat(np.where(m["direction"][:threaded] != OUT, msg_ids[:threaded], -1), starts)
    unsolicited = v["campaign"] < 0
    tx.insert_df(
        "conversations",
        pd.DataFrame(
            {
                "id": conv_ids,
                "contact_id": contact_ids[v["contact"]],
                "sender_id": senders[v["sender"]],
                "channel": np.where(v["sender"] == 1, "whatsapp", "sms"),
                "owner_id": users[v["owner"]],
                "unsolicited": unsolicited,
                "campaign_id": _nullable(campaign_ids[np.maximum(v["campaign"], 0)], unsolicited),
                "status": np.where(v["closed_at"] != NAT, "closed", "open"),
                "created_at": _ts(v["created_at"]),
                "closed_at": _ts(v["closed_at"]),
                "last_message_at": _ts(v["last_message_at"]),
                "last_message_preview": v["preview"],
                "last_message_direction": np.where(v["last_out"], "out", "in"),
                "last_inbound_at": _ts(v["last_inbound_at"]),
                "message_count": v["count"],
                "last_out_id": _nullable(last_out, last_out < 0),
                "last_inbound_id": _nullable(last_in, last_in < 0),
                "optout_flag": v["optout_flag"],
            }
        ),
    )

    say(0.55, f"Writing {len(m['conv']):,} messages")
    orphan, out = m["conv"] < 0, m["direction"] == OUT
    order = np.argsort(m["id_rank"], kind="stable")  # rows are stored in id order, as a live Parley appends them
    has_pid = np.asarray(m["has_pid"], bool)
    conv_of = conv_ids[np.maximum(m["conv"], 0)]
    owner_of = users[v["owner"][np.maximum(m["conv"], 0)]]
    author = users[np.maximum(m["author"], 0)]
    channel = np.where(m["sender"] == 1, "whatsapp", "sms")
    messages = pa.table(
        {
            "id": pa.array(msg_ids, pa.int64()),
            "conversation_id": _arrow_ints(conv_of, orphan, pa.int32()),
            "contact_id": _arrow_ints(contact_ids[m["contact"]], None, pa.int32()),
            "sender_id": _arrow_ints(senders[m["sender"]], None, pa.int32()),
            "campaign_id": _arrow_ints(campaign_ids[np.maximum(m["campaign"], 0)], m["campaign"] < 0, pa.int32()),
            "direction": pa.array(np.where(out, "out", "in"), pa.string()),
            "author_id": _arrow_ints(author, m["author"] < 0, pa.int32()),
            "body": m["body"],
            "status": pa.array(m["status"], pa.string()),
            "provider_message_id": pc.if_else(
                pa.array(has_pid),
                pc.binary_join_element_wise("SIMG", pc.cast(pa.array(msg_ids), pa.string()), ""),
                pa.scalar(None, pa.string()),
            ),
            "error_code": pa.array(m["error_code"], pa.string()),
            "error_reason": pa.array(m["error_reason"], pa.string()),
            "created_at": _arrow_times(m["created_at"]),
            "status_at": _arrow_times(m["status_at"]),
            "has_media": pa.array(m["media_file"] >= 0),
            "release_at": _arrow_times(m["release_at"]),
            "template_id": _arrow_ints(np.full(len(msg_ids), ids["checkup_template"]), ~m["template"], pa.int32()),
        }
    ).take(pa.array(order))
    _insert_arrow(tx, "messages", messages)
    # What the events of these messages need (reporting facts, as the live code publishes them).
    facts = pa.table(
        {
            "message_id": pa.array(msg_ids, pa.int64()),
            "conversation_id": _arrow_ints(conv_of, orphan),
            "user_id": _arrow_ints(np.where(orphan, author, owner_of), orphan & (m["author"] < 0)),
            "channel": pa.array(channel, pa.string()),
            "sender_id": pa.array(senders[m["sender"]], pa.int64()),
            "status": messages.column("status").take(pa.array(np.argsort(order, kind="stable"))),
            "direction": pa.array(np.where(out, "out", "in"), pa.string()),
            "occurred_at": _arrow_times(m["event_at"]),
        }
    )
    del messages

    rows = np.flatnonzero(m["media_file"] >= 0)
    files = [p.files[i] for i in m["media_file"][rows]]
    tx.insert_df(
        "media",
        pd.DataFrame(
            {
                "id": _ids(tx, "seq_media", len(rows)),
                "message_id": msg_ids[rows],
                "sha256": [f["sha256"] for f in files],
                "content_type": [f["content_type"] for f in files],
                "filename": [f["filename"] for f in files],
                "size": [len(f["data"]) for f in files],
                "token": [secrets.token_urlsafe(24) for _ in files],
                "created_at": _ts(m["created_at"][rows]),
            }
        ),
    )
    report.media = len(rows)

    waiting = np.flatnonzero(np.isin(m["status"], ["queued", "sending"]))
    retried = m["attempts"][waiting] > 0
    tx.insert_df(
        "outbox",
        pd.DataFrame(
            {
                "id": _ids(tx, "seq_outbox", len(waiting)),
                "message_id": msg_ids[waiting],
                "sender_id": senders[m["sender"][waiting]],
                "due_at": _ts(
                    np.where(m["status"][waiting] == "queued", m["release_at"][waiting], m["created_at"][waiting])
                ),
                "state": "pending",
                "attempts": m["attempts"][waiting],
                "last_error": np.where(retried, RETRY_ERROR, None),
                "created_at": _ts(m["created_at"][waiting]),
            }
        ),
    )

    o = p.optouts
    tx.insert_df(
        "optout_history",
        pd.DataFrame(
            {
                "id": _ids(tx, "seq_optout_history", len(o["contact"])),
                "contact_id": contact_ids[o["contact"]],
                "kind": o["kind"],
                "keyword": o["keyword"],
                "channel": np.where(o["sender"] == 1, "whatsapp", "sms"),
                "sender_id": senders[o["sender"]],
                "message_id": msg_ids[o["message"]],
                "occurred_at": _ts(o["occurred_at"]),
            }
        ),
    )
    report.opted_out_contact_ids = contact_ids[np.flatnonzero(c["opted_out"])].tolist()

    r = p.read_markers
    tx.insert_df(
        "read_markers",
        pd.DataFrame(
            {
                "user_id": users[v["owner"][r["conv"]]],
                "conversation_id": conv_ids[r["conv"]],
                "read_at": _ts(r["read_at"]),
                "unread": False,
                # Read up to the newest incoming message; the unread ones were opened before it came.
                "read_upto": _nullable(last_in[r["conv"]], r["unread"] | (last_in[r["conv"]] < 0)),
            }
        ),
    )

    say(0.75, "Writing reporting events")
    report.events = _write_events(tx, p, users, conv_ids, campaign_ids, facts)
    report.contacts, report.conversations, report.messages = len(contact_ids), len(conv_ids), len(msg_ids)
    report.inbound, report.outbound = int((~out).sum()), int(out.sum())
    report.campaign_only_messages, report.campaigns = int(orphan.sum()), len(campaign_ids)
    report.read_markers = len(r["conv"])
    report.long_conversation_ids = [int(i) for i in conv_ids[p.giants]]
    report.big_conversation_id = report.long_conversation_ids[0] if report.long_conversation_ids else None


def _write_events(
    tx: Transaction, p: Plan, users: np.ndarray, conv_ids: np.ndarray, campaign_ids: np.ndarray, facts: pa.Table
) -> int:
    """Reporting facts, as the live code would have published them, in time order (built in SQL)."""
    v = p.conversations
    unsolicited = v["campaign"] < 0
    created = pa.table(
        {
            "conversation_id": pa.array(conv_ids, pa.int64()),
            "user_id": pa.array(users[v["owner"]], pa.int64()),
            "unsolicited": pa.array(unsolicited),
            "campaign_id": _arrow_ints(campaign_ids[np.maximum(v["campaign"], 0)], unsolicited),
            "occurred_at": _arrow_times(v["created_at"]),
        }
    )
    n = facts.num_rows + created.num_rows
    first = int(_ids(tx, "seq_events", n)[0]) if n else 0
    tx.cursor.register("_facts", facts)
    tx.cursor.register("_created", created)
    try:
        tx.execute(
            """
            INSERT INTO events (id, occurred_at, name, conversation_id, message_id, user_id, payload)
            SELECT ? + row_number() OVER (ORDER BY occurred_at, kind, ord) - 1,
                   occurred_at, name, conversation_id, message_id, user_id, payload
            FROM (
                SELECT occurred_at, 0 AS kind, message_id AS ord,
                       CASE WHEN direction = 'in' THEN 'message.received'
                            WHEN status IN ('queued', 'sending') THEN 'message.queued'
                            WHEN status = 'not_sent' THEN 'message.not_sent' ELSE 'message.sent' END AS name,
                       conversation_id, message_id, user_id,
                       '{"conversation_id": ' || coalesce(conversation_id::VARCHAR, 'null')
                       || ', "message_id": ' || message_id::VARCHAR
                       || ', "user_id": ' || coalesce(user_id::VARCHAR, 'null')
                       || ', "channel": "' || channel || '", "sender_id": ' || sender_id::VARCHAR
                       || ', "status": "' || status || '"}' AS payload
                FROM _facts
                UNION ALL
                SELECT occurred_at, 1, conversation_id, 'conversation.created', conversation_id, NULL, user_id,
                       '{"conversation_id": ' || conversation_id::VARCHAR || ', "user_id": ' || user_id::VARCHAR
                       || ', "unsolicited": ' || CASE WHEN unsolicited THEN 'true' ELSE 'false' END
                       || ', "campaign_id": ' || coalesce(campaign_id::VARCHAR, 'null') || '}'
                FROM _created
            )
            """,
            [first],
        )
    finally:
        tx.cursor.unregister("_facts")
        tx.cursor.unregister("_created")
    return n
