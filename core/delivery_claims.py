"""Claiming, for the dispatcher (``core.delivery``): which due outbox rows a round takes.

One claim step picks each sender's oldest due rows, applies the rules that stop
a message at release time (opted out, sender disabled or not allowed to send,
WhatsApp window closed) or hold it (business and quiet hours: a retry, a
back-off or a rate-limited backlog that reaches closing time waits for the
next opening), shares the batch fairly among senders within their
rate limits and caps, marks the rows *claimed*, and builds the ``Claim`` each
sending thread gets (message, media, template). Rows whose outcome is unknown
are claimed here too, to be looked up at the provider.

Separate from ``core.delivery`` because choosing what is due (the SQL and the
rules) is one concern and running the sends (pools, lanes, recording rounds) is
another; ``Dispatcher`` inherits ``Claiming``, so these methods read its settings.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core import clock, events, release, settings, template_finders, templates, versions
from core.db import Transaction
from core.delivery_pacing import RateLimiter
from core.errors import ParleyError, ValidationError
from core.providers.base import OutboundMedia, OutboundMessage, ProviderError, TemplateRef


@dataclass
class Claim:
    outbox_id: int
    message_id: int
    attempts: int
    sender: dict[str, Any]
    message: OutboundMessage | None
    kind: str = "send"  # 'send', or 'lookup': ask the provider whether an earlier send went out
    claimed_at: dt.datetime | None = None  # when the send being looked up was claimed
    retry_since: dt.datetime | None = None  # first retryable failure of this row (the horizon counts from it)
    lookups: int = 0  # lookups already made for this row
    problem: ProviderError | None = None  # why it cannot go at all (recorded as the failure, nothing sent)
    # Read with the claim, so recording the outcome need not read the message again (its events
    # name them: the live pages and versions of its conversation and of its author's sent list).
    conversation_id: int | None = None
    author_id: int | None = None


class Claiming:
    """The claim step of ``core.delivery.Dispatcher`` (which sets these in its ``__init__``)."""

    batch: int
    claim_cap: int
    limiter: RateLimiter
    _limited: dict[int, float]
    media_url: Callable[[str], str | None]
    status_callback_url: Callable[[str], str | None]

    def _claim(self, tx: Transaction, busy_senders: dict[int, int], busy_providers: dict[str, int]) -> list[Claim]:
        now = clock.utcnow()
        # Each sender's oldest due rows are picked from the outbox alone, before any join: picked
        # after the joins, every due row was joined (a 100k campaign: every round joined 100k rows
        # with messages, contacts and conversations to keep 128; 250-700 ms a round on the 1M
        # workspace, bench/bench_campaign.py). ``min_by(…, n)`` keeps the n smallest per sender
        # without sorting them all (8 ms where a row_number() window took 24, the same rows).
        due = tx.fetchall(
            """SELECT o.id, o.message_id, o.sender_id, o.attempts, s.rate_per_second, s.enabled, s.send_blocked,
                      s.provider, o.retry_since
               FROM outbox o JOIN senders s ON s.id = o.sender_id
               WHERE o.id IN (SELECT unnest(min_by(d.id, (d.due_at, d.id), ?)) FROM outbox d
                              WHERE d.state = 'pending' AND d.due_at <= ? GROUP BY d.sender_id)
               ORDER BY o.due_at, o.id""",
            [self.batch, now],
        )  # the oldest due rows of EVERY sender: one sender's backlog never hides the others'
        # What the rules and the sends need of their messages, by primary key (joined in the query
        # above, DuckDB read every conversation: 1M on the 1M workspace, ~20 ms a round).
        details = self._details(tx, [r[1] for r in due])
        # Rule 9: only a message still queued can be sent. A row whose message was settled another
        # way (recorded not sent while it waited) is closed, its message left as it is.
        stale = [r[0] for r in due if r[1] in details and details[r[1]]["status"] != "queued"]
        if stale:
            tx.execute("UPDATE outbox SET state = 'cancelled' WHERE id IN (SELECT unnest(?::BIGINT[]))", [stale])
            due = [r for r in due if r[1] in details and details[r[1]]["status"] == "queued"]
        held = self._held_by_hours(tx, [details[r[1]] for r in due if r[1] in details], now)
        if held:
            _hold(tx, [(r[0], r[1], *held[r[1]]) for r in due if r[1] in held])
        due = [r for r in due if r[1] in details and r[1] not in held]
        closed = self._window_closed(tx, [details[r[1]] for r in due], now)
        rows = [
            (*r, d["opted_out"] and (d["author_id"] is not None or d["campaign_id"] is not None), r[1] in closed)
            for r in due
            for d in (details[r[1]],)
        ]
        unknown = tx.fetchall(
            """SELECT o.id, o.message_id, o.sender_id, o.attempts, s.provider, o.claimed_at, o.retry_since,
                      coalesce(o.lookups, 0)
               FROM outbox o JOIN senders s ON s.id = o.sender_id
               WHERE o.state = 'unknown' AND o.due_at <= ? ORDER BY o.due_at, o.id LIMIT ?""",
            [now, self.batch],
        )
        provider_cap = 2 * self.claim_cap
        room = {p: provider_cap - n for p, n in busy_providers.items()}

        def provider_room(name: str) -> int:
            return room.setdefault(name, provider_cap)

        # Lookups first: they are few, and they decide whether a message goes again.
        lookups = []
        for outbox_id, message_id, sender_id, attempts, provider, claimed_at, retry_since, looked in unknown:
            if provider_room(provider) <= 0:
                continue
            room[provider] -= 1
            lookups.append((outbox_id, message_id, attempts, sender_id, claimed_at, retry_since, looked))
        chosen, blocked, wanted, provider_of = [], [], {}, {}
        for (outbox_id, message_id, sender_id, attempts, rate, enabled, send_blocked, provider, retry_since,
             blocked_optout, window_closed) in rows:  # fmt: skip
            if blocked_optout or not enabled or send_blocked or window_closed:
                reason = (
                    "Contact opted out"
                    if blocked_optout
                    else "Sender disabled"
                    if not enabled
                    else send_blocked  # rule 10: the workspace does not send from unregistered numbers
                    if send_blocked
                    else "WhatsApp window closed before it could go: send a registered template"
                )
                blocked.append((outbox_id, message_id, reason))
                continue
            wanted.setdefault(sender_id, []).append((outbox_id, message_id, attempts, rate, retry_since))
            provider_of[sender_id] = provider
        # The batch is shared fairly among the senders with due rows (a backlog on one does not hold
        # up the others): smallest possible claim first (rows due, at most a bucket of tokens), each
        # taking at most an even share of the room left, so what a rate-limited sender cannot use
        # goes to the next. A sender never has more than ``claim_cap`` rows claimed, a provider
        # never more than twice that. Tokens are taken only for rows actually claimed.
        left, order = self.batch, sorted(wanted, key=lambda s: min(len(wanted[s]), max(1.0, wanted[s][0][3])))
        for n, sender_id in enumerate(order):
            items = wanted[sender_id]
            provider = provider_of[sender_id]
            capacity = min(self.claim_cap - busy_senders.get(sender_id, 0), provider_room(provider))
            share = min(len(items), -(-left // (len(order) - n)), max(0, capacity))
            granted = self.limiter.take(sender_id, items[0][3], share) if share > 0 else 0
            chosen += [(o, m, a, sender_id, since) for o, m, a, _, since in items[:granted]]
            left -= granted
            room[provider] -= granted
            if granted < share:  # held back by its rate limit (a full sender is woken by its outcomes)
                self._limited[sender_id] = items[0][3]
        for outbox_id, message_id, reason in blocked:  # rule 2: never reaches a provider
            tx.execute("UPDATE outbox SET state = 'cancelled' WHERE id = ?", [outbox_id])
            tx.execute(
                "UPDATE messages SET status = 'not_sent', error_reason = ?, status_at = ?, release_at = NULL "
                "WHERE id = ?",
                [reason, now, message_id],
            )
            tx.publish(events.MESSAGE_NOT_SENT, message_id=message_id, reason=reason)
        claims: list[Claim] = []
        if chosen:
            outbox_ids = [c[0] for c in chosen]
            tx.execute(
                "UPDATE outbox SET state = 'claimed', claimed_at = ?, attempts = attempts + 1 "
                "WHERE id IN (SELECT unnest(?::BIGINT[]))",
                [now, outbox_ids],
            )
            tx.execute(
                "UPDATE messages SET status = 'sending', status_at = ?, release_at = NULL "
                "WHERE id IN (SELECT unnest(?::BIGINT[]))",
                [now, [c[1] for c in chosen]],
            )
            claims += self._build_claims(
                tx,
                [(o, m, a, s) for o, m, a, s, _ in chosen],
                extra={o: {"retry_since": since, "claimed_at": now} for o, _, _, _, since in chosen},
                details=details,
            )
        if lookups:
            tx.execute(
                "UPDATE outbox SET state = 'checking' WHERE id IN (SELECT unnest(?::BIGINT[]))",
                [[r[0] for r in lookups]],
            )
            claims += self._build_claims(
                tx,
                [(o, m, a, s) for o, m, a, s, _, _, _ in lookups],
                kind="lookup",
                extra={
                    o: {"claimed_at": at, "retry_since": since, "lookups": looked}
                    for o, _, _, _, at, since, looked in lookups
                },
            )
        return claims

    def _details(self, tx: Transaction, message_ids: list[int]) -> dict[int, dict[str, Any]]:
        """What claiming and sending need of these messages, their contacts and senders."""
        if not message_ids:
            return {}
        return {
            r["id"]: r
            for r in _dicts(
                tx,
                """
                SELECT m.id, m.status, m.conversation_id, m.author_id, m.campaign_id, m.has_media, m.body, m.template_id,
                       m.template_values, ct.phone AS to_number, ct.name AS contact_name, ct.opted_out,
                       ct.timezone AS contact_timezone,
                       s.id AS sender_id, s.phone AS from_number, s.channel, s.provider, s.provider_ref, s.label,
                       s.rate_per_second
                FROM messages m JOIN contacts ct ON ct.id = m.contact_id JOIN senders s ON s.id = m.sender_id
                WHERE m.id IN (SELECT unnest(?::BIGINT[]))
                  -- implied by the join, but said: without it DuckDB hashed every contact (1M on the
                  -- 1M workspace, 200-650 ms a round) to find the batch's 128; with it, ~7 ms
                  AND ct.id IN (SELECT contact_id FROM messages WHERE id IN (SELECT unnest(?::BIGINT[])))""",
                [message_ids, message_ids],
            )
        }

    @staticmethod
    def _held_by_hours(
        tx: Transaction, details: list[dict[str, Any]], now: dt.datetime
    ) -> dict[int, tuple[dt.datetime, str]]:
        """Rule 3 at release time: the messages (id -> (when they may go, why)) that business hours or
        the recipient's quiet hours hold now. A message written outside hours already waits for
        its release time; this catches every other way a row falls due: Retry clicked at night, a
        back-off or a lookup's resend that crosses closing time, a rate-limited backlog (a campaign
        on a slow sender) still draining after it. Automatic replies (HELP, opt-out confirmations:
        no author, no campaign) answer the customer and ignore hours, as in ``release.retime_queued``."""
        subject = [d for d in details if d["author_id"] is not None or d["campaign_id"] is not None]
        if not subject:
            return {}
        raw = dict(tx.fetchall("SELECT key, value FROM settings WHERE key IN ('business_hours', 'quiet_hours')"))
        business = settings.business_hours_from_json(
            json.loads(raw["business_hours"]) if "business_hours" in raw else settings.DEFAULTS["business_hours"]
        )
        quiet = settings.quiet_hours_from_json(json.loads(raw["quiet_hours"]) if "quiet_hours" in raw else None)
        zones = release.recipient_zones(
            pd.Series([d["to_number"] for d in subject]), pd.Series([d["contact_timezone"] for d in subject])
        )
        try:
            due, why = release.release_times_and_reasons(zones, pd.Series([now] * len(subject)), business, quiet)
        except ValidationError:  # hours never open (an admin's change): nothing goes; asked again in an hour
            later = now + HOURS_NEVER_OPEN_RETRY
            return {d["id"]: (later, "business_hours") for d in subject}
        return {
            d["id"]: (when.to_pydatetime(), reason) for d, when, reason in zip(subject, due, why) if reason is not None
        }

    @staticmethod
    def _window_closed(tx: Transaction, details: list[dict[str, Any]], now: dt.datetime) -> set[int]:
        """Rule 5 at release time: WhatsApp free text held (business hours) may find the window closed.
        The messages (ids) that may not go; SMS never asks."""
        wa = [d for d in details if d["channel"] == "whatsapp"]
        if not wa:
            return set()
        found: dict[str, dict[int, Any]] = {"c": {}, "t": {}}
        for table, key, value in tx.fetchall(
            """SELECT 'c', id, last_inbound_at FROM conversations WHERE id = ANY(?::INTEGER[])
               UNION ALL SELECT 't', id, NULL FROM templates
               WHERE id = ANY(?::INTEGER[]) AND registered AND approval_status = 'approved'""",
            [
                sorted({d["conversation_id"] for d in wa} - {None}),
                sorted({d["template_id"] for d in wa} - {None}),
            ],
        ):
            found[table][key] = value
        window = dt.timedelta(hours=24)
        return {
            d["id"]
            for d in wa
            if d["template_id"] not in found["t"]
            and ((last := found["c"].get(d["conversation_id"])) is None or last + window <= now)
        }

    def _build_claims(
        self,
        tx: Transaction,
        chosen: list[tuple],
        *,
        kind: str = "send",
        extra: dict[int, dict] | None = None,
        details: dict[int, dict[str, Any]] | None = None,
    ) -> list[Claim]:
        message_ids = [c[1] for c in chosen]
        if details is None:
            details = self._details(tx, message_ids)
        template_ids = sorted({d["template_id"] for d in details.values() if d["template_id"] is not None})
        registered = {
            r["id"]: template_finders.from_row(r)
            for r in (
                _dicts(
                    tx,
                    f"SELECT {template_finders.COLUMNS} FROM templates WHERE id IN (SELECT unnest(?::INTEGER[]))",
                    [template_ids],
                )
                if template_ids
                else []
            )
        }
        media: dict[int, list[dict]] = {}
        with_media = [m for m in message_ids if details[m]["has_media"]]  # a campaign has none: no statement
        for item in (
            _dicts(
                tx,
                "SELECT message_id, sha256, content_type, filename, token FROM media "
                "WHERE message_id IN (SELECT unnest(?::BIGINT[])) ORDER BY id",
                [with_media],
            )
            if with_media
            else []
        ):
            media.setdefault(item["message_id"], []).append(item)
        claims = []
        for outbox_id, message_id, attempts, _sender_id in chosen:
            d = details[message_id]
            sender = _sender(d)
            known = {"conversation_id": d["conversation_id"], "author_id": d["author_id"]}
            template, problem = _template_ref(registered.get(d["template_id"]), d)
            if problem is not None and kind == "send":  # (a lookup asks by numbers: it needs no template)
                claims.append(
                    Claim(
                        outbox_id,
                        message_id,
                        attempts + (kind == "send"),
                        sender,
                        None,
                        kind=kind,
                        **(extra or {}).get(outbox_id, {}),
                        problem=problem,
                        **known,
                    )
                )
                continue
            outbound = OutboundMessage(
                message_id=message_id,
                channel=d["channel"],
                from_number=d["from_number"],
                to_number=d["to_number"],
                body=d["body"] or None,
                media=tuple(
                    OutboundMedia(
                        url=self.media_url(m["token"]) or "",
                        content_type=m["content_type"],
                        filename=m["filename"],
                        sha256=m["sha256"],
                    )
                    for m in media.get(message_id, [])
                ),
                template=template,
                sender_ref=d["provider_ref"],
                status_callback_url=self.status_callback_url(d["provider"]),
            )
            claims.append(
                Claim(
                    outbox_id,
                    message_id,
                    attempts + (kind == "send"),
                    sender,
                    outbound,
                    kind=kind,
                    **(extra or {}).get(outbox_id, {}),
                    **known,
                )
            )
        return claims


HOURS_NEVER_OPEN_RETRY = dt.timedelta(hours=1)


def _hold(tx: Transaction, rows: list[tuple[int, int, dt.datetime, str]]) -> None:
    """Put due rows (outbox id, message id, when, why) back to wait for their release time: the
    thread shows "queued until" again, with the reason."""
    outbox_ids, message_ids, whens, whys = (list(column) for column in zip(*rows))
    tx.execute(
        "UPDATE outbox SET due_at = u.due FROM (SELECT unnest(?::BIGINT[]) AS id, unnest(?::TIMESTAMP[]) AS due) u "
        "WHERE outbox.id = u.id",
        [outbox_ids, whens],
    )
    tx.execute(
        "UPDATE messages SET release_at = u.due, queued_reason = u.why FROM (SELECT unnest(?::BIGINT[]) AS id, "
        "unnest(?::TIMESTAMP[]) AS due, unnest(?::VARCHAR[]) AS why) u WHERE messages.id = u.id",
        [message_ids, whens, whys],
    )
    versions.touch(tx, messages=message_ids)


def _sender(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": d["sender_id"],
        "provider": d["provider"],
        "channel": d["channel"],
        "label": d["label"],
        "rate": d["rate_per_second"],
    }


def _template_ref(template: templates.Template | None, d: dict[str, Any]) -> tuple[TemplateRef | None, Any]:
    """The registered template a message goes as, with its values; or why it cannot go."""
    if template is None or not template.sendable_as_template or d["channel"] != "whatsapp":
        return None, None  # saved text (or an SMS template): the body goes as ordinary text
    try:
        values = json.loads(d["template_values"]) if d["template_values"] else {}
        ref = templates.template_ref(template, values)
    except (ValueError, ParleyError) as exc:
        return None, ProviderError(f"The template's values could not be sent: {exc}", retryable=False)
    if not templates.reads_as(template, values, d["body"]):
        # The provider fills the template as it is now; the thread shows it as it was written. An admin
        # changed its words (and it was approved again) while this message waited: sending would give
        # the customer something nobody in the conversation can read.
        return None, ProviderError(
            f"The template “{template.name}” was changed after this message was written, so the customer "
            "would not get the words the conversation shows; send it again",
            retryable=False,
        )
    return ref, None


def _dicts(tx: Transaction, sql: str, params: list) -> list[dict[str, Any]]:
    cur = tx.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]
