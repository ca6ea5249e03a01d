"""Reporting facts (``core.reporting``): the append-only table Stats read, and its backfill.

A workspace that existed before this migration gets its facts derived from
the rows it has (``core.reporting_backfill.rebuild``), in this migration's
transaction; from then on the fact writer adds them as events commit.
"""

from __future__ import annotations

from core import reporting_backfill

VERSION = 8
NAME = "reporting facts"

SQL = """
CREATE SEQUENCE seq_report_facts;
CREATE TABLE report_facts (
    id BIGINT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    kind VARCHAR NOT NULL,
    conversation_id INTEGER,
    message_id BIGINT,
    contact_id INTEGER,
    sender_id INTEGER,
    channel VARCHAR,
    campaign_id INTEGER,
    agent_id INTEGER,
    team_id INTEGER,
    other_agent_id INTEGER,
    status VARCHAR,
    error_code VARCHAR,
    error_reason VARCHAR,
    started_at TIMESTAMP,
    seconds DOUBLE,
    business_seconds DOUBLE,
    source VARCHAR NOT NULL
);
CREATE TABLE report_campaign_recipients (
    recipient_key BIGINT PRIMARY KEY,  -- contact_id * 1,000,000 + sender_id (core.reporting.recipient_key)
    contact_id INTEGER NOT NULL,
    sender_id INTEGER NOT NULL,
    campaign_id INTEGER NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    replied_at TIMESTAMP,
    opted_out_at TIMESTAMP
);
CREATE TABLE report_rollup (
    bucket TIMESTAMP NOT NULL,
    cohort TIMESTAMP,
    kind VARCHAR NOT NULL,
    channel VARCHAR,
    sender_id INTEGER,
    agent_id INTEGER,
    team_id INTEGER,
    campaign_id INTEGER,
    facts BIGINT NOT NULL
);
CREATE TABLE report_rollup_mark (through_id BIGINT NOT NULL);
CREATE TABLE report_conversation_state (
    conversation_id INTEGER PRIMARY KEY,
    status VARCHAR NOT NULL,
    opened_at TIMESTAMP NOT NULL,
    waiting_since TIMESTAMP,
    first_response_at TIMESTAMP
)
"""


def apply(tx) -> None:
    reporting_backfill.rebuild(tx)
