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

The workspace's own rows (settings, team, users, senders, templates) are written here, the
planned ones in bulk by ``generator.write_bulk``.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core import clock, reporting_backfill, settings
from core.auth import hash_password
from core.db import Database, Transaction
from core.media_store import MediaStore
from generator import attachments, content
from generator.plan import plan_workspace
from generator.plan_shared import (  # noqa: F401  (DEMO_* are re-exported for generator.demo)
    DEMO_AGENTS,
    DEMO_PASSWORD,
    SMS_SENDER,
    TOLL_FREE_SENDER,
    WHATSAPP_SENDER,
)
from generator.write_bulk import _ids, _write_bulk

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
    big_conversation_id: int | None = None  # the first of the long threads
    long_conversation_ids: list[int] = field(default_factory=list)
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
    messages_per_conversation: tuple[int, int] | float = (2, 14),
    big_conversation_messages: int = 0,
    long_conversations: int = 1,
    history_days: int = 30,
    varied_texts: bool = False,
    unanswered: float = 2.0,
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
    ``messages_per_conversation``: a (least, most) range, or a mean with a heavy
    tail; ``long_conversations`` threads of ``big_conversation_messages`` each
    run through all ``history_days`` days (see ``generator.plan``).
    ``demo_passwords`` gives every user the password ``parley-demo``
    (otherwise a random one nobody knows).
    """
    started = time.perf_counter()
    say = progress or (lambda fraction, text: None)
    if db.scalar("SELECT count(*) FROM workspace"):
        raise ValueError("This database already has a workspace; generate into an empty one.")
    say(0.0, "Storing sample files")
    files = attachments.sample_files()
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
        giants=long_conversations,
        history_days=history_days,
        varied_texts=varied_texts,
        unanswered=unanswered,
        campaigns=campaigns,
        seed=seed,
        files=files,
    )
    report = GenerationReport(workspace_name=workspace_name)

    def write(tx: Transaction) -> list[str]:
        # Secondary indexes are built once after the load rather than row by row during it.
        indexes = tx.fetchall(
            "SELECT index_name, sql FROM duckdb_indexes() WHERE table_name = 'messages' AND sql IS NOT NULL"
        )
        for name, _ in indexes:
            tx.execute(f"DROP INDEX {name}")
        ids = _write_small(tx, report, now, agents, password_hash, demo, workspace_name)
        _write_bulk(tx, report, plan, ids, say)
        return [sql for _, sql in indexes]

    for sql in db.write(write):
        say(0.85, "Indexing messages")
        db.write(lambda tx, sql=sql: tx.execute(sql))
    say(0.9, "Deriving reporting facts")
    report.facts = db.write(reporting_backfill.rebuild)  # what Stats read, as the live fact writer would have written
    report.seconds = time.perf_counter() - started
    say(1.0, "Done")
    return report


# ---- writing ---------------------------------------------------------------------------------


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
                # A registered 10DLC number's brand and campaign (what the Senders form edits)
                "brand_status": ["approved" if s[3] == "10dlc" else None for s in senders],
                "campaign_status": ["approved" if s[3] == "10dlc" else None for s in senders],
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
