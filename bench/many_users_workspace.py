"""The workspace the many-users load runs on, and a live session (cookie) per agent.

``generate``: a generated one (the benchmark generator's history, distinct texts and long-tailed
threads, every agent owning open SMS conversations), for ``bench/bench_many_users.py`` and
``tests/e2e/test_many_users.py``; ``prepare``: a tiny one built with factories, for tests that
need a single conversation (``tests/e2e/test_crash_whole_burst.py``). The sessions are signed
with ``SECRET``, which ``bench.many_users.Server`` starts Parley with.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

SECRET = "many-users-secret"


# ---- the workspace ------------------------------------------------------------------------------------


@dataclass
class Workspace:
    db_path: Path
    sender_phone: str
    agents: list[tuple[str, str, list[int]]]  # (username, session cookie, conversation ids)
    customers: list[str] = field(default_factory=list)  # numbers of the agents' customers (webhooks come from them too)


def generate(work: Path, agents: int, conversations: int, per_agent: int = 40) -> Workspace:
    """A generated workspace (``generator.write``: 90 days of history, distinct texts, long-tailed
    threads) of ``conversations`` conversations and ``agents`` agents, its SMS sender on Twilio,
    business hours always open, and a live session (cookie) per agent with up to ``per_agent`` of
    their open SMS conversations with customers who have not opted out."""
    from core import schema, sessions, settings
    from core.db import Database
    from core.media_store import MediaStore
    from generator.write import generate_workspace
    from tests import factories as f

    db = Database(work / "parley.duckdb")
    schema.migrate(db)
    # One campaign per agent and month: a campaign's replies are its creator's, so every agent owns some.
    generate_workspace(db, MediaStore(work / "media"), agents=agents, contacts=conversations,
                       conversations=conversations, history_days=90, varied_texts=True, campaigns=3 * agents,
                       demo=False, demo_passwords=False, workspace_name="Many users")  # fmt: skip
    settings.ensure_defaults(db)
    f.always_open(db)
    db.write(
        lambda tx: tx.execute("UPDATE senders SET provider = 'twilio', rate_per_second = 1000 WHERE channel = 'sms'")
    )
    phone = db.scalar("SELECT phone FROM senders WHERE channel = 'sms' ORDER BY id LIMIT 1")
    rows = db.fetchall(
        """SELECT u.id, u.username, list(c.id ORDER BY c.last_message_at DESC), list(ct.phone)
           FROM users u JOIN conversations c ON c.owner_id = u.id JOIN contacts ct ON ct.id = c.contact_id
           JOIN senders s ON s.id = c.sender_id
           WHERE u.role = 'standard' AND u.active AND c.status = 'open' AND s.phone = ? AND s.channel = 'sms'
             AND NOT ct.opted_out AND NOT ct.archived
           GROUP BY ALL ORDER BY u.username""",
        [phone],
    )
    people, customers = [], []
    for user_id, username, convs, phones in rows:
        cookie = sessions.start(db, user_id, SECRET.encode(), source="bench").cookie
        people.append((username, cookie, convs[:per_agent]))
        customers += phones[:per_agent]
    db.checkpoint()
    db.close()
    if len(people) < agents:
        raise RuntimeError(f"only {len(people)} of {agents} agents own an open SMS conversation; generate more")
    return Workspace(work / "parley.duckdb", phone, people, customers)


def prepare(work: Path, agents: int, conversations_each: int, twilio_token: str) -> Workspace:
    """A workspace with ``agents`` agents owning ``conversations_each`` conversations each, a Twilio
    sender, business hours always open, and a live session (cookie) per agent."""
    from core import schema, sessions, settings
    from core.actions.users import do_create_user, do_create_workspace
    from core.db import Database
    from tests import factories as f

    db = Database(work / "parley.duckdb")
    schema.migrate(db)
    do_create_workspace(db, name="Many users", demo=False)
    settings.ensure_defaults(db)
    f.always_open(db)
    admin = do_create_user(db, None, "ada", "Ada", "admin", "long-enough-pw")
    sender = f.add_sender(db, provider="twilio", rate=1000)
    people = []
    rng = random.Random(7)
    words = ["Tuesday", "cleaning", "invoice", "x-ray", "Friday", "parking", "insurance", "crown", "reschedule"]
    for a in range(agents):
        agent = do_create_user(db, admin, f"agent{a:02d}", f"Agent {a:02d}", "standard", "long-enough-pw")
        convs = []
        for c in range(conversations_each):
            contact = f.add_contact(db, phone=f"+1415867{a:02d}{c:02d}", name=f"Customer {a}-{c}")
            text = f"Hi, about my {rng.choice(words)} on {rng.choice(words)} ({a}-{c})"
            convs.append(f.add_conversation(db, contact_id=contact, sender_id=sender, owner_id=agent.id,
                                            inbound_body=text))  # fmt: skip
        cookie = sessions.start(db, agent.id, SECRET.encode(), source="bench").cookie
        people.append((agent.username, cookie, convs))
    phone = db.scalar("SELECT phone FROM senders WHERE id = ?", [sender])
    db.checkpoint()
    db.close()
    return Workspace(work / "parley.duckdb", phone, people)
