"""Numbered migrations and the schema-version table.

Each migration is applied once, in order, in its own transaction, and
recorded in ``schema_version``. Starting Parley on an older database runs
the missing ones; a database newer than this code is refused with one
sentence rather than touched.

Conventions: timestamps are naive UTC ``TIMESTAMP``; phone numbers are
E.164 ``VARCHAR``; ids come from one sequence per table.
"""

from __future__ import annotations

from core import clock
from core import reporting_writer as _reporting_writer  # noqa: F401  (registers the fact writer on every write path)
from core.db import Database, Transaction
from core.errors import ParleyError
from core.migrations import Migration, discovered

M1_FOUNDATION = """
CREATE TABLE workspace (
    id INTEGER PRIMARY KEY,
    name VARCHAR NOT NULL,
    timezone VARCHAR NOT NULL DEFAULT 'America/New_York',
    demo BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL
);
CREATE SEQUENCE seq_teams;
CREATE TABLE teams (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_teams'),
    name VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE SEQUENCE seq_users;
CREATE TABLE users (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_users'),
    username VARCHAR NOT NULL UNIQUE,
    display_name VARCHAR NOT NULL,
    role VARCHAR NOT NULL CHECK (role IN ('standard', 'admin', 'supervisor')),
    team_id INTEGER,
    password_hash VARCHAR NOT NULL,
    timezone VARCHAR NOT NULL DEFAULT 'America/New_York',
    active BOOLEAN NOT NULL DEFAULT TRUE,
    locked_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE login_attempts (
    user_id INTEGER NOT NULL,
    attempted_at TIMESTAMP NOT NULL,
    ok BOOLEAN NOT NULL
);
CREATE SEQUENCE seq_contacts;
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_contacts'),
    phone VARCHAR NOT NULL UNIQUE,
    name VARCHAR,
    email VARCHAR,
    tags VARCHAR,
    notes VARCHAR,
    timezone VARCHAR,
    archived BOOLEAN NOT NULL DEFAULT FALSE,
    opted_out BOOLEAN NOT NULL DEFAULT FALSE,
    opted_out_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE SEQUENCE seq_senders;
CREATE TABLE senders (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_senders'),
    phone VARCHAR NOT NULL,
    channel VARCHAR NOT NULL CHECK (channel IN ('sms', 'whatsapp')),
    provider VARCHAR NOT NULL,
    label VARCHAR NOT NULL,
    provider_ref VARCHAR,
    registration_kind VARCHAR NOT NULL DEFAULT 'none',
    registration_status VARCHAR NOT NULL DEFAULT 'unregistered',
    rate_per_second DOUBLE NOT NULL DEFAULT 10,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL
);
CREATE SEQUENCE seq_campaigns;
CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_campaigns'),
    name VARCHAR NOT NULL,
    sender_id INTEGER NOT NULL,
    body VARCHAR NOT NULL,
    status VARCHAR NOT NULL DEFAULT 'draft',
    created_by INTEGER,
    created_at TIMESTAMP NOT NULL,
    recipients INTEGER NOT NULL DEFAULT 0
);
CREATE SEQUENCE seq_conversations;
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_conversations'),
    contact_id INTEGER NOT NULL,
    sender_id INTEGER NOT NULL,
    channel VARCHAR NOT NULL,
    owner_id INTEGER,
    unsolicited BOOLEAN NOT NULL DEFAULT FALSE,
    campaign_id INTEGER,
    status VARCHAR NOT NULL DEFAULT 'open',
    created_at TIMESTAMP NOT NULL,
    closed_at TIMESTAMP,
    last_message_at TIMESTAMP NOT NULL,
    last_message_preview VARCHAR,
    last_message_direction VARCHAR,
    last_inbound_at TIMESTAMP,
    message_count INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX conversations_contact_sender ON conversations (contact_id, sender_id);
CREATE SEQUENCE seq_messages;
CREATE TABLE messages (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_messages'),
    conversation_id INTEGER,
    contact_id INTEGER NOT NULL,
    sender_id INTEGER NOT NULL,
    campaign_id INTEGER,
    direction VARCHAR NOT NULL CHECK (direction IN ('in', 'out')),
    author_id INTEGER,
    body VARCHAR NOT NULL DEFAULT '',
    status VARCHAR NOT NULL,
    provider_message_id VARCHAR,
    error_code VARCHAR,
    error_reason VARCHAR,
    created_at TIMESTAMP NOT NULL,
    status_at TIMESTAMP,
    has_media BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX messages_provider_id ON messages (provider_message_id);
CREATE SEQUENCE seq_media;
CREATE TABLE media (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_media'),
    message_id BIGINT NOT NULL,
    sha256 VARCHAR NOT NULL,
    content_type VARCHAR NOT NULL,
    filename VARCHAR NOT NULL,
    size BIGINT NOT NULL,
    token VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE read_markers (
    user_id INTEGER NOT NULL,
    conversation_id INTEGER NOT NULL,
    read_at TIMESTAMP,
    unread BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, conversation_id)
);
CREATE SEQUENCE seq_audit;
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_audit'),
    occurred_at TIMESTAMP NOT NULL,
    actor_id INTEGER,
    action VARCHAR NOT NULL,
    object_type VARCHAR,
    object_id BIGINT,
    detail VARCHAR
);
CREATE SEQUENCE seq_events;
CREATE TABLE events (
    id BIGINT PRIMARY KEY,
    occurred_at TIMESTAMP NOT NULL,
    name VARCHAR NOT NULL,
    conversation_id BIGINT,
    message_id BIGINT,
    user_id BIGINT,
    payload VARCHAR
);
"""

M2_MESSAGING = """
ALTER TABLE messages ADD COLUMN release_at TIMESTAMP;
ALTER TABLE messages ADD COLUMN template_id INTEGER;
ALTER TABLE conversations ADD COLUMN optout_flag VARCHAR;
CREATE SEQUENCE seq_outbox;
CREATE TABLE outbox (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_outbox'),
    message_id BIGINT NOT NULL,
    sender_id INTEGER NOT NULL,
    due_at TIMESTAMP NOT NULL,
    state VARCHAR NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_at TIMESTAMP,
    last_error VARCHAR,
    created_at TIMESTAMP NOT NULL
);
CREATE SEQUENCE seq_webhooks;
CREATE TABLE webhook_inbox (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_webhooks'),
    received_at TIMESTAMP NOT NULL,
    provider VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    url VARCHAR,
    content_type VARCHAR,
    body BLOB,
    error VARCHAR,
    processed_at TIMESTAMP
);
CREATE SEQUENCE seq_templates;
CREATE TABLE templates (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_templates'),
    name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL DEFAULT 'conversation',
    channel VARCHAR,
    body VARCHAR NOT NULL,
    registered BOOLEAN NOT NULL DEFAULT FALSE,
    provider_name VARCHAR,
    language VARCHAR NOT NULL DEFAULT 'en_US',
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_by INTEGER,
    created_at TIMESTAMP NOT NULL
);
CREATE TABLE settings (
    key VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
CREATE SEQUENCE seq_optout_history;
CREATE TABLE optout_history (
    id INTEGER PRIMARY KEY DEFAULT nextval('seq_optout_history'),
    contact_id INTEGER NOT NULL,
    kind VARCHAR NOT NULL,
    keyword VARCHAR,
    channel VARCHAR,
    sender_id INTEGER,
    message_id BIGINT,
    user_id INTEGER,
    occurred_at TIMESTAMP NOT NULL
);
"""

M3_WORKFLOW = """
ALTER TABLE contacts ADD COLUMN search_name VARCHAR NOT NULL DEFAULT '';
ALTER TABLE contacts ADD COLUMN phone_digits VARCHAR NOT NULL DEFAULT '';
UPDATE contacts SET phone_digits = regexp_replace(phone, '[^0-9]', '', 'g'),
                    search_name = lower(coalesce(name, ''));
"""

MIGRATIONS: list[Migration] = [
    Migration(1, "foundation", M1_FOUNDATION, None),
    Migration(2, "messaging", M2_MESSAGING, None),
    Migration(3, "workflow", M3_WORKFLOW, None),
    *discovered(),  # core/migrations/m004_….py and on
]

LATEST = MIGRATIONS[-1].version


def current_version(db: Database) -> int:
    exists = db.scalar(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_version' AND schema_name = 'main'"
    )
    if not exists:
        return 0
    return db.scalar("SELECT coalesce(max(version), 0) FROM schema_version") or 0


def applied_versions(db: Database) -> set[int]:
    exists = db.scalar(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_version' AND schema_name = 'main'"
    )
    return {r[0] for r in db.fetchall("SELECT version FROM schema_version")} if exists else set()


def migrate(db: Database, *, target: int | None = None) -> list[int]:
    """Apply missing migrations up to ``target`` (default: all); return the versions applied.

    Missing means not recorded, whatever its number: versions are handed out per piece of work,
    so a migration with a lower number may be merged after a database already has higher ones.
    """
    target = LATEST if target is None else target
    version = current_version(db)
    if version > LATEST:
        raise ParleyError(
            f"{db.path} was written by a newer Parley (schema {version}, this one knows "
            f"{LATEST}); upgrade Parley before opening it."
        )
    done = applied_versions(db)
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done or migration.version > target:
            continue

        def apply(tx: Transaction, migration=migration) -> None:
            tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)"
            )
            for statement in _statements(migration.sql):
                tx.execute(statement)
            if migration.apply is not None:
                migration.apply(tx)
            tx.execute(
                "INSERT INTO schema_version VALUES (?, ?, ?)", [migration.version, migration.name, clock.utcnow()]
            )

        db.write(apply)
        applied.append(migration.version)
    if applied and done:
        # An existing workspace upgraded: write the migrations' changes into the file now. Until
        # DuckDB's next checkpoint (16 MB of log later) every write works over the row versions a
        # migration left in memory: after migration 24 (a column filled on each conversation) the
        # applier stored first messages from new numbers a third slower (bench/bench_apply.py on
        # the 100k workspace: 293-313/s, 464-559/s once checkpointed). A new database has none.
        db.checkpoint()
    return applied


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]
