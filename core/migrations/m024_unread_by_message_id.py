"""Unread means a message reached Parley after the owner last read the conversation, by message id,
no longer by time.

Until now a conversation was unread for its owner when its newest incoming message's time was
later than the moment the owner last read it (``read_markers.read_at < conversations.last_inbound_at``).
A message's time is the provider's (WhatsApp) or the moment Parley stored the webhook (Twilio), and
either can be earlier than a read that happened before the message reached the inbox: a WhatsApp
webhook Meta delivered late or retried, a backlog the applier had not reached yet. Such a message
never showed as unread. Message ids are handed out in the order messages are stored, so:

- ``conversations.last_inbound_id``: the newest incoming message's id (kept by
  ``actions.inbound_batch`` in the statement that keeps the other summary columns);
- ``read_markers.read_upto``: the ``last_inbound_id`` the owner had read (written when the
  conversation is opened or marked read), and ``queries.UNREAD_SQL`` compares the two.

Here both are filled so that each conversation is exactly as read or unread for each user as it
was: a marker the old rule read as read has read up to the newest incoming message; one it read
as unread gets the ``unread`` flag. A conversation with an incoming time but no incoming message
(none is known) gets id 0: unread with no marker, read with one, as before.
"""

from __future__ import annotations

VERSION = 24
NAME = "unread_by_message_id"
SQL = """
ALTER TABLE conversations ADD COLUMN last_inbound_id BIGINT;
UPDATE conversations SET last_inbound_id = x.last_in
FROM (SELECT conversation_id, max(id) AS last_in FROM messages
      WHERE direction = 'in' AND conversation_id IS NOT NULL GROUP BY conversation_id) x
WHERE conversations.id = x.conversation_id;
UPDATE conversations SET last_inbound_id = 0 WHERE last_inbound_id IS NULL AND last_inbound_at IS NOT NULL;
ALTER TABLE read_markers ADD COLUMN read_upto BIGINT;
UPDATE read_markers SET unread = TRUE
FROM conversations c
WHERE c.id = read_markers.conversation_id AND NOT read_markers.unread AND c.last_inbound_at IS NOT NULL
  AND (read_markers.read_at IS NULL OR read_markers.read_at < c.last_inbound_at);
UPDATE read_markers SET read_upto = c.last_inbound_id
FROM conversations c
WHERE c.id = read_markers.conversation_id AND NOT read_markers.unread
"""
