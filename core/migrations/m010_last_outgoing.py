"""Each conversation keeps the id of its latest outgoing message (``conversations.last_out_id``).

The inbox lists show the delivery status of each row's latest outgoing
message (✓ / ✓✓ / ⚠ / 🕓). Finding it by aggregating a page's conversations'
messages read every message of a long thread (21 ms of CPU for a page at 1M
conversations); with the id kept beside the other summary columns, a page
reads fifty messages by key. ``outbound.touch_conversation`` keeps it where
a message is recorded, and a conversation that starts with a reply takes the
campaign messages it gathers (``actions.inbound``); here it is filled for the
conversations a database already has.
"""

from __future__ import annotations

VERSION = 10
NAME = "last_outgoing"
SQL = """
ALTER TABLE conversations ADD COLUMN last_out_id BIGINT;
UPDATE conversations SET last_out_id = x.last_out_id
FROM (SELECT conversation_id, max(id) AS last_out_id FROM messages
      WHERE direction = 'out' AND conversation_id IS NOT NULL GROUP BY conversation_id) x
WHERE conversations.id = x.conversation_id
"""
