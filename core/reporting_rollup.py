"""Quarter-hour counts of the reporting facts that Stats only count (volume, heatmap, funnel, opt-outs).

At 10M messages a 90-day range holds some 20M facts; counting them again
for every chart would take seconds. ``report_rollup`` keeps, per quarter
hour (UTC) and per kind, channel, sender, agent and team, how many facts
there were, plus for message facts the quarter hour the message was written
(the delivery funnel's cohort), and for a campaign's replies and opt-outs
the quarter hour of the send they answer. Quarter hours, because every time zone in
use is a whole number of quarter hours from UTC: a viewer's local day is
always a whole set of buckets.

The facts stay the truth. ``report_rollup_mark`` says up to which fact id
the rollup counts; ``counted_sql`` adds the facts after it (the tail, a few
seconds' worth: facts are appended in id order, so DuckDB reads only the
newest row groups), so Stats are exact whether or not the rollup is up to
date. ``refresh`` folds the tail in (the ``reporting`` worker every few
seconds, the backfill at its end); running it twice counts nothing twice.
"""

from __future__ import annotations

from core import reporting as rf
from core.db import Transaction

COUNTED = (
    rf.CONVERSATION_OPENED,
    rf.MESSAGE_RECEIVED,
    rf.MESSAGE_SENT,
    rf.MESSAGE_DELIVERED,
    rf.MESSAGE_READ,
    rf.OPTED_OUT,
    rf.OPTED_IN,
    rf.CAMPAIGN_REPLY,
    rf.CAMPAIGN_OPTOUT,
)
# Facts counted by when what they follow happened (``started_at``): a message's outcomes by when it was
# written (the delivery funnel), a campaign's replies and opt-outs by when the send they answer went.
COHORT = (rf.MESSAGE_SENT, rf.MESSAGE_DELIVERED, rf.MESSAGE_READ, rf.CAMPAIGN_REPLY, rf.CAMPAIGN_OPTOUT)
_KINDS = ", ".join(f"'{k}'" for k in COUNTED)
_COHORT = ", ".join(f"'{k}'" for k in COHORT)


def refresh(tx: Transaction) -> int:
    """Count the facts added since the last refresh into the rollup. Returns how many facts it folded."""
    mark = tx.scalar("SELECT max(through_id) FROM report_rollup_mark") or 0
    top = tx.scalar("SELECT max(id) FROM report_facts") or 0
    if top <= mark:
        return 0
    tx.execute(
        f"""INSERT INTO report_rollup
            SELECT time_bucket(INTERVAL 15 MINUTE, occurred_at) AS bucket,
                   CASE WHEN kind IN ({_COHORT}) THEN time_bucket(INTERVAL 15 MINUTE, started_at) END AS cohort,
                   kind, channel, sender_id, agent_id, team_id, campaign_id, count(*) AS facts
            FROM report_facts WHERE id > ? AND id <= ? AND kind IN ({_KINDS})
            GROUP BY ALL ORDER BY bucket""",
        [mark, top],
    )
    tx.execute("DELETE FROM report_rollup_mark")
    tx.execute("INSERT INTO report_rollup_mark VALUES (?)", [top])
    return top - mark


def counted_sql() -> str:
    """A FROM-able relation of counts: (occurred_at, started_at, kind, channel, sender_id, agent_id, team_id,
    campaign_id, facts), the rollup plus the facts it does not count yet. ``occurred_at``/``started_at`` are quarter
    hours for rolled-up rows, exact times for the tail: range filters on local midnights treat both alike."""
    return f"""(
        SELECT bucket AS occurred_at, cohort AS started_at, kind, channel, sender_id, agent_id, team_id,
               campaign_id, facts
        FROM report_rollup
        UNION ALL
        SELECT occurred_at, started_at, kind, channel, sender_id, agent_id, team_id, campaign_id, 1 AS facts
        FROM report_facts
        WHERE id > (SELECT coalesce(max(through_id), 0) FROM report_rollup_mark) AND kind IN ({_KINDS})
    )"""


def worker_step(db) -> bool:
    """For the background worker: fold the tail in, then rest until the next turn."""
    db.write(refresh)
    return False
