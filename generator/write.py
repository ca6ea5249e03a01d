"""One generator for the demo workspace and the benchmark workspace.

Everything is planned with numpy over whole columns (no per-message Python
loop), then written in one transaction with DataFrame bulk inserts; ids are
reserved from the sequences and passed explicitly. The data obeys the
domain rules, so every page shows something true:

- a conversation exists only once the customer wrote: campaign recipients
  who never replied have their campaign message and no conversation;
  numbers that got no campaign start *unsolicited* threads owned by the admin;
- nothing went out outside business hours or the recipient's quiet hours
  (the live rules in ``core.compliance.hours``, default settings): a reply
  written at night went out at the next opening, or is still *queued*;
- summary columns equal what the messages say; statuses carry reasons;
  the opted-out contact got nothing after STOP but the confirmation.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core import clock, reporting, settings
from core.auth import hash_password
from core.db import Database, Transaction
from core.media_store import MediaStore
from generator import content
from generator.plan import (  # noqa: F401  (DEMO_* are re-exported for generator.demo)
    DEMO_AGENTS,
    DEMO_PASSWORD,
    NAT,
    OUT,
    RETRY_ERROR,
    SMS_SENDER,
    TOLL_FREE_SENDER,
    WHATSAPP_SENDER,
    Plan,
    plan_workspace,
)

Progress = Callable[[float, str], None]


@dataclass
class GenerationReport:
    workspace_name: str
    users: dict[str, int] = field(default_factory=dict)  # username -> id
    admin_id: int = 0
    agent_ids: list[int] = field(default_factory=list)
    supervisor_id: int = 0
    sender_ids: dict[str, int] = field(default_factory=dict)  # 'sms', 'whatsapp' (+ 'toll_free' in the demo)
    contacts: int = 0
    conversations: int = 0
    messages: int = 0
    inbound: int = 0
    outbound: int = 0
    campaign_only_messages: int = 0  # campaign messages to recipients who never replied
    campaigns: int = 0
    templates: int = 0
    media: int = 0
    read_markers: int = 0
    events: int = 0
    facts: int = 0
    opted_out_contact_ids: list[int] = field(default_factory=list)
    big_conversation_id: int | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.contacts:,} contacts, {self.conversations:,} conversations, {self.messages:,} messages "
            f"({self.inbound:,} in, {self.outbound:,} out, of which {self.campaign_only_messages:,} campaign "
            f"messages nobody answered), {self.campaigns} campaigns, {self.media} files, {self.events:,} "
            f"events, {len(self.users)} users in {self.seconds:.1f} s"
        )


def generate_workspace(
    db: Database,
    media: MediaStore,
    *,
    agents: int = 3,
    contacts: int = 500,
    conversations: int = 300,
    messages_per_conversation: tuple[int, int] = (2, 14),
    big_conversation_messages: int = 0,
    campaigns: int = 3,
    seed: int = 7,
    demo_passwords: bool = True,
    demo: bool = True,
    workspace_name: str = "Brightside Dental",
    progress: Progress | None = None,
) -> GenerationReport:
    """Fill an empty, migrated database with a whole workspace (see the module docstring).

    ``agents`` ≤ 3 gives the demo agents (maria, james, aiko), more gives
    agent01..agentNN; there is always ``admin`` and the supervisor ``sam``.
    Each campaign is created by an agent in turn, who owns its replies.
    ``demo_passwords`` gives every user the password ``parley-demo``
    (otherwise a random one nobody knows).
    """
    started = time.perf_counter()
    say = progress or (lambda fraction, text: None)
    if db.scalar("SELECT count(*) FROM workspace"):
        raise ValueError("This database already has a workspace; generate into an empty one.")
    say(0.0, "Storing sample files")
    files = content.sample_files()
    for f in files:
        f["sha256"] = media.put(f["data"])
    password_hash = hash_password(DEMO_PASSWORD if demo_passwords else secrets.token_urlsafe(24))
    now = clock.utcnow().replace(microsecond=0)
    say(0.05, "Planning contacts, conversations and messages")
    plan = plan_workspace(
        now=now,
        agents=agents,
        contacts=contacts,
        conversations=conversations,
        per_conversation=messages_per_conversation,
        big=big_conversation_messages,
        campaigns=campaigns,
        seed=seed,
        files=files,
    )
    report = GenerationReport(workspace_name=workspace_name)

    def write(tx: Transaction) -> None:
        ids = _write_small(tx, report, now, agents, password_hash, demo, workspace_name)
        _write_bulk(tx, report, plan, ids, say)

    db.write(write)
    say(0.9, "Deriving reporting facts")
    report.facts = db.write(reporting.rebuild)  # what Stats read, as the live fact writer would have written
    report.seconds = time.perf_counter() - started
    say(1.0, "Done")
    return report


# ---- writing ---------------------------------------------------------------------------------


def _ids(tx: Transaction, sequence: str, n: int) -> np.ndarray:
    # next_ids fetches every row, which also leaves the cursor free for insert_df.
    return np.asarray(tx.next_ids(sequence, n), dtype=np.int64)


def _ts(us: np.ndarray) -> np.ndarray:
    return np.asarray(us, dtype=np.int64).view("datetime64[us]")


def _nullable(values: np.ndarray, null: np.ndarray) -> pd.arrays.IntegerArray:
    return pd.arrays.IntegerArray(np.where(null, 0, values).astype(np.int64), np.asarray(null, dtype=bool))


def _write_small(
    tx: Transaction,
    report: GenerationReport,
    now: dt.datetime,
    agents: int,
    password_hash: str,
    demo: bool,
    workspace_name: str,
) -> dict[str, np.ndarray]:
    founded = now - dt.timedelta(days=400)
    tx.execute(
        "INSERT INTO workspace (id, name, timezone, demo, created_at) VALUES (1, ?, 'America/New_York', ?, ?)",
        [workspace_name, demo, founded],
    )
    for key, value in settings.DEFAULTS.items():
        settings.put(tx, key, value)
    team_id = int(_ids(tx, "seq_teams", 1)[0])
    tx.insert_df("teams", pd.DataFrame({"id": [team_id], "name": ["Front Desk"], "created_at": [founded]}))

    people = [("admin", "Alex Rivera", "admin")]
    if agents <= len(DEMO_AGENTS):
        people += [(u, n, "standard") for u, n in DEMO_AGENTS[:agents]]
    else:
        people += [(f"agent{i:02d}", f"Agent {i:02d}", "standard") for i in range(1, agents + 1)]
    people.append(("sam", "Sam Okafor", "supervisor"))
    users = _ids(tx, "seq_users", len(people))
    tx.insert_df(
        "users",
        pd.DataFrame(
            {
                "id": users,
                "username": [p[0] for p in people],
                "display_name": [p[1] for p in people],
                "role": [p[2] for p in people],
                "team_id": team_id,
                "password_hash": password_hash,
                "timezone": "America/New_York",
                "active": True,
                "created_at": founded,
            }
        ),
    )
    report.users = {p[0]: int(uid) for p, uid in zip(people, users)}
    report.admin_id, report.supervisor_id = int(users[0]), int(users[-1])
    report.agent_ids = [int(u) for u in users[1:-1]]

    senders = [
        ("sms", SMS_SENDER, "Front desk SMS", "10dlc", "registered", 10.0),
        ("whatsapp", WHATSAPP_SENDER, "WhatsApp", "whatsapp", "approved", 20.0),
    ]
    if demo:  # something for the admins' "unregistered sender" warning to show
        senders.append(("toll_free", TOLL_FREE_SENDER, "Toll-free (verification pending)", "toll_free", "pending", 3.0))
    sender_ids = _ids(tx, "seq_senders", len(senders))
    tx.insert_df(
        "senders",
        pd.DataFrame(
            {
                "id": sender_ids,
                "phone": [s[1] for s in senders],
                "channel": ["whatsapp" if s[0] == "whatsapp" else "sms" for s in senders],
                "provider": "simulator",
                "label": [s[2] for s in senders],
                "registration_kind": [s[3] for s in senders],
                "registration_status": [s[4] for s in senders],
                "rate_per_second": [s[5] for s in senders],
                "enabled": True,
                "created_at": founded,
            }
        ),
    )
    report.sender_ids = {s[0]: int(sid) for s, sid in zip(senders, sender_ids)}

    templates = content.TEMPLATES
    template_ids = _ids(tx, "seq_templates", len(templates))
    tx.insert_df(
        "templates",
        pd.DataFrame(
            {
                "id": template_ids,
                "name": [t[0] for t in templates],
                "channel": [t[1] for t in templates],
                "body": [t[2] for t in templates],
                "registered": [t[3] for t in templates],
                "provider_name": [t[4] for t in templates],
                "language": [t[5] for t in templates],
                # Registered ones were approved by WhatsApp (the demo's appointment messages are utility).
                "category": [content.TEMPLATE_CATEGORIES.get(t[4]) for t in templates],
                "approval_status": ["approved" if t[3] else None for t in templates],
                "kind": [t[6] if len(t) > 6 else "conversation" for t in templates],
                "active": True,
                "created_by": report.admin_id,
                "created_at": founded,
            }
        ),
    )
    report.templates = len(template_ids)
    checkup = template_ids[[t[4] for t in templates].index(content.CHECKUP_TEMPLATE)]
    campaign_templates = {t[2]: int(i) for t, i in zip(templates, template_ids) if len(t) > 6 and t[6] == "campaign"}
    return {
        "users": users,
        "senders": sender_ids[:2],
        "checkup_template": checkup,
        "campaign_templates": campaign_templates,
    }


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
                "optout_flag": v["optout_flag"],
            }
        ),
    )

    say(0.55, f"Writing {len(m['conv']):,} messages")
    msg_ids = _ids(tx, "seq_messages", len(m["conv"]))[m["id_rank"]]  # ids follow created_at
    orphan, out = m["conv"] < 0, m["direction"] == OUT
    tx.insert_df(
        "messages",
        pd.DataFrame(
            {
                "id": msg_ids,
                "conversation_id": _nullable(conv_ids[np.maximum(m["conv"], 0)], orphan),
                "contact_id": contact_ids[m["contact"]],
                "sender_id": senders[m["sender"]],
                "campaign_id": _nullable(campaign_ids[np.maximum(m["campaign"], 0)], m["campaign"] < 0),
                "direction": np.where(out, "out", "in"),
                "author_id": _nullable(users[np.maximum(m["author"], 0)], m["author"] < 0),
                "body": m["body"],
                "status": m["status"],
                "provider_message_id": pd.Series(np.char.add("SIMG", msg_ids.astype("U20")), dtype="str").where(
                    m["has_pid"]
                ),
                "error_code": m["error_code"],
                "error_reason": m["error_reason"],
                "created_at": _ts(m["created_at"]),
                "status_at": _ts(m["status_at"]),
                "has_media": m["media_file"] >= 0,
                "release_at": _ts(m["release_at"]),
                "template_id": _nullable(np.full(len(msg_ids), ids["checkup_template"]), ~m["template"]),
            }
        ),
    )

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
            }
        ),
    )

    say(0.75, "Writing reporting events")
    report.events = _write_events(tx, p, users, senders, conv_ids, msg_ids, campaign_ids)
    report.contacts, report.conversations, report.messages = len(contact_ids), len(conv_ids), len(msg_ids)
    report.inbound, report.outbound = int((~out).sum()), int(out.sum())
    report.campaign_only_messages, report.campaigns = int(orphan.sum()), len(campaign_ids)
    report.read_markers = len(r["conv"])
    report.big_conversation_id = int(conv_ids[p.big_conversation]) if p.big_conversation >= 0 else None


def _write_events(
    tx: Transaction,
    p: Plan,
    users: np.ndarray,
    senders: np.ndarray,
    conv_ids: np.ndarray,
    msg_ids: np.ndarray,
    campaign_ids: np.ndarray,
) -> int:
    """Reporting facts, as the live code would have published them."""
    v, m, s = p.conversations, p.messages, pd.Series
    in_conv, out, status = m["conv"] >= 0, m["direction"] == OUT, m["status"]
    conv = np.where(in_conv, conv_ids[np.maximum(m["conv"], 0)], -1)
    user = np.where(
        in_conv,
        users[v["owner"][np.maximum(m["conv"], 0)]],
        np.where(m["author"] >= 0, users[np.maximum(m["author"], 0)], -1),
    )
    name = np.where(
        ~out,
        "message.received",
        np.where(
            np.isin(status, ["queued", "sending"]),
            "message.queued",
            np.where(status == "not_sent", "message.not_sent", "message.sent"),
        ),
    )
    payload = (
        '{"conversation_id": '
        + s(conv).astype(str).replace("-1", "null")
        + ', "message_id": '
        + s(msg_ids).astype(str)
        + ', "user_id": '
        + s(user).astype(str).replace("-1", "null")
        + ', "channel": '
        + s(np.where(m["sender"] == 1, '"whatsapp"', '"sms"'))
        + ', "sender_id": '
        + s(senders[m["sender"]]).astype(str)
        + ', "status": "'
        + s(status)
        + '"}'
    )
    frame = pd.DataFrame(
        {
            "occurred_at": _ts(m["event_at"]),
            "name": name,
            "conversation_id": _nullable(conv, ~in_conv),
            "message_id": msg_ids,
            "user_id": _nullable(user, user < 0),
            "payload": payload,
        }
    )
    unsolicited, owner = v["campaign"] < 0, users[v["owner"]]
    campaign = np.where(unsolicited, -1, campaign_ids[np.maximum(v["campaign"], 0)])
    created = pd.DataFrame(
        {
            "occurred_at": _ts(v["created_at"]),
            "name": "conversation.created",
            "conversation_id": conv_ids,
            "message_id": _nullable(conv_ids, np.ones(len(conv_ids), bool)),
            "user_id": owner,
            "payload": (
                '{"conversation_id": '
                + s(conv_ids).astype(str)
                + ', "user_id": '
                + s(owner).astype(str)
                + ', "unsolicited": '
                + s(np.where(unsolicited, "true", "false"))
                + ', "campaign_id": '
                + s(campaign).astype(str).replace("-1", "null")
                + "}"
            ),
        }
    )
    frame = pd.concat([frame, created], ignore_index=True).sort_values("occurred_at", kind="stable", ignore_index=True)
    frame.insert(0, "id", _ids(tx, "seq_events", len(frame)))
    return tx.insert_df("events", frame)
