"""What is derived from a transaction's events, kept current inside that transaction.

``Database.write`` calls ``update`` with the events a write published, after
storing them and before the commit, so every state change keeps these
structures exact without its writer having to remember them:

- live-page versions (``core.versions``);
- the contacts search index (``core.contact_search``) for contacts created,
  edited, archived, unarchived or deleted. A bulk import publishes one event
  for many contacts and refreshes the index itself.
"""

from __future__ import annotations

from typing import Any

from core import events as names

INDEXED_CONTACT_EVENTS = frozenset(
    {
        names.CONTACT_CREATED,
        names.CONTACT_UPDATED,
        names.CONTACT_ARCHIVED,
        names.CONTACT_UNARCHIVED,
        names.CONTACT_DELETED,
    }
)


def update(tx: Any, events: list[Any]) -> None:
    from core import contact_search, versions  # they import core.db, which imports this module

    versions.stamp(tx, events)
    contacts = {
        int(e.payload["contact_id"])
        for e in events
        if e.name in INDEXED_CONTACT_EVENTS and e.payload.get("contact_id") is not None
    }
    if contacts:
        # Only new contacts (numbers writing in for the first time): nothing of theirs to replace.
        new = all(e.name == names.CONTACT_CREATED for e in events if e.name in INDEXED_CONTACT_EVENTS)
        contact_search.refresh(tx, contacts, new=new)
