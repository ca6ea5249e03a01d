"""Supervisor stats: each chart's numbers, read from the reporting facts (``core.reporting``).

Every function takes the viewer (supervisors and admins only) and a
``StatsFilter`` (``core.stats_filter``): a date range in the viewer's time
zone (both ends included), and optionally a team, an agent, a channel and a
sender. Days, weekdays and hours are the viewer's local ones: the UTC
offsets in force over the range are turned into one ``CASE`` so DuckDB
shifts each timestamp with plain arithmetic (no time-zone lookup per row).

Durations are reported as median and 90th percentile, never only a mean;
with ``business_hours`` they count only the time the workspace was open.
*Workload now* reads the current state, not the facts: it is about now.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from core import queries
from core import reporting as rf
from core.auth import User
from core.db import Database
from core.reporting_rollup import counted_sql
from core.stats_filter import (
    CHANNELS,
    StatsFilter,
    check_filter,
    conversation_filters,
    fact_filters,
    local_sql,
    owner_filters,
    require_stats,
    utc_bounds,
)

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _seconds(f: StatsFilter) -> str:
    return "business_seconds" if f.business_hours else "seconds"


# ---- volume --------------------------------------------------------------------------------


def volume_daily(db: Database, viewer: User, f: StatsFilter) -> pd.DataFrame:
    """Per local day: conversations started, messages in (received) and out (handed to a provider)."""
    check_filter(viewer, f)
    where, params = fact_filters(f)
    rows = db.df(
        f"""SELECT CAST({local_sql(f)} AS DATE) AS day,
                   sum(facts) FILTER (WHERE kind = '{rf.CONVERSATION_OPENED}')::BIGINT AS conversations,
                   sum(facts) FILTER (WHERE kind = '{rf.MESSAGE_RECEIVED}')::BIGINT AS messages_in,
                   sum(facts) FILTER (WHERE kind = '{rf.MESSAGE_SENT}')::BIGINT AS messages_out
            FROM {counted_sql()} r
            WHERE {where} AND kind IN ('{rf.CONVERSATION_OPENED}', '{rf.MESSAGE_RECEIVED}', '{rf.MESSAGE_SENT}')
            GROUP BY 1""",
        params,
    )
    return _fill_days(f, rows, ["conversations", "messages_in", "messages_out"])


def _days(f: StatsFilter) -> pd.DataFrame:
    return pd.DataFrame({"day": pd.date_range(f.start, f.end, freq="D").date})


def _fill_days(f: StatsFilter, rows: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    if not rows.empty:
        rows["day"] = pd.to_datetime(rows["day"]).dt.date
    out = _days(f).merge(rows, on="day", how="left") if not rows.empty else _days(f)
    for c in columns:
        out[c] = out[c].fillna(0).astype(int) if c in out else 0
    return out


def incoming_heatmap(db: Database, viewer: User, f: StatsFilter) -> pd.DataFrame:
    """Incoming messages by local weekday (0 = Monday) and hour: the full 7 × 24 grid."""
    check_filter(viewer, f)
    where, params = fact_filters(f)
    local = local_sql(f)
    rows = db.df(
        f"""SELECT (isodow({local}) - 1)::INTEGER AS weekday, hour({local})::INTEGER AS hour,
                   sum(facts)::BIGINT AS messages
            FROM {counted_sql()} r WHERE {where} AND kind = '{rf.MESSAGE_RECEIVED}' GROUP BY ALL""",
        params,
    )
    grid = pd.MultiIndex.from_product([range(7), range(24)], names=["weekday", "hour"]).to_frame(index=False)
    out = grid.merge(rows, on=["weekday", "hour"], how="left") if not rows.empty else grid.assign(messages=0)
    out["messages"] = out["messages"].fillna(0).astype(int)
    return out


# ---- responsiveness ------------------------------------------------------------------------

OVERALL = "Everyone"


def agents(db: Database, viewer: User, f: StatsFilter | None = None) -> pd.DataFrame:
    """The people conversations can belong to (team and agent filters applied), disabled ones too."""
    require_stats(viewer)
    where, params = ["role IN ('standard', 'admin')"], []
    if f is not None and f.team_id is not None:
        where.append("team_id = ?")
        params.append(f.team_id)
    if f is not None and f.agent_id is not None:
        where.append("id = ?")
        params.append(f.agent_id)
    return db.df(
        f"SELECT id AS agent_id, display_name AS agent, active FROM users WHERE {' AND '.join(where)} "
        "ORDER BY display_name",
        params,
    )


def durations(db: Database, viewer: User, f: StatsFilter, kind: str) -> pd.DataFrame:
    """Median and 90th percentile of a duration fact per agent, every agent listed, then everyone.

    ``kind``: ``first_response``, ``reply`` or ``conversation_closed``. An agent
    with none in the range has a count of 0 and no median.
    """
    if kind not in (rf.FIRST_RESPONSE, rf.REPLY, rf.CONVERSATION_CLOSED):
        raise ValueError(kind)
    check_filter(viewer, f)
    where, params = fact_filters(f)
    value = _seconds(f)
    rows = db.df(
        f"""SELECT agent_id, count(*) AS count, quantile_cont({value}, [0.5, 0.9]) AS q,
                   GROUPING(agent_id) AS overall
            FROM report_facts r WHERE {where} AND kind = ?
            GROUP BY GROUPING SETS ((agent_id), ())""",
        [*params, kind],
    )
    rows["median_seconds"] = rows["q"].map(lambda q: q[0] if isinstance(q, list | np.ndarray) and len(q) else None)
    rows["p90_seconds"] = rows["q"].map(lambda q: q[1] if isinstance(q, list | np.ndarray) and len(q) else None)
    rows = rows.drop(columns="q")
    people = agents(db, viewer, f)
    per_agent = rows[rows["overall"] == 0].drop(columns="overall")
    table = people.merge(per_agent, on="agent_id", how="left")
    # Someone no longer among the agents (moved to another team since, now a supervisor) still counts,
    # under their name; "User N" only for an id no user has any more.
    unknown = per_agent[~per_agent["agent_id"].isin(people["agent_id"])]
    if not unknown.empty:
        ids = [int(a) for a in unknown["agent_id"].dropna()]
        names = dict(db.fetchall("SELECT id, display_name FROM users WHERE id = ANY(?::INTEGER[])", [ids]))
        unknown = unknown.assign(
            agent=unknown["agent_id"].map(
                lambda a: "Unassigned" if pd.isna(a) else names.get(int(a)) or f"User {int(a)}"
            ),
            last=unknown["agent_id"].isna(),
        )
        unknown = unknown.sort_values(["last", "agent"], ignore_index=True).drop(columns="last")
        table = pd.concat([table, unknown], ignore_index=True)
    total = rows[rows["overall"] == 1]
    overall = pd.DataFrame(
        {
            "agent_id": [None],
            "agent": [OVERALL],
            "count": [int(total["count"].iloc[0]) if not total.empty else 0],
            "median_seconds": [total["median_seconds"].iloc[0] if not total.empty else None],
            "p90_seconds": [total["p90_seconds"].iloc[0] if not total.empty else None],
        }
    )
    table = pd.concat([table.drop(columns=["active"], errors="ignore"), overall], ignore_index=True)
    table["count"] = table["count"].fillna(0).astype(int)
    return table[["agent_id", "agent", "count", "median_seconds", "p90_seconds"]]


def unanswered_sql(f: StatsFilter) -> tuple[str, list[Any]]:
    """FROM and WHERE (and parameters) of the conversations opened in the range with no first response
    yet, as ``r`` (their ``conversation_opened`` facts). A waiting customer is waiting on whoever owns
    the conversation now, as in *Workload*: the team and agent filters select the owner now, not the
    one it opened with (a conversation handed over unanswered counts for its new owner)."""
    where, params = fact_filters(f, people=False)
    owners, owner_params = owner_filters(f)
    join = " JOIN conversations c ON c.id = r.conversation_id" if owners else ""
    return (
        f"""report_facts r JOIN report_conversation_state s ON s.conversation_id = r.conversation_id{join}
            WHERE {" AND ".join([where, *owners])} AND r.kind = '{rf.CONVERSATION_OPENED}'
              AND s.first_response_at IS NULL""",
        [*params, *owner_params],
    )


def unanswered(db: Database, viewer: User, f: StatsFilter) -> int:
    """Conversations opened in the range that have had no first response yet (``unanswered_sql``)."""
    check_filter(viewer, f)
    sql, params = unanswered_sql(f)
    return db.scalar(f"SELECT count(*) FROM {sql}", params)


# ---- delivery ------------------------------------------------------------------------------


def delivery_funnel(db: Database, viewer: User, f: StatsFilter) -> pd.DataFrame:
    """Per channel, of the messages written in the range: how many a provider accepted (sent), how many
    reached the handset (delivered; a read message was delivered too), how many were read.

    Facts are counted, not distinct messages: each message has at most one delivered and one read fact
    (statuses only move forward), and a message sent again after a failure was handed over twice.

    Every message fact carries when its message was written (``started_at``), so the cohort needs no
    join; facts are stored in time order and a message is settled within days, so limiting the scan to
    facts up to 30 days after the range keeps DuckDB reading only the row groups that matter.
    """
    check_filter(viewer, f)
    where, params = fact_filters(f)
    lo, hi = utc_bounds(f)
    where = where.replace(
        "r.occurred_at >= ? AND r.occurred_at < ?",
        "r.started_at >= ? AND r.started_at < ? AND r.occurred_at >= ? AND r.occurred_at < ?",
    )
    params = [lo, hi, lo, hi + dt.timedelta(days=30), *params[2:]]
    rows = db.df(
        f"""SELECT channel, sum(facts) FILTER (WHERE kind = '{rf.MESSAGE_SENT}')::BIGINT AS sent,
                   sum(facts) FILTER (WHERE kind = '{rf.MESSAGE_DELIVERED}')::BIGINT AS delivered,
                   sum(facts) FILTER (WHERE kind = '{rf.MESSAGE_READ}')::BIGINT AS read
            FROM {counted_sql()} r
            WHERE {where} AND kind IN ('{rf.MESSAGE_SENT}', '{rf.MESSAGE_DELIVERED}', '{rf.MESSAGE_READ}')
            GROUP BY channel""",
        params,
    )
    channels = [f.channel] if f.channel else list(CHANNELS)
    out = pd.DataFrame({"channel": channels}).merge(rows, on="channel", how="left")
    for c in ("sent", "delivered", "read"):
        out[c] = out[c].fillna(0).astype(int)
    return out


def failures(db: Database, viewer: User, f: StatsFilter) -> pd.DataFrame:
    """Messages that failed, were undelivered or not sent, by outcome, error code and reason (most first)."""
    check_filter(viewer, f)
    where, params = fact_filters(f)
    return db.df(
        f"""SELECT status, coalesce(error_code, '') AS error_code, coalesce(error_reason, '') AS reason,
                   count(*) AS messages
            FROM report_facts r WHERE {where} AND kind = '{rf.MESSAGE_FAILED}'
            GROUP BY ALL ORDER BY messages DESC, status, error_code, reason""",
        params,
    )


def optouts_daily(db: Database, viewer: User, f: StatsFilter) -> pd.DataFrame:
    """Contacts opting out and back in per local day (channel and sender filters apply; people ones do not)."""
    check_filter(viewer, f)
    where, params = fact_filters(f, people=False)
    rows = db.df(
        f"""SELECT CAST({local_sql(f)} AS DATE) AS day,
                   sum(facts) FILTER (WHERE kind = '{rf.OPTED_OUT}')::BIGINT AS opted_out,
                   sum(facts) FILTER (WHERE kind = '{rf.OPTED_IN}')::BIGINT AS opted_in
            FROM {counted_sql()} r WHERE {where} AND kind IN ('{rf.OPTED_OUT}', '{rf.OPTED_IN}') GROUP BY 1""",
        params,
    )
    return _fill_days(f, rows, ["opted_out", "opted_in"])


# ---- campaigns -----------------------------------------------------------------------------


def campaigns(db: Database, viewer: User, f: StatsFilter) -> pd.DataFrame:
    """Per campaign sent in the range: recipients (messages a provider accepted, one per recipient), who
    replied, who opted out, and the rates.

    A recipient *replied* when they wrote back on the campaign's sender before
    another campaign message reached them there; *opted out* when their
    opt-out came after this campaign and before any later one. Each outcome
    counts with the send it answers (its ``started_at``), so a campaign sent
    across the start of the range counts the replies of the recipients it
    reached in the range, whenever they answered: never more than its
    recipients. The agent and team filters select the campaign's author.
    """
    check_filter(viewer, f)
    where, params = fact_filters(f)
    lo, hi = utc_bounds(f)
    rows = db.df(
        f"""
        WITH sent AS (
            SELECT campaign_id, sum(facts)::BIGINT AS recipients, min(occurred_at) AS first_sent_at
            FROM {counted_sql()} r WHERE {where} AND kind = '{rf.MESSAGE_SENT}' AND campaign_id IS NOT NULL
            GROUP BY campaign_id
        ),
        outcomes AS (  -- one fact per recipient and campaign (core.reporting), with the send it answers
            SELECT campaign_id,
                   sum(facts) FILTER (WHERE kind = '{rf.CAMPAIGN_REPLY}')::BIGINT AS replied,
                   sum(facts) FILTER (WHERE kind = '{rf.CAMPAIGN_OPTOUT}')::BIGINT AS opted_out
            FROM {counted_sql()} r
            WHERE kind IN ('{rf.CAMPAIGN_REPLY}', '{rf.CAMPAIGN_OPTOUT}') AND started_at >= ? AND started_at < ?
              AND occurred_at >= ?  -- an answer follows its send: only the row groups from the range on
              AND campaign_id IN (SELECT campaign_id FROM sent)
            GROUP BY campaign_id
        )
        SELECT s.campaign_id, s.first_sent_at, s.recipients, coalesce(o.replied, 0) AS replied,
               coalesce(o.opted_out, 0) AS opted_out
        FROM sent s LEFT JOIN outcomes o ON o.campaign_id = s.campaign_id
        """,
        [*params, lo, hi, lo],
    )
    names = db.df("SELECT id AS campaign_id, name AS campaign, created_by FROM campaigns")
    out = rows.merge(names, on="campaign_id", how="left") if not rows.empty else rows.assign(campaign=[], created_by=[])
    if out.empty:
        return pd.DataFrame(
            columns=[
                "campaign_id",
                "campaign",
                "first_sent_at",
                "recipients",
                "replied",
                "reply_rate",
                "opted_out",
                "optout_rate",
            ]
        )
    out["campaign"] = out["campaign"].fillna(out["campaign_id"].map(lambda c: f"Campaign {c}"))
    out["reply_rate"] = out["replied"] / out["recipients"]
    out["optout_rate"] = out["opted_out"] / out["recipients"]
    out = out.sort_values("first_sent_at", ascending=False, ignore_index=True)
    return out[
        ["campaign_id", "campaign", "first_sent_at", "recipients", "replied", "reply_rate", "opted_out", "optout_rate"]
    ]


# ---- workload now --------------------------------------------------------------------------

UNREAD = queries.UNREAD_SQL  # rule 6: unread for the conversation's owner


def workload(db: Database, viewer: User, f: StatsFilter) -> pd.DataFrame:
    """Now, per agent: open conversations, unread ones, customers waiting and since when (the date range
    does not apply: this is the present)."""
    require_stats(viewer)
    where, params = conversation_filters(f)
    # Two narrow aggregations rather than one three-way join: about a third of the time at 1M conversations.
    counts = db.df(
        f"""SELECT c.owner_id AS agent_id, count(*) AS open, count(*) FILTER (WHERE {UNREAD}) AS unread
            FROM conversations c
            LEFT JOIN read_markers rm ON rm.user_id = c.owner_id AND rm.conversation_id = c.id
            WHERE {where} GROUP BY c.owner_id""",
        params,
    )
    waits = db.df(
        f"""SELECT c.owner_id AS agent_id, count(*) AS waiting, min(s.waiting_since) AS oldest_waiting_since
            FROM report_conversation_state s JOIN conversations c ON c.id = s.conversation_id
            WHERE s.waiting_since IS NOT NULL AND {where} GROUP BY c.owner_id""",
        params,
    )
    rows = counts.merge(waits, on="agent_id", how="outer")
    people = agents(db, viewer, f)
    out = people.merge(rows, on="agent_id", how="left")
    for c in ("open", "unread", "waiting"):
        out[c] = out[c].fillna(0).astype(int)
    return out[["agent_id", "agent", "open", "unread", "waiting", "oldest_waiting_since"]]


def oldest_waiting(db: Database, viewer: User, f: StatsFilter) -> dict[str, Any] | None:
    """The open conversation whose customer has waited longest for an answer, or None."""
    require_stats(viewer)
    where, params = conversation_filters(f)
    top = db.fetchone(
        f"""SELECT c.id, s.waiting_since FROM report_conversation_state s JOIN conversations c
                ON c.id = s.conversation_id
            WHERE s.waiting_since IS NOT NULL AND {where} ORDER BY s.waiting_since, c.id LIMIT 1""",
        params,
    )
    if top is None:
        return None
    rows = db.dicts(
        """SELECT c.id AS conversation_id, ct.name AS contact_name, ct.phone AS contact_phone,
                  u.display_name AS owner_name, ? AS waiting_since
           FROM conversations c JOIN contacts ct ON ct.id = c.contact_id LEFT JOIN users u ON u.id = c.owner_id
           WHERE c.id = ?""",
        [top[1], top[0]],
    )
    return rows[0] if rows else None
