"""The conversations behind a point of a Stats chart (one click from the chart, read-only).

``Drill`` names what was clicked: the chart and the point (a day, a weekday
and hour, an agent, a channel and stage, an error, a campaign). The answer
is a list of conversations, most relevant first, at most ``LIMIT``; the
page links each one to its (read-only for supervisors) conversation page.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core import reporting as rf
from core.auth import User
from core.db import Database
from core.errors import ValidationError
from core.stats import unanswered_sql
from core.stats_filter import StatsFilter, check_filter, conversation_filters, fact_filters, local_sql, require_stats

LIMIT = 200
CHARTS = (
    "opened",
    "in",
    "out",
    "heatmap",
    "first_response",
    "reply",
    "closed",
    "unanswered",
    "funnel",
    "failures",
    "optouts",
    "campaign",
    "workload",
)


@dataclass(frozen=True)
class Drill:
    chart: str
    day: dt.date | None = None
    weekday: int | None = None  # 0 = Monday
    hour: int | None = None
    agent_id: int | None = None
    everyone: bool = False  # the "Everyone" row of a per-agent chart
    unassigned: bool = False  # its "Unassigned" row: what no agent is credited with (closed while nobody owned it)
    channel: str | None = None
    stage: str | None = None  # sent | delivered | read
    status: str | None = None
    error_code: str | None = None
    campaign_id: int | None = None


def _day(f: StatsFilter, day: dt.date | None) -> StatsFilter:
    if day is None:
        return f
    if not f.start <= day <= f.end:
        raise ValidationError(f"{day:%b %d, %Y} is outside the chosen range.")
    return StatsFilter(**{**f.__dict__, "start": day, "end": day})


def conversations_for(db: Database, viewer: User, f: StatsFilter, drill: Drill) -> pd.DataFrame:
    """Conversations behind ``drill`` (columns: conversation_id, contact, channel, owner, status, detail)."""
    check_filter(viewer, f)
    if drill.chart not in CHARTS:
        raise ValidationError("That chart has no conversations to show.")
    if drill.chart == "workload":
        return _workload(db, viewer, f, drill)
    if drill.chart == "campaign":
        return _listing(
            db,
            "SELECT id AS conversation_id, created_at AS ts, NULL AS detail FROM conversations "
            "WHERE campaign_id = ? ORDER BY created_at DESC LIMIT ?",
            [drill.campaign_id, LIMIT],
        )
    scope = _day(f, drill.day)
    agent = StatsFilter(**{**scope.__dict__, "agent_id": drill.agent_id}) if drill.agent_id is not None else scope
    where, params = fact_filters(agent)
    if drill.unassigned:
        where += " AND r.agent_id IS NULL"
    kinds = {
        "opened": rf.CONVERSATION_OPENED,
        "in": rf.MESSAGE_RECEIVED,
        "out": rf.MESSAGE_SENT,
        "heatmap": rf.MESSAGE_RECEIVED,
        "first_response": rf.FIRST_RESPONSE,
        "reply": rf.REPLY,
        "closed": rf.CONVERSATION_CLOSED,
        "failures": rf.MESSAGE_FAILED,
        "optouts": rf.OPTED_OUT,
    }
    value = "business_seconds" if f.business_hours else "seconds"
    if drill.chart == "unanswered":  # the count's own conversations: by their owner now
        rows, params = unanswered_sql(agent)
        sql = (
            f"SELECT r.conversation_id, r.occurred_at AS ts, NULL AS detail FROM {rows} ORDER BY r.occurred_at LIMIT ?"
        )
        return _listing(db, sql, [*params, LIMIT])
    if drill.chart == "funnel":
        stage = {
            "sent": (rf.MESSAGE_SENT,),
            "delivered": (rf.MESSAGE_DELIVERED, rf.MESSAGE_READ),
            "read": (rf.MESSAGE_READ,),
        }.get(drill.stage or "")
        if stage is None:
            raise ValidationError("Choose sent, delivered or read.")
        where = where.replace("r.occurred_at >= ? AND r.occurred_at < ?", "r.started_at >= ? AND r.started_at < ?")
        extra, extra_params = "r.kind IN (SELECT unnest(?::VARCHAR[]))", [list(stage)]
        if drill.channel:
            extra += " AND r.channel = ?"
            extra_params.append(drill.channel)
        sql = f"""SELECT r.conversation_id, max(r.occurred_at) AS ts, NULL AS detail FROM report_facts r
                  WHERE {where} AND {extra} AND r.conversation_id IS NOT NULL
                  GROUP BY r.conversation_id ORDER BY ts DESC LIMIT ?"""
        return _listing(db, sql, [*params, *extra_params, LIMIT])
    kind = kinds[drill.chart]
    extra, extra_params = "", []
    if drill.chart == "heatmap":
        if drill.weekday is None or drill.hour is None:
            raise ValidationError("Choose a weekday and an hour.")
        local = local_sql(f, "r.occurred_at")
        extra = f" AND isodow({local}) - 1 = ? AND hour({local}) = ?"
        extra_params = [drill.weekday, drill.hour]
    if drill.chart == "failures":
        extra = " AND r.status = ? AND coalesce(r.error_code, '') = ?"
        extra_params = [drill.status, drill.error_code or ""]
    if drill.chart == "optouts":  # opt-outs belong to contacts: their conversations, whoever owns them
        where, params = fact_filters(scope, people=False)
        sql = f"""SELECT c.id AS conversation_id, r.occurred_at AS ts, NULL AS detail FROM report_facts r
                  JOIN conversations c ON c.contact_id = r.contact_id
                  WHERE {where} AND r.kind = '{kind}' ORDER BY r.occurred_at DESC LIMIT ?"""
        return _listing(db, sql, [*params, LIMIT])
    if drill.chart in ("first_response", "reply", "closed"):
        sql = f"""SELECT r.conversation_id, r.occurred_at AS ts, r.{value} AS detail FROM report_facts r
                  WHERE {where} AND r.kind = '{kind}'{extra} ORDER BY r.{value} DESC LIMIT ?"""
        return _listing(db, sql, [*params, *extra_params, LIMIT], seconds=True)
    sql = f"""SELECT r.conversation_id, max(r.occurred_at) AS ts, count(*) AS detail FROM report_facts r
              WHERE {where} AND r.kind = '{kind}'{extra} AND r.conversation_id IS NOT NULL
              GROUP BY r.conversation_id ORDER BY detail DESC, ts DESC LIMIT ?"""
    return _listing(db, sql, [*params, *extra_params, LIMIT])


def _workload(db: Database, viewer: User, f: StatsFilter, drill: Drill) -> pd.DataFrame:
    require_stats(viewer)
    scoped = StatsFilter(**{**f.__dict__, "agent_id": drill.agent_id}) if drill.agent_id is not None else f
    where, params = conversation_filters(scoped)
    sql = f"""SELECT c.id AS conversation_id, s.waiting_since AS ts, NULL AS detail FROM conversations c
              LEFT JOIN report_conversation_state s ON s.conversation_id = c.id
              WHERE {where} ORDER BY s.waiting_since NULLS LAST, c.last_message_at LIMIT ?"""
    return _listing(db, sql, [*params, LIMIT])


def _listing(db: Database, sql: str, params: list[Any], *, seconds: bool = False) -> pd.DataFrame:
    picked = db.df(sql, params)
    columns = ["conversation_id", "contact", "phone", "channel", "owner", "status", "at", "detail"]
    if picked.empty:
        return pd.DataFrame(columns=columns)
    info = db.df(
        """SELECT c.id AS conversation_id, ct.name AS contact, ct.phone, c.channel, u.display_name AS owner,
                  c.status FROM conversations c JOIN contacts ct ON ct.id = c.contact_id
                  LEFT JOIN users u ON u.id = c.owner_id WHERE c.id = ANY(?::INTEGER[])""",
        [[int(x) for x in picked["conversation_id"].dropna().unique()]],
    )
    out = picked.rename(columns={"ts": "at"}).merge(info, on="conversation_id", how="inner")
    out["contact"] = out["contact"].fillna("")
    if seconds:
        out["detail"] = out["detail"].astype(float)
    return out[columns]
