"""Recording what came back from providers, for the dispatcher (``core.delivery``).

``record`` runs in one write transaction for every outcome that came back
since the last one: sends (sent, queued again, unknown, failed) and lookups
of sends whose outcome was unknown (settled, sent again, or left to the
agent). An outcome whose outbox row changed meanwhile (an agent's Retry, a
status callback that settled it) is dropped: the row's new state wins.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from core import clock, events
from core.actions.inbound import opt_out_contact
from core.db import Transaction
from core.db_events import columns_of, rows_sql
from core.delivery_pacing import backoff_seconds
from core.provider_errors import OPT_OUT_CODES, describe
from core.providers.base import FAILED, UNDELIVERED, ProviderError, SentCandidate, status_moves_forward

if TYPE_CHECKING:
    from core.delivery import SendOutcome
    from core.delivery_pacing import RetryPolicy

# The rows an outcome writes, passed to one UPDATE each as a list per column (core.db_events.rows_sql).
MSG_COLUMNS = (
    ("id", "BIGINT"),
    ("status", "VARCHAR"),
    ("provider_message_id", "VARCHAR"),
    ("error_code", "VARCHAR"),
    ("error_reason", "VARCHAR"),
    ("release_at", "TIMESTAMP"),
    ("why", "VARCHAR"),
)
OUTBOX_COLUMNS = (
    ("id", "BIGINT"),
    ("state", "VARCHAR"),
    ("due_at", "TIMESTAMP"),
    ("last_error", "VARCHAR"),
    ("retry_since", "TIMESTAMP"),
    ("lookups", "INTEGER"),
)


def retry_reason(err: ProviderError) -> str:
    """Why a message waits in the queue, in the words the thread shows ("Queued — …, retrying at 3:05 PM")."""
    detail = (err.message or "").strip().rstrip(".")
    if err.http_status == 429 or err.code in ("20429", "130429", "131056", "4", "80007"):
        what = "provider busy"
    elif err.code == "connection":
        what = "provider unreachable"
    else:
        what = "provider unavailable"
    if err.http_status and f"HTTP {err.http_status}" not in detail:
        detail = f"HTTP {err.http_status}: {detail}" if detail else f"HTTP {err.http_status}"
    return f"{what} ({detail[:160]})" if detail else what


def record(tx: Transaction, outcomes: list[SendOutcome], policy: RetryPolicy) -> dict[str, int]:
    from core.delivery import CHECKING_REASON, INTERRUPTED_REASON

    now = clock.utcnow()
    # In queue order, whatever order the sending threads finished in: the events, facts and
    # lookups' claims on listed messages come out the same on every run.
    outcomes = sorted(outcomes, key=lambda o: o.claim.outbox_id)
    # One read for what the batch needs to know now: each row's state (an agent's Retry or a status
    # callback may have moved it meanwhile), each message's status, and the owners of the batch's
    # conversations (their live pages). Each branch is a primary-key lookup (``= ANY``).
    states, current, owners = {}, {}, {}
    found = {"o": states, "m": current, "c": owners}
    for table, key, value in tx.fetchall(
        """SELECT 'o', id, state FROM outbox WHERE id = ANY(?::BIGINT[])
           UNION ALL SELECT 'm', id, status FROM messages WHERE id = ANY(?::BIGINT[])
           UNION ALL SELECT 'c', id, owner_id::VARCHAR FROM conversations WHERE id = ANY(?::INTEGER[])""",
        [
            [o.claim.outbox_id for o in outcomes],
            [o.claim.message_id for o in outcomes],
            sorted({o.claim.conversation_id for o in outcomes} - {None}),
        ],
    ):
        found[table][key] = value
    # A lookup may only take a provider id no message has yet (two unknowns to one person, one found),
    # nor one this batch's own sends just got (recorded below, after the lookups of older rows).
    listed = [c.provider_message_id for o in outcomes for c in (o.candidates or [])]
    taken = (
        {
            r[0]
            for r in tx.fetchall(
                "SELECT provider_message_id FROM messages WHERE provider_message_id = ANY(?::VARCHAR[])", [listed]
            )
        }
        if listed
        else set()  # no lookup answered: nothing to ask (the question reads every message's provider id)
    )
    taken |= {o.result.provider_message_id for o in outcomes if o.claim.kind == "send" and o.result is not None}
    in_flight = _sends_in_flight(tx, outcomes) if listed else set()
    msg_rows, outbox_rows, opt_outs, touched = [], [], [], set()
    counts: dict[str, Any] = {"sent": 0, "failed": 0, "retrying_senders": set(), "healthy_senders": set()}

    def done(o: SendOutcome, status: str, provider_id: str, **extra: Any) -> None:
        c = o.claim
        if not status_moves_forward(current.get(c.message_id), status):
            status = current.get(c.message_id)
        msg_rows.append((c.message_id, status, provider_id, None, None, None, None))
        outbox_rows.append((c.outbox_id, "done", None, None, None, None))
        tx.publish(
            events.MESSAGE_SENT,
            message_id=c.message_id,
            conversation_id=c.conversation_id,
            author_id=c.author_id,
            channel=c.sender["channel"],
            sender_id=c.sender["id"],
            status=status,
            **extra,
        )
        counts["sent"] += 1

    def failed(
        o: SendOutcome, err: ProviderError, reason: str, provider_id: str | None = None, status: str = "failed"
    ) -> None:
        c = o.claim
        msg_rows.append((c.message_id, status, provider_id, err.code, reason, None, None))
        outbox_rows.append((c.outbox_id, "failed", None, err.message[:500], None, None))
        tx.publish(
            events.MESSAGE_FAILED,
            message_id=c.message_id,
            conversation_id=c.conversation_id,
            author_id=c.author_id,
            channel=c.sender["channel"],
            sender_id=c.sender["id"],
            error_code=err.code,
        )
        counts["failed"] += 1

    def again(o: SendOutcome, due: dt.datetime, reason: str | None, last_error: str, since, lookups=None) -> None:
        c = o.claim
        msg_rows.append((c.message_id, "queued", None, None, reason, due, "retry"))  # why it waits
        outbox_rows.append((c.outbox_id, "pending", due, last_error[:500], since, lookups))
        tx.publish(
            events.MESSAGE_RETRY_SCHEDULED,
            message_id=c.message_id,
            conversation_id=c.conversation_id,
            author_id=c.author_id,
            attempt=c.attempts,
            error=last_error[:200],
        )

    def unknown(o: SendOutcome, due: dt.datetime, last_error: str, lookups: int, since=None) -> None:
        c = o.claim
        msg_rows.append((c.message_id, "interrupted", None, None, CHECKING_REASON, None, None))
        outbox_rows.append((c.outbox_id, "unknown", due, last_error[:500], since, lookups))

    def interrupted(o: SendOutcome, last_error: str, lookups: int) -> None:
        """Nobody can tell whether it went out: the agent decides (Retry), never the dispatcher."""
        c = o.claim
        msg_rows.append((c.message_id, "interrupted", None, None, INTERRUPTED_REASON, None, None))
        outbox_rows.append((c.outbox_id, "interrupted", None, last_error[:500], None, lookups))
        tx.publish(
            events.MESSAGE_INTERRUPTED,
            message_id=c.message_id,
            conversation_id=c.conversation_id,
            author_id=c.author_id,
            channel=c.sender["channel"],
            sender_id=c.sender["id"],
            cause="unverifiable",
        )

    for o in outcomes:
        c = o.claim
        expected = "claimed" if c.kind == "send" else "checking"
        if states.get(c.outbox_id) != expected:
            continue  # settled by a status callback, or retried by an agent, meanwhile
        touched.add(c.conversation_id)
        if c.kind == "lookup":
            _record_lookup(
                o, now, policy, taken, in_flight, done=done, failed=failed, again=again, unknown=unknown,
                interrupted=interrupted,
            )  # fmt: skip
            continue
        if o.result is not None:
            done(o, o.result.status, o.result.provider_message_id)
            counts["healthy_senders"].add(c.sender["id"])
            continue
        err = o.error
        if err.outcome_unknown:  # the provider may have it: look before sending again
            due = now + dt.timedelta(seconds=policy.lookup_delay)
            unknown(o, due, err.message, 0, c.retry_since)
            tx.publish(
                events.MESSAGE_INTERRUPTED,
                message_id=c.message_id,
                conversation_id=c.conversation_id,
                author_id=c.author_id,
                channel=c.sender["channel"],
                sender_id=c.sender["id"],
                cause="no_answer",
            )
        elif err.retryable:
            since = c.retry_since or now
            if now - since >= policy.horizon:
                failed(o, err, f"{describe(err.code, err.message)} — gave up after trying for {_span(now - since)}")
            else:
                due = now + dt.timedelta(
                    seconds=backoff_seconds(
                        c.attempts, err.retry_after, base=policy.backoff_base, cap=policy.backoff_cap
                    )
                )
                again(o, due, retry_reason(err), err.message, since)
                counts["retrying_senders"].add(c.sender["id"])
        else:
            failed(o, err, describe(err.code, err.message))
            if err.code in OPT_OUT_CODES:
                opt_outs.append(c.message_id)
    if msg_rows:
        tx.execute(
            f"""UPDATE messages SET status = u.status, status_at = ?,
                   provider_message_id = coalesce(u.provider_message_id, messages.provider_message_id),
                   error_code = u.error_code, error_reason = u.error_reason, release_at = u.release_at,
                   queued_reason = u.why
                FROM ({rows_sql(MSG_COLUMNS)}) u WHERE messages.id = u.id""",
            [now, *columns_of(msg_rows, len(MSG_COLUMNS))],
        )
        tx.execute(
            f"""UPDATE outbox SET state = u.state, due_at = coalesce(u.due_at, outbox.due_at), last_error = u.last_error,
                   retry_since = u.retry_since, lookups = coalesce(u.lookups, outbox.lookups)
                FROM ({rows_sql(OUTBOX_COLUMNS)}) u WHERE outbox.id = u.id""",
            columns_of(outbox_rows, len(OUTBOX_COLUMNS)),
        )
    for message_id in opt_outs:
        provider_opt_out(tx, message_id)
    # Owners' live pages: one event per conversation touched.
    for conversation_id in sorted(touched - {None}):
        owner = owners.get(conversation_id)
        tx.publish(
            events.CONVERSATION_DELIVERY,
            conversation_id=conversation_id,
            user_id=None if owner is None else int(owner),
        )
    return counts


def bring_forward(tx: Transaction, sender_ids: list[int]) -> int:
    """A sender's provider answered again: its messages waiting out the outage go now, not at
    their backed-off times (up to a few minutes away)."""
    now = clock.utcnow()
    rows = tx.fetchall(
        """SELECT id, message_id FROM outbox WHERE state = 'pending' AND retry_since IS NOT NULL AND due_at > ?
           AND sender_id IN (SELECT unnest(?::INTEGER[]))""",
        [now, sender_ids],
    )
    if rows:
        tx.execute("UPDATE outbox SET due_at = ? WHERE id IN (SELECT unnest(?::BIGINT[]))", [now, [r[0] for r in rows]])
        tx.execute(
            "UPDATE messages SET release_at = ? WHERE id IN (SELECT unnest(?::BIGINT[]))", [now, [r[1] for r in rows]]
        )
    return len(rows)


def _sends_in_flight(tx: Transaction, outcomes: list[SendOutcome]) -> set[tuple[int, str]]:
    """(sender, recipient) of sends claimed and not recorded yet, outside this batch: a message the
    provider lists for one of them may be that send's, not the one looked up."""
    batch = [o.claim.outbox_id for o in outcomes]
    return {
        (sender_id, phone)
        for sender_id, phone in tx.fetchall(
            """SELECT o.sender_id, ct.phone FROM outbox o JOIN messages m ON m.id = o.message_id
               JOIN contacts ct ON ct.id = m.contact_id
               WHERE o.state = 'claimed' AND o.id <> ALL(?::BIGINT[])""",
            [batch],
        )
    }


def _record_lookup(o, now, policy, taken: set[str], in_flight, *, done, failed, again, unknown, interrupted) -> None:

    c = o.claim
    looked = c.lookups + 1
    if o.error is not None:  # the lookup itself failed: ask again later, within the horizon
        since = c.retry_since or c.claimed_at or now
        if now - since >= policy.horizon:
            interrupted(o, o.error.message, looked)
            return
        due = now + dt.timedelta(
            seconds=backoff_seconds(looked, o.error.retry_after, base=policy.backoff_base, cap=policy.backoff_cap)
        )
        unknown(o, due, o.error.message, looked, since)
        return
    if o.candidates is None:  # the provider cannot be asked: only a status callback can settle it
        sent_at = c.claimed_at or now
        if (now - sent_at).total_seconds() < policy.callback_wait:
            unknown(o, sent_at + dt.timedelta(seconds=policy.callback_wait), "waiting for a status callback", looked)
        else:
            interrupted(o, "no status callback named it", looked)
        return
    match = _match(c.message, o.candidates, taken)
    if match is not None and (c.sender["id"], c.message.to_number) in in_flight:
        # Another send to this person is under way: what the provider lists may be that one. Ask again
        # once it is recorded (its id is then taken); this wait is not one of the lookup's tries.
        unknown(
            o, now + dt.timedelta(seconds=policy.lookup_delay), "another send to this person is under way", c.lookups
        )
        return
    if match is not None:
        taken.add(match.provider_message_id)
        if match.status in (FAILED, UNDELIVERED):  # it went, and failed there: say why, as a callback would
            err = ProviderError(match.error_code or "", retryable=False, code=match.error_code)
            failed(o, err, describe(match.error_code, None), provider_id=match.provider_message_id, status=match.status)
            return
        done(o, match.status, match.provider_message_id, settled_by="lookup")
        return
    if looked < policy.lookup_tries:  # not (yet) listed: the provider may still be working on it
        unknown(o, now + dt.timedelta(seconds=policy.lookup_delay), "not listed by the provider yet", looked)
        return
    again(o, now, None, "the provider has no such message: sending it again", c.retry_since, looked)


def _match(msg, candidates: list[SentCandidate], taken: set[str]) -> SentCandidate | None:
    """The earliest listed message to this recipient with this text that no message of ours has."""
    body = (msg.body or "").strip()
    fitting = [
        c
        for c in candidates
        if c.provider_message_id not in taken
        and (c.to_number is None or c.to_number == msg.to_number)
        and (msg.template is not None or c.body is None or c.body.strip() == body)
    ]
    fitting.sort(key=lambda c: (c.created_at is None, c.created_at or dt.datetime.min))
    return fitting[0] if fitting else None


def _span(delta: dt.timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    if minutes < 90:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{minutes / 60:.1f} hours".replace(".0 ", " ")


def provider_opt_out(tx: Transaction, message_id: int) -> None:
    """The provider says the person replied STOP (Twilio 21610): suppress them everywhere (rule 2),
    through the same opt-out as a STOP keyword. No confirmation: the provider would refuse it."""
    row = tx.fetchone(
        "SELECT m.contact_id, m.sender_id, m.conversation_id, c.owner_id, ct.opted_out, s.channel FROM messages m "
        "JOIN contacts ct ON ct.id = m.contact_id JOIN senders s ON s.id = m.sender_id "
        "LEFT JOIN conversations c ON c.id = m.conversation_id WHERE m.id = ?",
        [message_id],
    )
    if row is None or row[4]:
        return
    contact_id, sender_id, conversation_id, owner_id, _, channel = row
    tx.execute(
        "INSERT INTO optout_history (contact_id, kind, keyword, channel, sender_id, message_id, occurred_at) "
        "VALUES (?, 'opt_out', 'provider error 21610', ?, ?, ?, ?)",
        [contact_id, channel, sender_id, message_id, clock.utcnow()],
    )
    opt_out_contact(
        tx, contact_id, conversation_id, owner_id, keyword="provider error 21610", source="provider", confirm=False
    )


def backlog(db: Any) -> dict[str, Any]:
    """Sends not settled yet, counted from the outbox (for /healthz and the admin pages).

    ``due``: waiting for their turn (or their release time) with nothing wrong; ``retrying``: a
    provider answered 5xx/429 or refused the connection and they wait for the next try, the
    oldest for ``oldest_retry_seconds``; ``in_flight``: claimed and being sent; ``checking``:
    their outcome is unknown (a timeout, a crash mid-request) and they wait to be looked up;
    ``interrupted``: the provider could not say whether they went, so an agent decides (Retry).

    ``due`` split by why: ``held_business_hours`` / ``held_quiet_hours`` were written outside the
    workspace's or the recipient's hours and wait for them to open (``held_later``: a release time
    for another reason), each oldest counted from when it was queued; ``waiting_turn`` are due now
    and wait for their sender's rate limit, the oldest ``oldest_turn_seconds`` past its due time
    (how far sending is behind). ``failed_24h``: outgoing messages that failed in the last 24 hours.
    """
    now = clock.utcnow()
    row = db.fetchone(
        """WITH waiting AS (
               SELECT o.state, o.retry_since, o.due_at, o.created_at, m.queued_reason
               FROM outbox o LEFT JOIN messages m ON m.id = o.message_id
               WHERE o.state IN ('pending', 'claimed', 'unknown', 'checking', 'interrupted'))
           SELECT count(*) FILTER (WHERE state = 'pending' AND retry_since IS NULL),
                  count(*) FILTER (WHERE state = 'pending' AND retry_since IS NOT NULL),
                  min(retry_since) FILTER (WHERE state = 'pending'),
                  count(*) FILTER (WHERE state = 'claimed'),
                  count(*) FILTER (WHERE state IN ('unknown', 'checking')),
                  count(*) FILTER (WHERE state = 'interrupted'),
                  count(*) FILTER (WHERE state = 'pending' AND retry_since IS NULL AND due_at > $1
                                   AND queued_reason = 'business_hours'),
                  min(created_at) FILTER (WHERE state = 'pending' AND retry_since IS NULL AND due_at > $1
                                          AND queued_reason = 'business_hours'),
                  count(*) FILTER (WHERE state = 'pending' AND retry_since IS NULL AND due_at > $1
                                   AND queued_reason = 'quiet_hours'),
                  min(created_at) FILTER (WHERE state = 'pending' AND retry_since IS NULL AND due_at > $1
                                          AND queued_reason = 'quiet_hours'),
                  count(*) FILTER (WHERE state = 'pending' AND retry_since IS NULL AND due_at > $1
                                   AND coalesce(queued_reason, '') NOT IN ('business_hours', 'quiet_hours')),
                  count(*) FILTER (WHERE state = 'pending' AND retry_since IS NULL AND due_at <= $1),
                  min(due_at) FILTER (WHERE state = 'pending' AND retry_since IS NULL AND due_at <= $1)
           FROM waiting""",
        [now],
    )
    (due, retrying, oldest_retry, in_flight, checking, interrupted) = row[:6]
    (business, oldest_business, quiet, oldest_quiet, later, turn, oldest_turn) = row[6:]
    # Bounded by when the message was written too: messages are stored in time order, so DuckDB skips
    # all but the last days' row groups (10M messages: ~10 ms instead of ~150 ms). A send fails within
    # hours of being written (retries give up after minutes, carriers after 72 h), never a week later.
    failed = db.scalar(
        "SELECT count(*) FROM messages WHERE created_at > ? AND direction = 'out' "
        "AND status IN ('failed', 'undelivered', 'not_sent') AND coalesce(status_at, created_at) > ?",
        [now - dt.timedelta(days=8), now - dt.timedelta(hours=24)],
    )

    def age(since: dt.datetime | None) -> float:
        return round(max(0.0, (now - since).total_seconds()), 1) if since is not None else 0.0

    return {
        "due": due,
        "retrying": retrying,
        "oldest_retry_seconds": age(oldest_retry),
        "in_flight": in_flight,
        "checking": checking,
        "interrupted": interrupted,
        "held_business_hours": business,
        "oldest_business_hours_seconds": age(oldest_business),
        "held_quiet_hours": quiet,
        "oldest_quiet_hours_seconds": age(oldest_quiet),
        "held_later": later,
        "waiting_turn": turn,
        "oldest_turn_seconds": age(oldest_turn),
        "failed_24h": failed,
    }
