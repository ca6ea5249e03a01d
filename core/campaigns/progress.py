"""A campaign's live counters: from its messages' statuses, the replies and the opt-outs since.

- queued / sending / sent / delivered / read: where each message is now
  (rule 9: statuses only move forward, so *delivered* includes read ones);
- failed, by reason: failed, undelivered, not sent (opted out since,
  window, sender) and interrupted, with the provider's words;
- replied: recipients who wrote back on the campaign's sender after its
  message went to them, before another campaign's reached them there;
- opted out: recipients who opted out after it went, before another reached
  them.

The last two are the reporting facts' ``campaign_reply`` and
``campaign_optout`` (``core.reporting``), which Stats count too: each is
credited, as it happens, to the campaign whose message last went to that
person, so a campaign scheduled for next week (or cancelled before it went)
counts nothing of the replies to the one before it. They are read from the
rollup plus its newest facts (``core.reporting_rollup``).

A campaign's messages were written together, so DuckDB's zone maps find
them without an index: a 100k campaign is counted in a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core import reporting as rf
from core import reporting_rollup
from core.db import Database
from core.provider_errors import describe

FAILED = ("failed", "undelivered", "not_sent", "interrupted")


@dataclass(frozen=True)
class Progress:
    total: int = 0
    queued: int = 0  # waiting in the outbox (paused ones too)
    sending: int = 0
    sent: int = 0  # accepted by the carrier, not known delivered yet
    delivered: int = 0  # reached the handset (read included)
    read: int = 0
    failed: int = 0
    replied: int = 0
    opted_out: int = 0
    failures: list[tuple[str, int]] = field(default_factory=list)  # (reason, count), most first

    @property
    def done(self) -> int:
        """Messages whose sending is over (any outcome)."""
        return self.total - self.queued - self.sending

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


def progress(db: Database, campaign_id: int) -> Progress:
    counts = db.fetchone(
        """SELECT count(*),
                  count(*) FILTER (WHERE status = 'queued'),
                  count(*) FILTER (WHERE status = 'sending'),
                  count(*) FILTER (WHERE status = 'sent'),
                  count(*) FILTER (WHERE status IN ('delivered', 'read')),
                  count(*) FILTER (WHERE status = 'read'),
                  count(*) FILTER (WHERE status IN ('failed', 'undelivered', 'not_sent', 'interrupted'))
           FROM messages WHERE campaign_id = ? AND direction = 'out'""",
        [campaign_id],
    )
    # Grouped by the provider's code where there is one: the provider's own words differ from
    # message to message ("... 555 is not valid") and would split one reason into many rows.
    rows = db.fetchall(
        """SELECT error_code, CASE WHEN error_code IS NULL THEN coalesce(error_reason, CASE status
                    WHEN 'not_sent' THEN 'Not sent' WHEN 'interrupted' THEN 'Interrupted'
                    WHEN 'undelivered' THEN 'Undelivered' ELSE 'Failed' END) END AS reason, count(*) AS n
           FROM messages WHERE campaign_id = ? AND direction = 'out'
             AND status IN ('failed', 'undelivered', 'not_sent', 'interrupted')
           GROUP BY 1, 2""",
        [campaign_id],
    )
    by_reason: dict[str, int] = {}
    for code, reason, n in rows:
        label = describe(code) if code else reason
        by_reason[label] = by_reason.get(label, 0) + n
    failures = sorted(by_reason.items(), key=lambda item: (-item[1], item[0]))
    replied, opted_out = outcomes(db, [campaign_id]).get(campaign_id, (0, 0))
    return Progress(*counts, replied=replied, opted_out=opted_out, failures=failures)


def outcomes(db: Database, campaign_ids: list[int] | None = None) -> dict[int, tuple[int, int]]:
    """campaign id → (replied, opted out), for these campaigns (None: every campaign with any)."""
    only = "" if campaign_ids is None else "AND campaign_id IN (SELECT unnest(?::INTEGER[]))"
    rows = db.fetchall(
        f"""SELECT campaign_id, coalesce(sum(facts) FILTER (WHERE kind = '{rf.CAMPAIGN_REPLY}'), 0)::BIGINT,
                   coalesce(sum(facts) FILTER (WHERE kind = '{rf.CAMPAIGN_OPTOUT}'), 0)::BIGINT
            FROM {reporting_rollup.counted_sql()} r
            WHERE kind IN ('{rf.CAMPAIGN_REPLY}', '{rf.CAMPAIGN_OPTOUT}') AND campaign_id IS NOT NULL {only}
            GROUP BY campaign_id""",
        [] if campaign_ids is None else [list(campaign_ids)],
    )
    return {int(c): (int(r), int(o)) for c, r, o in rows}
