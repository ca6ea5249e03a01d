"""Drafts: what an agent has written in a conversation's composer and not sent yet.

One row per (user, conversation). Kept in the database, not in the browser session, so a
draft survives leaving the page, a reload, signing out and in, another browser or a server
restart; ``core.drafts`` reads and writes it, and sending clears it in the same transaction.
"""

VERSION = 21
NAME = "drafts"
SQL = """
CREATE TABLE drafts (
    user_id INTEGER NOT NULL,
    conversation_id INTEGER NOT NULL,
    body VARCHAR NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, conversation_id)
)
"""
