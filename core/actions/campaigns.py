"""Sending campaigns: check and preview, queue in bulk (pause, resume, cancel and following a
queued campaign: ``core.actions.queued_campaigns``).

A campaign is a *Campaign* template sent through one sender to an audience
(``core.campaigns.audience``), now or at a chosen time. Agents and admins
send campaigns; only an admin chooses who owns the replies (one person, or a
team in turn) instead of the campaign's creator. Supervisors follow them.

Sending writes every recipient's message (*queued*, with its release time
under business and quiet hours, rule 3) and outbox row in one transaction,
set-based: a 100k audience is queued in about a second. No conversation is
made (rule 1): a campaign message waits outside any conversation until its
recipient replies, except for recipients already in a conversation with
this sender, whose thread shows it. Opt-outs are checked again inside that
transaction, so someone who replied STOP while the preview was open gets
nothing. The dispatcher then sends at each sender's rate.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from core import audit, clock, contact_search, events, provider_setup, senders, template_finders, templates
from core.auth import User
from core.campaigns import audience as audiences
from core.campaigns.audience import Audience, AudienceSpec, VariableSource
from core.campaigns.estimate import Estimate, estimate
from core.compliance import hours as hours_rules
from core.db import Database, Transaction
from core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from core.permissions import recheck_actor

MAX_NAME = 100
MAX_AHEAD = dt.timedelta(days=365)
OWNER_MODES = {"creator": "The campaign's creator", "user": "One person", "team": "A team, in turn"}


@dataclass(frozen=True)
class CampaignDraft:
    name: str
    sender_id: Any
    template_id: Any
    audience: AudienceSpec
    sources: dict[str, VariableSource] = field(default_factory=dict)
    send_at: dt.datetime | None = None  # naive UTC; None: now
    reply_owner_mode: str = "creator"
    reply_owner_id: Any = None
    reply_team_id: Any = None


@dataclass
class Preview:
    draft: CampaignDraft
    sender: dict[str, Any]
    template: templates.Template
    audience: Audience
    estimate: Estimate
    due: pd.Series  # each recipient's release time (naive UTC)
    why: pd.Series  # why each waits until then: 'business_hours' | 'quiet_hours' | None
    warnings: list[str]
    owner: tuple[str, int | None]  # (mode, user or team id)

    @property
    def sample(self) -> str | None:
        return None if self.audience.recipients.empty else str(self.audience.recipients["body"].iloc[0])


def local_time_to_utc(day: dt.date, at: dt.time, timezone: str) -> dt.datetime:
    """A date and time on the viewer's clock as naive UTC (the first such instant on DST days)."""
    return hours_rules.local_to_utc(dt.datetime.combine(day, at), hours_rules.parse_timezone(timezone))


def parse_id(value: Any, what: str) -> int:
    """An id chosen in a form; ``ValidationError`` ("Choose {what}.") for anything else."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise ValidationError(f"Choose {what}.") from None


def _sender(db: Database, sender_id: Any) -> dict[str, Any]:
    rows = db.dicts(f"SELECT {senders.COLUMNS} FROM senders WHERE id = ?", [parse_id(sender_id, "a sender")])
    if not rows:
        raise NotFound("That sender does not exist.")
    sender = rows[0]
    if not sender["enabled"]:
        raise ValidationError(f"{sender['label']} is disabled; choose another sender or ask an admin to enable it.")
    return sender


def _template(db: Database, template_id: Any, sender: dict[str, Any]) -> templates.Template:
    t = template_finders.get_template(db, parse_id(template_id, "a template"))
    if t.kind != "campaign":
        raise ValidationError(f"“{t.name}” is a conversation template; a campaign sends a Campaign template.")
    if t.channel not in (None, sender["channel"]):
        raise ValidationError(
            f"“{t.name}” is for {templates.CHANNELS[t.channel]}; {sender['label']} sends {sender['channel']}."
        )
    if sender["channel"] == "whatsapp":
        if not t.sendable_as_template:
            status = templates.APPROVAL.get(t.approval_status or "", "not registered").lower()
            raise ValidationError(
                f"A WhatsApp campaign needs a registered template WhatsApp has approved; “{t.name}” is {status}."
                if t.registered
                else f"A WhatsApp campaign needs a registered template; “{t.name}” is saved text."
            )
        if sender["provider"] == "twilio" and not t.content_sid:
            raise ValidationError(f"“{t.name}” has no Twilio Content SID, and {sender['label']} sends through Twilio.")
    return t


def _owner(db: Database, actor: User, draft: CampaignDraft) -> tuple[str, int | None]:
    mode = draft.reply_owner_mode or "creator"
    if mode not in OWNER_MODES:
        raise ValidationError("Choose who owns the replies: the creator, one person or a team.")
    if mode == "creator":
        return mode, None
    if not actor.is_admin:
        raise PermissionDenied("Only an admin can choose who owns a campaign's replies.")
    if mode == "user":
        user_id = parse_id(draft.reply_owner_id, "who owns the replies")
        row = db.fetchone("SELECT display_name, role, active FROM users WHERE id = ?", [user_id])
        if row is None or not row[2] or row[1] == "supervisor":
            raise ValidationError("Replies go to an active agent or admin; choose another person.")
        return mode, user_id
    team_id = parse_id(draft.reply_team_id, "the team that takes the replies")
    name = db.scalar("SELECT name FROM teams WHERE id = ?", [team_id])
    if name is None:
        raise NotFound("That team does not exist.")
    if not db.scalar(
        "SELECT count(*) FROM users WHERE team_id = ? AND active AND role IN ('standard', 'admin')", [team_id]
    ):
        raise ValidationError(f"The team {name} has no active agents to take the replies.")
    return mode, team_id


def check_campaign(db: Database, actor: User, draft: CampaignDraft) -> Preview:
    """Validate the draft and compute what sending it would do (the preview)."""
    if not actor.can_send:
        raise PermissionDenied("Supervisors can follow campaigns but cannot send them.")
    name = " ".join((draft.name or "").split())
    if not name:
        raise ValidationError("Give the campaign a name.")
    if len(name) > MAX_NAME:
        raise ValidationError(f"A campaign name can be at most {MAX_NAME} characters.")
    sender = _sender(db, draft.sender_id)
    problem = provider_setup.provider_problem(sender["provider"])
    if problem:
        raise ValidationError(f"{sender['label']} cannot send yet: {problem}")
    template = _template(db, draft.template_id, sender)
    now = clock.utcnow()
    send_at = draft.send_at
    if send_at is not None:
        send_at = clock.to_naive_utc(send_at)
        if send_at < now - dt.timedelta(minutes=1):
            raise ValidationError("That time has passed; choose a time from now on, or send now.")
        if send_at > now + MAX_AHEAD:
            raise ValidationError("Schedule a campaign at most a year ahead.")
    owner = _owner(db, actor, draft)
    built = audiences.build(db, draft.audience, template=template, sources=draft.sources, sender=sender)
    figures, due, why = estimate(
        db, template, sender["channel"], built.recipients, built.values, max(send_at or now, now)
    )
    warnings = []
    sender_warning = senders.registration_warning(sender)
    if sender_warning and not sender["send_blocked"]:
        warnings.append(sender_warning)
    if figures.ucs2:
        warnings.append(
            f"{figures.ucs2:,} of the messages contain characters outside GSM-7 (an emoji, a curly quote…) "
            "and go as UCS-2: 70 characters per segment instead of 160."
        )
    return Preview(
        draft=CampaignDraft(**{**draft.__dict__, "name": name, "send_at": send_at}),
        sender=sender,
        template=template,
        audience=built,
        estimate=figures,
        due=due,
        why=why,
        warnings=warnings,
        owner=owner,
    )


def describe_exclusions(counts: dict[str, int]) -> str:
    return ", ".join(f"{n:,} {audiences.REASONS[r].lower()}" for r, n in sorted(counts.items(), key=lambda i: -i[1]))


def do_send_campaign(db: Database, actor: User, draft: CampaignDraft) -> int:
    """Queue the campaign (now or at its time). Returns its id."""
    preview = check_campaign(db, actor, draft)
    built = preview.audience
    if built.size == 0:
        if built.candidates == 0:
            raise ValidationError("Nobody would receive this campaign: the audience is empty.")
        raise ValidationError(
            f"Nobody would receive this campaign: all {built.candidates:,} are excluded "
            f"({describe_exclusions(built.counts)})."
        )
    campaign_id = db.write(_queue, actor, preview)
    contact_search.maybe_compact(db)  # a list of many new numbers: fold them into the sorted index, in the background
    return campaign_id


def _queue(tx: Transaction, actor: User, p: Preview) -> int:
    now = clock.utcnow()
    draft, sender, template = p.draft, p.sender, p.template
    # The page's ``User`` may be stale: an admin may have disabled or demoted the sender since.
    role = recheck_actor(tx, actor, ("standard", "admin"), "send campaigns")
    if p.owner[0] != "creator" and role != "admin":
        raise PermissionDenied(
            "Your role changed a moment ago: you can no longer choose who owns a campaign's replies; nothing was sent."
        )
    state = tx.fetchone("SELECT enabled, send_blocked FROM senders WHERE id = ?", [sender["id"]])
    if state is None or not state[0]:
        raise Conflict(f"{sender['label']} was disabled meanwhile; nothing was sent.")
    if not tx.scalar("SELECT active FROM templates WHERE id = ?", [template.id]):
        raise Conflict(f"The template “{template.name}” was disabled meanwhile; nothing was sent.")
    campaign_id = tx.next_id("seq_campaigns")
    recipients = p.audience.recipients
    frame = pd.DataFrame(
        {
            "phone": recipients["phone"].astype(str),
            "body": recipients["body"].astype(str),
            "template_values": recipients["template_values"].astype(object),
            "release_at": p.due.where(p.due > pd.Timestamp(now)).astype("datetime64[us]"),
            # What holds it past its time (the hours); a campaign simply waiting for its chosen time has none.
            "queued_reason": p.why.where(p.due > pd.Timestamp(now), None).astype(object),
            "due_at": p.due.where(p.due > pd.Timestamp(now), pd.Timestamp(now)).astype("datetime64[us]"),
            # A list's opt-in is WhatsApp's only on a WhatsApp campaign (audience._csv_candidates).
            "opt_in": recipients["csv_opt_in"].astype(bool)
            if "csv_opt_in" in recipients and sender["channel"] == "whatsapp"
            else pd.Series(False, index=recipients.index),
        }
    )
    tx.cursor.register("_campaign", frame)
    try:
        # Numbers from a CSV that are not contacts yet become contacts (nothing else can hold them),
        # found by contact search and listed on Contacts from now on, as an import's are.
        created = [
            r[0]
            for r in tx.execute(
                """INSERT OR IGNORE INTO contacts (phone, created_at, updated_at, search_name, phone_digits)
                   SELECT phone, ?, ?, '', substr(phone, 2) FROM _campaign
                   WHERE phone NOT IN (SELECT phone FROM contacts) RETURNING id""",
                [now, now],
            ).fetchall()
        ]
        contact_search.refresh(tx, created, new=True)
        tx.execute(
            """UPDATE contacts SET whatsapp_opt_in_at = ? FROM _campaign f
               WHERE contacts.phone = f.phone AND f.opt_in AND contacts.whatsapp_opt_in_at IS NULL""",
            [now],
        )
        tx.execute(
            """INSERT INTO messages (conversation_id, contact_id, sender_id, campaign_id, direction, author_id, body,
                   status, created_at, status_at, release_at, template_id, template_values, queued_reason)
               SELECT cv.id, ct.id, ?, ?, 'out', ?, f.body, 'queued', ?, ?, f.release_at, ?, f.template_values,
                      f.queued_reason
               FROM _campaign f JOIN contacts ct ON ct.phone = f.phone
               LEFT JOIN conversations cv ON cv.contact_id = ct.id AND cv.sender_id = ?
               WHERE NOT ct.opted_out AND NOT ct.archived""",
            [sender["id"], campaign_id, actor.id, now, now, template.id, sender["id"]],
        )
        # Those who opted out (or were archived) between the preview and now are left out, and said so.
        late = tx.execute(
            """SELECT ct.id AS contact_id, f.phone, f.phone AS given,
                      CASE WHEN ct.opted_out THEN 'opted_out' ELSE 'archived' END AS reason
               FROM _campaign f JOIN contacts ct ON ct.phone = f.phone WHERE ct.opted_out OR ct.archived"""
        ).df()
        tx.execute(
            """INSERT INTO outbox (message_id, sender_id, due_at, created_at)
               SELECT m.id, m.sender_id, f.due_at, ? FROM messages m
               JOIN contacts ct ON ct.id = m.contact_id JOIN _campaign f ON f.phone = ct.phone
               WHERE m.campaign_id = ?""",
            [now, campaign_id],
        )
    finally:
        tx.cursor.unregister("_campaign")
    queued = tx.scalar("SELECT count(*) FROM messages WHERE campaign_id = ?", [campaign_id])
    # Recipients already in a conversation with this sender see the campaign message in their thread.
    tx.execute(
        """UPDATE conversations SET last_message_at = greatest(last_message_at, ?), last_message_preview = m.preview,
                  last_message_direction = 'out', message_count = message_count + 1
           FROM (SELECT conversation_id, left(regexp_replace(body, '\\s+', ' ', 'g'), 120) AS preview FROM messages
                 WHERE campaign_id = ? AND conversation_id IS NOT NULL) m
           WHERE conversations.id = m.conversation_id""",
        [now, campaign_id],
    )
    excluded = pd.concat([p.audience.excluded, late], ignore_index=True) if not late.empty else p.audience.excluded
    if not excluded.empty:
        rows = excluded.assign(campaign_id=campaign_id)[["campaign_id", "contact_id", "phone", "given", "reason"]]
        rows["contact_id"] = rows["contact_id"].astype("Int64")
        tx.insert_df("campaign_exclusions", rows.astype({"phone": object, "given": object}))
    scheduled = draft.send_at is not None and draft.send_at > now
    status = "scheduled" if scheduled else "sending"
    mode, owner = p.owner
    tx.execute(
        """INSERT INTO campaigns (id, name, sender_id, body, status, created_by, created_at, recipients, template_id,
               audience, variables, scheduled_at, queued_at, excluded, segments, cost_units, first_send_at,
               reply_owner_mode, reply_owner_id, reply_team_id, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            campaign_id,
            draft.name,
            sender["id"],
            template.body,
            status,
            actor.id,
            now,
            queued,
            template.id,
            json.dumps(draft.audience.describe(), ensure_ascii=False),
            json.dumps({k: v.as_json() for k, v in draft.sources.items()}, ensure_ascii=False),
            draft.send_at if scheduled else None,
            now,
            len(excluded),
            p.estimate.segments,
            p.estimate.cost_units,
            p.estimate.first_at,
            mode,
            owner if mode == "user" else None,
            owner if mode == "team" else None,
            now,
        ],
    )
    audit.record(
        tx,
        actor.id,
        "campaign.scheduled" if scheduled else "campaign.queued",
        "campaign",
        campaign_id,
        name=draft.name,
        recipients=queued,
        excluded=len(excluded),
        sender_id=sender["id"],
        template_id=template.id,
        audience=draft.audience.describe(),
        send_at=draft.send_at,
        reply_owner=mode,
    )
    if created:  # one event for the contacts the list made, as for an import of them
        tx.publish(
            events.CONTACTS_IMPORTED,
            actor_id=actor.id,
            rows=len(created),
            created=len(created),
            updated=0,
            unchanged=0,
            source="campaign",
            campaign_id=campaign_id,
        )
    tx.publish(events.CAMPAIGN_QUEUED, campaign_id=campaign_id, user_id=actor.id, count=queued, scheduled=scheduled)
    return campaign_id
