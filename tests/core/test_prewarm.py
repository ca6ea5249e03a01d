"""The server's start-up scan (core.prewarm): it reads what the pages read, and never fails."""

from __future__ import annotations

from core import prewarm
from tests import factories as f


def test_prewarm_reads_every_table_the_pages_read_and_leaves_the_data_as_it_was(db, make_user):
    maria = make_user("maria", "standard", "Maria Lopez")
    sender = f.add_sender(db)
    contact = f.add_contact(db, name="Zoë Ávila")
    conv = f.add_conversation(db, contact_id=contact, sender_id=sender, owner_id=maria.id)
    statements = []
    real = db.cursor

    class Recording:
        def __init__(self, cursor):
            self._cursor = cursor

        def execute(self, sql, params=None):
            statements.append(" ".join(sql.split()))
            return self._cursor.execute(sql, params)

    db.cursor = lambda: Recording(real())
    try:
        assert prewarm.prewarm(db) >= 0
    finally:
        del db.cursor
    assert [s.split(" FROM ")[-1] for s in statements] == [
        "conversations",
        "contacts",
        "read_markers",
        "contact_search",
        "messages",
    ]
    assert db.scalar("SELECT count(*) FROM conversations WHERE id = ?", [conv]) == 1


def test_prewarm_of_a_closed_database_stops_quietly(tmp_path):
    from core.db import Database

    db = Database(tmp_path / "closed.duckdb")
    db.close()
    assert prewarm.prewarm(db) >= 0  # no exception: it only costs speed
