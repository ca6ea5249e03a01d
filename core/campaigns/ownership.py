"""Who owns the conversation a reply to a campaign starts (rule 1).

A reply from a number that got a campaign message from this sender starts a
conversation owned by the campaign's creator, unless an admin chose for the
campaign either one person (``reply_owner_mode = 'user'``) or a team in turn
(``'team'``: its active agents and admins, round-robin in the order of their
ids, continuing where the campaign's last reply left off). A reply to a
message that was not a campaign's (a test message) goes to that message's
author. The message answered is the newest one that went to that number
from that sender, by when it went; only while nothing has gone yet, the
newest still waiting. A campaign scheduled for later, or cancelled (its
messages *not sent*), never takes the reply from one that went.

``None``: nothing was sent to that number from that sender, so the
conversation is *unsolicited* (the caller gives it the default owner), or
the owner may not answer any more: disabled, or made a supervisor since
(likewise).

``reply_owners`` answers for a whole set of (contact, sender) pairs with one
query, and moves each team campaign's turn on by the replies it handed out,
in the transaction that creates the conversations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.db import Transaction


@dataclass(frozen=True)
class ReplyOwner:
    campaign_id: int | None  # the campaign the reply answers (None: not a campaign's message)
    owner_id: int | None  # who owns the new conversation (None: the caller's default owner)


def reply_owners(tx: Transaction, pairs: Iterable[tuple[int, int]]) -> dict[tuple[int, int], ReplyOwner]:
    """(contact_id, sender_id) → the campaign answered and the owner, for pairs that got a message
    from that sender not yet in a conversation. Pairs absent from the answer got nothing."""
    pairs = sorted(set(pairs))
    if not pairs:
        return {}
    rows = tx.fetchall(
        """
        WITH wanted AS (
            SELECT unnest(?::INTEGER[]) AS contact_id, unnest(?::INTEGER[]) AS sender_id
        ), latest AS (
            -- the outgoing message to each pair, not in a conversation yet, that the reply answers:
            -- the newest that went (by when it went: status_at), else the newest still waiting.
            -- One recorded not sent (a cancelled campaign, an opt-out) never reached them.
            SELECT w.contact_id, w.sender_id, m.campaign_id, m.author_id
            FROM wanted w JOIN messages m ON m.contact_id = w.contact_id AND m.sender_id = w.sender_id
            WHERE m.direction = 'out' AND m.conversation_id IS NULL AND m.status <> 'not_sent'
            QUALIFY row_number() OVER (
                PARTITION BY w.contact_id, w.sender_id
                ORDER BY m.status IN ('sent', 'delivered', 'read', 'undelivered') DESC,
                         CASE WHEN m.status IN ('sent', 'delivered', 'read', 'undelivered')
                              THEN coalesce(m.status_at, m.created_at) ELSE m.created_at END DESC,
                         m.id DESC) = 1
        ), numbered AS (
            SELECT l.*, c.reply_owner_mode, c.reply_owner_id, c.reply_team_id, c.created_by, c.reply_turn,
                   row_number() OVER (PARTITION BY l.campaign_id ORDER BY l.contact_id, l.sender_id) - 1 AS k
            FROM latest l LEFT JOIN campaigns c ON c.id = l.campaign_id
        ), teams AS (
            SELECT team_id, list(id ORDER BY id) AS members FROM users
            WHERE active AND role IN ('standard', 'admin') AND team_id IS NOT NULL GROUP BY team_id
        ), chosen AS (
            SELECT n.contact_id, n.sender_id, n.campaign_id, n.reply_owner_mode, n.k,
                   CASE WHEN n.campaign_id IS NULL THEN n.author_id
                        WHEN n.reply_owner_mode = 'user' THEN n.reply_owner_id
                        WHEN n.reply_owner_mode = 'team' AND len(t.members) > 0
                            THEN t.members[1 + ((n.reply_turn + n.k) % len(t.members))::INTEGER]
                        ELSE coalesce(n.created_by, n.author_id) END AS owner_id
            FROM numbered n LEFT JOIN teams t ON t.team_id = n.reply_team_id
        )
        SELECT ch.contact_id, ch.sender_id, ch.campaign_id,
               CASE WHEN u.active AND u.role IN ('standard', 'admin') THEN ch.owner_id END AS owner_id,
               ch.reply_owner_mode
        FROM chosen ch LEFT JOIN users u ON u.id = ch.owner_id
        """,
        [[p[0] for p in pairs], [p[1] for p in pairs]],
    )
    turns: dict[int, int] = {}
    found = {}
    for contact_id, sender_id, campaign_id, owner_id, mode in rows:
        found[(contact_id, sender_id)] = ReplyOwner(campaign_id, owner_id)
        if mode == "team":
            turns[campaign_id] = turns.get(campaign_id, 0) + 1
    if turns:
        tx.execute(
            """UPDATE campaigns SET reply_turn = reply_turn + t.n
               FROM (SELECT unnest(?::INTEGER[]) AS id, unnest(?::INTEGER[]) AS n) t WHERE campaigns.id = t.id""",
            [list(turns), list(turns.values())],
        )
    return found
