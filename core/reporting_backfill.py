"""Reporting facts derived afresh from the stored rows: ``rebuild(tx)``.

For a workspace that existed before the live fact writer (``core.reporting``):
migration 8 runs it, and the generator calls it once its workspace is
written. It derives the facts the live writer would have written from the
messages, conversations, the assignment audit trail, opt-out history and
the persisted event log. It deletes and rewrites every fact, so running it
twice gives the same table. Where the rows no longer say what happened, it
says so in ``source = 'backfill'`` and approximates as documented in
``rebuild``.
"""

from __future__ import annotations

import numpy as np

from core.db import Transaction
from core.reporting import (
    CAMPAIGN_OPTOUT,
    CAMPAIGN_REPLY,
    CONVERSATION_ASSIGNED,
    CONVERSATION_CLOSED,
    CONVERSATION_OPENED,
    CONVERSATION_REOPENED,
    FACT_COLUMNS,
    FIRST_RESPONSE,
    HUMAN_REPLY_SQL,
    MESSAGE_DELIVERED,
    MESSAGE_FAILED,
    MESSAGE_READ,
    MESSAGE_RECEIVED,
    MESSAGE_SENT,
    OPTED_IN,
    OPTED_OUT,
    REPLY,
    business_seconds,
    workspace_hours,
)

_TIMELINE_SQL = f"""
CREATE TEMP TABLE _rf_timeline AS
WITH closes AS (  -- the event log keeps every close and reopen made since it existed
    SELECT conversation_id AS cid, occurred_at AS ts, 3 AS ord, id AS tie, 'close' AS kind
    FROM events WHERE name = 'conversation.closed' AND conversation_id IS NOT NULL
    UNION ALL
    SELECT conversation_id, occurred_at, 4, id, 'reopen'
    FROM events WHERE name = 'conversation.reopened' AND conversation_id IS NOT NULL
),
rows AS (
    SELECT id AS cid, created_at AS ts, 0 AS ord, 0::BIGINT AS tie, 'open' AS kind,
           NULL::BIGINT AS message_id, NULL::INTEGER AS author_id FROM conversations
    UNION ALL
    SELECT conversation_id, created_at, CASE WHEN direction = 'in' THEN 1 ELSE 2 END, id,
           CASE WHEN direction = 'in' THEN 'in' ELSE 'reply' END, id, author_id
    FROM messages
    WHERE conversation_id IS NOT NULL
      AND (direction = 'in' OR ({HUMAN_REPLY_SQL}))
    UNION ALL
    SELECT cid, ts, ord, tie, kind, NULL, NULL FROM closes
    UNION ALL  -- a closed conversation whose close predates the event log: its closed_at
    SELECT c.id, c.closed_at, 3, 0, 'close', NULL, NULL FROM conversations c
    WHERE c.status = 'closed' AND c.closed_at IS NOT NULL AND c.id NOT IN (SELECT cid FROM closes WHERE kind = 'close')
),
ordered AS (
    SELECT *,
        coalesce(sum(CASE WHEN kind IN ('reply', 'close') THEN 1 ELSE 0 END) OVER w_before, 0) AS seg,
        last_value(CASE WHEN kind = 'close' THEN 'closed' WHEN kind IN ('open', 'reopen', 'in') THEN 'open' END
                   IGNORE NULLS) OVER w_before AS state_before
    FROM rows
    WINDOW w_before AS (PARTITION BY cid ORDER BY ts, ord, tie ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
)
SELECT *,
    min(ts) FILTER (WHERE kind = 'in') OVER (PARTITION BY cid, seg) AS wait_start,
    last_value(CASE WHEN kind = 'open' OR (kind IN ('in', 'reopen') AND state_before = 'closed') THEN ts END
               IGNORE NULLS) OVER (PARTITION BY cid ORDER BY ts, ord, tie
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS opened_at
FROM ordered
"""

# Who owned a conversation at a time: the assignments in the audit trail, and before the first one,
# the owner it was created with (the first assignment's previous owner, else today's owner).
_OWNERS_SQL = """
CREATE TEMP TABLE _rf_owners AS
WITH moves AS (
    SELECT object_id::INTEGER AS cid, occurred_at AS ts,
           TRY_CAST(json_extract_string(detail, '$.to_user_id') AS INTEGER) AS to_user,
           TRY_CAST(json_extract_string(detail, '$.from_user_id') AS INTEGER) AS from_user
    FROM audit_log WHERE action = 'conversation.assigned' AND object_type = 'conversation'
)
SELECT c.id AS cid, TIMESTAMP '1970-01-01' AS ts,
       CASE WHEN f.cid IS NULL THEN c.owner_id ELSE f.from_user END AS owner_id
FROM conversations c LEFT JOIN (SELECT cid, arg_min(from_user, ts) AS from_user FROM moves GROUP BY cid) f
    ON f.cid = c.id
UNION ALL
SELECT cid, ts, to_user FROM moves
"""

_INSERT = "INSERT INTO report_facts (id, " + ", ".join(FACT_COLUMNS) + ") "


def _insert_select(tx: Transaction, select: str, params: list | None = None) -> None:
    tx.execute(_INSERT + select, params)


def rebuild(tx: Transaction) -> int:
    """Delete every fact and derive them again from the stored rows. Returns how many.

    Idempotent (the same rows give the same facts). What the rows cannot say
    any more is approximated, and these facts carry ``source = 'backfill'``:

    - a message's *sent* time is its ``message.sent`` event's, else when it
      was written; *delivered* and *read* are the status time the message
      shows, so a message read before the backfill has its delivered fact at
      its read time (read implies delivered, as the live writer also records
      when a provider reports only the read);
    - closes and reopens come from the event log; a closed conversation the
      log does not know closed at its ``closed_at``;
    - an agent is credited with the conversations they owned at the time,
      from the assignment audit trail.
    """
    for table in (
        "report_facts",
        "report_conversation_state",
        "report_campaign_recipients",
        "report_rollup",
        "report_rollup_mark",
    ):
        tx.execute(f"DELETE FROM {table}")
    tx.execute(_OWNERS_SQL)
    tx.execute(_TIMELINE_SQL)
    _rebuild_conversation_facts(tx)
    _rebuild_message_facts(tx)
    _rebuild_optout_facts(tx)
    _rebuild_campaign_facts(tx)
    _rebuild_state(tx)
    from core import reporting_rollup

    reporting_rollup.refresh(tx)
    tx.execute("DROP TABLE _rf_timeline")  # (a failed rebuild rolls them back with everything else)
    tx.execute("DROP TABLE _rf_owners")
    return tx.scalar("SELECT count(*) FROM report_facts")


def _rebuild_conversation_facts(tx: Transaction) -> None:
    conv = "c.id, NULL, c.contact_id, c.sender_id, c.channel, c.campaign_id"
    _insert_select(
        tx,
        f"""SELECT nextval('seq_report_facts'), t.ts, '{CONVERSATION_OPENED}', {conv}, o.owner_id, u.team_id,
                   NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'backfill'
            FROM _rf_timeline t JOIN conversations c ON c.id = t.cid
            ASOF LEFT JOIN _rf_owners o ON o.cid = t.cid AND o.ts <= t.ts
            LEFT JOIN users u ON u.id = o.owner_id
            WHERE t.kind = 'open' ORDER BY t.ts""",
    )
    _insert_select(
        tx,
        f"""SELECT nextval('seq_report_facts'), a.occurred_at, '{CONVERSATION_ASSIGNED}', {conv},
                   TRY_CAST(json_extract_string(a.detail, '$.to_user_id') AS INTEGER), u.team_id,
                   TRY_CAST(json_extract_string(a.detail, '$.from_user_id') AS INTEGER),
                   NULL, NULL, NULL, NULL, NULL, NULL, 'backfill'
            FROM audit_log a JOIN conversations c ON c.id = a.object_id
            LEFT JOIN users u ON u.id = TRY_CAST(json_extract_string(a.detail, '$.to_user_id') AS INTEGER)
            WHERE a.action = 'conversation.assigned' AND a.object_type = 'conversation' ORDER BY a.occurred_at""",
    )
    _insert_select(
        tx,
        f"""SELECT nextval('seq_report_facts'), t.ts, '{CONVERSATION_REOPENED}', {conv}, o.owner_id, u.team_id,
                   NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'backfill'
            FROM _rf_timeline t JOIN conversations c ON c.id = t.cid
            ASOF LEFT JOIN _rf_owners o ON o.cid = t.cid AND o.ts <= t.ts
            LEFT JOIN users u ON u.id = o.owner_id
            WHERE t.kind IN ('in', 'reopen') AND t.state_before = 'closed' ORDER BY t.ts""",
    )
    # Durations: fetched once so their business-hours share is computed in one vectorised pass.
    durations = tx.execute(
        f"""
        WITH replies AS (
            SELECT t.*, row_number() OVER (PARTITION BY t.cid ORDER BY t.ts, t.ord, t.tie) AS nth
            FROM _rf_timeline t WHERE t.kind = 'reply' AND t.wait_start IS NOT NULL
        ),
        d AS (
            SELECT '{FIRST_RESPONSE}' AS kind, cid, ts, wait_start AS started_at, message_id, author_id AS agent_id
            FROM replies WHERE nth = 1
            UNION ALL
            SELECT '{REPLY}', cid, ts, wait_start, message_id, author_id FROM replies
            UNION ALL
            SELECT '{CONVERSATION_CLOSED}', t.cid, t.ts, t.opened_at, NULL, o.owner_id
            FROM _rf_timeline t ASOF LEFT JOIN _rf_owners o ON o.cid = t.cid AND o.ts <= t.ts
            WHERE t.kind = 'close' AND coalesce(t.state_before, 'open') = 'open'
        )
        SELECT d.ts AS occurred_at, d.kind, d.cid AS conversation_id, d.message_id, c.contact_id, c.sender_id,
               c.channel, c.campaign_id, d.agent_id, u.team_id, d.started_at
        FROM d JOIN conversations c ON c.id = d.cid LEFT JOIN users u ON u.id = d.agent_id
        ORDER BY d.ts
        """
    ).df()
    if durations.empty:
        return
    starts = durations["started_at"].to_numpy("datetime64[us]")
    ends = durations["occurred_at"].to_numpy("datetime64[us]")
    durations["seconds"] = np.maximum(0.0, (ends - starts).astype("timedelta64[us]").astype(np.int64) / 1e6)
    durations["business_seconds"] = business_seconds(starts, ends, workspace_hours(tx))
    durations["source"] = "backfill"
    for column in ("conversation_id", "message_id", "contact_id", "sender_id", "campaign_id", "agent_id", "team_id"):
        durations[column] = durations[column].astype("Int64")
    durations.insert(0, "id", tx.next_ids("seq_report_facts", len(durations)))
    tx.insert_df("report_facts", durations)


def _rebuild_message_facts(tx: Transaction) -> None:
    msg = "m.conversation_id, m.id, m.contact_id, m.sender_id, s.channel, m.campaign_id"
    _insert_select(
        tx,
        f"""SELECT nextval('seq_report_facts'), m.created_at, '{MESSAGE_RECEIVED}', {msg}, o.owner_id, u.team_id,
                   NULL, NULL, NULL, NULL, m.created_at, NULL, NULL, 'backfill'
            FROM messages m JOIN senders s ON s.id = m.sender_id
            ASOF LEFT JOIN _rf_owners o ON o.cid = m.conversation_id AND o.ts <= m.created_at
            LEFT JOIN users u ON u.id = o.owner_id
            WHERE m.direction = 'in' ORDER BY m.created_at""",
    )
    out = f"""{msg}, m.author_id, u.team_id, NULL"""
    _insert_select(
        tx,
        f"""WITH sent AS (SELECT message_id, min(occurred_at) AS ts FROM events
                          WHERE name = 'message.sent' AND message_id IS NOT NULL GROUP BY message_id)
            SELECT nextval('seq_report_facts'), coalesce(e.ts, m.created_at), '{MESSAGE_SENT}', {out},
                   NULL, NULL, NULL, m.created_at, NULL, NULL, 'backfill'
            FROM messages m JOIN senders s ON s.id = m.sender_id LEFT JOIN users u ON u.id = m.author_id
            LEFT JOIN sent e ON e.message_id = m.id
            WHERE m.direction = 'out' AND (m.status IN ('sent', 'delivered', 'read')
                  OR (m.status IN ('failed', 'undelivered') AND m.provider_message_id IS NOT NULL))
            ORDER BY 2""",
    )
    for kind, statuses in ((MESSAGE_DELIVERED, "'delivered', 'read'"), (MESSAGE_READ, "'read'")):
        _insert_select(
            tx,
            f"""SELECT nextval('seq_report_facts'), coalesce(m.status_at, m.created_at), '{kind}', {out},
                       NULL, NULL, NULL, m.created_at, NULL, NULL, 'backfill'
                FROM messages m JOIN senders s ON s.id = m.sender_id LEFT JOIN users u ON u.id = m.author_id
                WHERE m.direction = 'out' AND m.status IN ({statuses}) ORDER BY 2""",
        )
    insert_failed_facts(tx, "m.status IN ('failed', 'undelivered', 'not_sent')", [], "backfill")


def insert_failed_facts(tx: Transaction, where: str, params: list, source: str) -> None:
    """A failure fact for each outgoing message matching ``where`` (over ``messages m``): the
    rebuild's for all, and the live writer's for a whole campaign cancelled at once."""
    _insert_select(
        tx,
        f"""SELECT nextval('seq_report_facts'), coalesce(m.status_at, m.created_at), '{MESSAGE_FAILED}',
                   m.conversation_id, m.id, m.contact_id, m.sender_id, s.channel, m.campaign_id, m.author_id,
                   u.team_id, NULL, m.status, m.error_code, m.error_reason, m.created_at, NULL, NULL, ?
            FROM messages m JOIN senders s ON s.id = m.sender_id LEFT JOIN users u ON u.id = m.author_id
            WHERE m.direction = 'out' AND ({where}) ORDER BY 2""",
        [source, *params],
    )


def _rebuild_optout_facts(tx: Transaction) -> None:
    _insert_select(
        tx,
        f"""SELECT nextval('seq_report_facts'), h.occurred_at,
                   CASE WHEN h.kind = 'opt_in' THEN '{OPTED_IN}' ELSE '{OPTED_OUT}' END,
                   m.conversation_id, NULL, h.contact_id, h.sender_id, coalesce(h.channel, s.channel), NULL,
                   h.user_id, u.team_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'backfill'
            FROM optout_history h LEFT JOIN messages m ON m.id = h.message_id
            LEFT JOIN senders s ON s.id = h.sender_id LEFT JOIN users u ON u.id = h.user_id
            WHERE h.kind IN ('opt_out', 'opt_out_confirmed_by_agent', 'opt_in') ORDER BY h.occurred_at""",
    )


def _rebuild_campaign_facts(tx: Transaction) -> None:
    """Who replied to or opted out after which campaign, as the live writer credits them."""
    tx.execute(f"""
        CREATE TEMP TABLE _rf_sends AS
        SELECT contact_id, sender_id, campaign_id, min(occurred_at) AS ts FROM report_facts
        WHERE kind = '{MESSAGE_SENT}' AND campaign_id IS NOT NULL GROUP BY ALL
    """)
    _insert_select(
        tx,
        f"""SELECT nextval('seq_report_facts'), r.ts, '{CAMPAIGN_REPLY}', r.conversation_id, r.message_id,
                   r.contact_id, r.sender_id, s.channel, r.campaign_id, NULL, NULL,
                   NULL, NULL, NULL, NULL, r.sent_at, NULL, NULL, 'backfill'
            FROM (
                SELECT s.campaign_id, i.contact_id, i.sender_id, arg_min(i.conversation_id, i.occurred_at)
                       AS conversation_id, arg_min(i.message_id, i.occurred_at) AS message_id, min(i.occurred_at) AS ts,
                       s.ts AS sent_at
                FROM (SELECT contact_id, sender_id, conversation_id, message_id, occurred_at FROM report_facts
                      WHERE kind = '{MESSAGE_RECEIVED}'
                        AND contact_id IN (SELECT contact_id FROM _rf_sends)) i
                ASOF JOIN _rf_sends s ON s.contact_id = i.contact_id AND s.sender_id = i.sender_id
                    AND s.ts <= i.occurred_at
                GROUP BY ALL
            ) r JOIN senders s ON s.id = r.sender_id ORDER BY r.ts""",
    )
    _insert_select(
        tx,
        f"""SELECT nextval('seq_report_facts'), r.ts, '{CAMPAIGN_OPTOUT}', NULL, NULL, r.contact_id, r.sender_id,
                   s.channel, r.campaign_id, NULL, NULL, NULL, NULL, NULL, NULL, r.sent_at, NULL, NULL, 'backfill'
            FROM (
                SELECT l.campaign_id, l.contact_id, l.sender_id, min(o.occurred_at) AS ts, l.ts AS sent_at
                FROM (SELECT contact_id, occurred_at FROM report_facts
                      WHERE kind = '{OPTED_OUT}' AND contact_id IN (SELECT contact_id FROM _rf_sends)) o
                ASOF JOIN (SELECT contact_id, sender_id, campaign_id, ts FROM _rf_sends) l
                    ON l.contact_id = o.contact_id AND l.ts <= o.occurred_at
                GROUP BY ALL
            ) r JOIN senders s ON s.id = r.sender_id ORDER BY r.ts""",
    )
    tx.execute(f"""
        INSERT INTO report_campaign_recipients
        SELECT l.contact_id::BIGINT * 1000000 + l.sender_id, l.contact_id, l.sender_id, l.campaign_id, l.ts,
               (SELECT min(f.occurred_at) FROM report_facts f WHERE f.kind = '{CAMPAIGN_REPLY}'
                    AND f.contact_id = l.contact_id AND f.sender_id = l.sender_id AND f.campaign_id = l.campaign_id),
               (SELECT min(f.occurred_at) FROM report_facts f WHERE f.kind = '{CAMPAIGN_OPTOUT}'
                    AND f.contact_id = l.contact_id AND f.campaign_id = l.campaign_id)
        FROM (SELECT contact_id, sender_id, arg_max(campaign_id, ts) AS campaign_id, max(ts) AS ts
              FROM _rf_sends GROUP BY ALL) l
    """)
    tx.execute("DROP TABLE _rf_sends")


def _rebuild_state(tx: Transaction) -> None:
    tx.execute("""
        INSERT INTO report_conversation_state (conversation_id, status, opened_at, waiting_since, first_response_at)
        WITH last AS (
            SELECT cid, max(seg + CASE WHEN kind IN ('reply', 'close') THEN 1 ELSE 0 END) AS final_seg,
                   arg_max(CASE WHEN kind = 'close' THEN 'closed' ELSE 'open' END, (ts, ord, tie))
                       FILTER (WHERE kind IN ('open', 'reopen', 'in', 'close')) AS status,
                   max(opened_at) AS opened_at
            FROM _rf_timeline GROUP BY cid
        ),
        waits AS (
            SELECT t.cid, min(t.ts) AS waiting_since FROM _rf_timeline t JOIN last l ON l.cid = t.cid
            WHERE t.kind = 'in' AND t.seg = l.final_seg GROUP BY t.cid
        ),
        firsts AS (
            SELECT conversation_id AS cid, min(occurred_at) AS first_at FROM report_facts
            WHERE kind = 'first_response' GROUP BY conversation_id
        )
        SELECT l.cid, coalesce(l.status, 'open'), l.opened_at, w.waiting_since, f.first_at
        FROM last l LEFT JOIN waits w ON w.cid = l.cid LEFT JOIN firsts f ON f.cid = l.cid
    """)
