"""A campaign's replies and opt-outs carry the send they answer, so Stats count them with it.

Stats counted a campaign's recipients among the sends inside the range but its
replies and opt-outs whenever they came, so a campaign sent across the start of
the range could show more replies than recipients (a 200 % reply rate). The fact
writer and the backfill now give each ``campaign_reply`` and ``campaign_optout``
fact ``started_at``: when the campaign message it answers went (the recipient's
``message_sent`` fact), and the rollup keeps it as those facts' cohort.

Here the facts written before get the same: the latest send of that campaign to
that contact at or before the answer (the one the writer credited); and the
rollup counts their kinds again with that cohort.
"""

from __future__ import annotations

VERSION = 25
NAME = "campaign_outcome_cohort"

_KINDS = "('campaign_reply', 'campaign_optout')"


def apply(tx) -> None:
    tx.execute(f"""
        UPDATE report_facts SET started_at = s.sent_at
        FROM (
            SELECT o.id, sent.occurred_at AS sent_at
            FROM (SELECT id, contact_id, campaign_id, occurred_at FROM report_facts
                  WHERE kind IN {_KINDS} AND started_at IS NULL) o
            ASOF JOIN (SELECT contact_id, campaign_id, occurred_at FROM report_facts
                       WHERE kind = 'message_sent' AND campaign_id IS NOT NULL) sent
                ON sent.contact_id = o.contact_id AND sent.campaign_id = o.campaign_id
               AND sent.occurred_at <= o.occurred_at
        ) s
        WHERE report_facts.id = s.id
    """)
    mark = tx.scalar("SELECT max(through_id) FROM report_rollup_mark")
    if mark is None:
        return  # nothing rolled up yet: the next refresh counts them with their cohort
    tx.execute(f"DELETE FROM report_rollup WHERE kind IN {_KINDS}")
    tx.execute(
        f"""INSERT INTO report_rollup
            SELECT time_bucket(INTERVAL 15 MINUTE, occurred_at), time_bucket(INTERVAL 15 MINUTE, started_at),
                   kind, channel, sender_id, agent_id, team_id, campaign_id, count(*)
            FROM report_facts WHERE id <= ? AND kind IN {_KINDS}
            GROUP BY ALL""",
        [mark],
    )
