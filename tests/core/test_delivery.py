"""The dispatcher: sends, retries with backoff, final failures, rate limits, opt-out at claim."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from core import clock, delivery
from core.actions import messaging
from core.delivery import Dispatcher
from core.delivery_pacing import RateLimiter, RetryPolicy, StartGate, backoff_seconds
from core.providers.base import ProviderError, SendResult
from tests import factories as f


class ScriptedProvider:
    """Answers each send from a script of results/errors (last one repeats)."""

    def __init__(self, *script):
        self.script = list(script) or [SendResult("P1", "sent")]
        self.calls = []
        self._lock = threading.Lock()

    def send(self, msg):
        with self._lock:
            self.calls.append(msg)
            item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, Exception):
            raise item
        if callable(item):
            return item(msg)
        return item


@pytest.fixture
def ws(db, make_user):
    f.always_open(db)
    maria = make_user("maria")
    sms = f.add_sender(db, rate=1000)
    contact = f.add_contact(db, name="Ana")
    conv = f.add_conversation(db, contact_id=contact, sender_id=sms, owner_id=maria.id)
    return dict(maria=maria, sms=sms, contact=contact, conv=conv)


def dispatcher(db, provider):
    return Dispatcher(
        db,
        lambda sender: provider,
        media_url=lambda t: f"http://x/files/{t}",
        status_callback_url=lambda p: None,
        threads=8,
    )


def row(db, mid):
    return db.dicts(
        "SELECT m.status, m.provider_message_id, m.error_code, m.error_reason, m.release_at, m.queued_reason, "
        "o.state, o.attempts, o.due_at FROM messages m JOIN outbox o ON o.message_id = m.id "
        "WHERE m.id = ? ORDER BY o.id DESC LIMIT 1",
        [mid],
    )[0]


def test_a_queued_message_is_sent_and_gets_its_provider_id(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], "hello")
    provider = ScriptedProvider(SendResult("SM123", "sent"))
    assert dispatcher(db, provider).step() is True
    r = row(db, mid)
    assert (r["status"], r["provider_message_id"], r["state"], r["attempts"]) == ("sent", "SM123", "done", 1)
    assert provider.calls[0].to_number == db.scalar("SELECT phone FROM contacts WHERE id = ?", [ws["contact"]])
    assert dispatcher(db, provider).step() is False  # nothing left; never sent twice


def test_nothing_goes_before_its_release_time(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], "later")
    db.write(
        lambda tx: tx.execute(
            "UPDATE outbox SET due_at = ? WHERE message_id = ?", [clock.utcnow() + dt.timedelta(hours=3), mid]
        )
    )
    provider = ScriptedProvider()
    d = dispatcher(db, provider)
    assert d.step() is False and provider.calls == []
    clock.freeze(clock.utcnow() + dt.timedelta(hours=3, seconds=1))
    assert d.step() is True and row(db, mid)["status"] == "sent"


def test_retryable_errors_back_off_then_succeed(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], "hello")
    provider = ScriptedProvider(
        ProviderError("Too many requests", retryable=True, code="20429", http_status=429),
        ProviderError("Server error", retryable=True, http_status=503),
        SendResult("SM9", "sent"),
    )
    d = dispatcher(db, provider)
    start = clock.utcnow()
    clock.freeze(start)
    d.step()
    r = row(db, mid)
    assert r["status"] == "queued" and r["state"] == "pending" and r["due_at"] > start
    assert r["release_at"] == r["due_at"]  # the bubble shows when it will go again
    assert r["queued_reason"] == "retry"  # and why it waits (pages.format.queued_text)
    assert d.step() is False  # not due yet
    for _ in range(2):
        clock.freeze(row(db, mid)["due_at"] + dt.timedelta(seconds=1))
        d.step()
    r = row(db, mid)
    assert (r["status"], r["attempts"], r["provider_message_id"]) == ("sent", 3, "SM9")


def test_retryable_errors_keep_it_queued_with_the_reason_until_the_horizon_then_fail(db, ws):
    """Issue 18.2: an outage is retried for the whole horizon (an hour), never given up after a few tries."""
    mid = messaging.do_send(db, ws["maria"], ws["conv"], "hello")
    provider = ScriptedProvider(ProviderError("Twilio answered HTTP 500.", retryable=True, http_status=500))
    d = dispatcher(db, provider)
    start = clock.utcnow()
    clock.freeze(start)
    d.step()
    waits = []
    while row(db, mid)["status"] == "queued":
        r = row(db, mid)
        assert r["error_reason"] == "provider unavailable (Twilio answered HTTP 500)"
        assert r["release_at"] == r["due_at"]  # the thread says when it will try again
        waits.append((r["due_at"] - clock.utcnow()).total_seconds())
        clock.freeze(r["due_at"] + dt.timedelta(seconds=1))
        d.step()
    r = row(db, mid)
    assert r["status"] == "failed" and r["state"] == "failed"
    assert clock.utcnow() - start >= dt.timedelta(hours=1)  # not before the horizon
    assert r["error_reason"].startswith("Twilio answered HTTP 500 — gave up after trying for 6")
    assert max(waits) <= RetryPolicy.backoff_cap  # capped at a few minutes
    assert waits[0] < 5 and len(provider.calls) == len(waits) + 1 > 20


def test_a_4xx_fails_at_once_with_the_providers_code(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], "hello")
    d = dispatcher(
        db, ScriptedProvider(ProviderError("Invalid 'To' Phone Number", retryable=False, code="21211", http_status=400))
    )
    d.step()
    r = row(db, mid)
    assert (r["status"], r["error_code"], r["attempts"]) == ("failed", "21211", 1)
    # Both: our words for the code, then the provider's own (issue 18.4).
    assert r["error_reason"] == "Invalid phone number (error 21211): Invalid 'To' Phone Number"


def test_21610_marks_the_contact_opted_out_everywhere(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], "hello")
    dispatcher(
        db,
        ScriptedProvider(
            ProviderError("Attempt to send to unsubscribed recipient", retryable=False, code="21610", http_status=400)
        ),
    ).step()
    assert row(db, mid)["status"] == "failed"
    assert db.scalar("SELECT opted_out FROM contacts WHERE id = ?", [ws["contact"]]) is True
    # The next message is recorded as not sent and never reaches the provider.
    nxt = messaging.do_send(db, ws["maria"], ws["conv"], "again")
    assert db.scalar("SELECT status FROM messages WHERE id = ?", [nxt]) == "not_sent"


def test_contact_opted_out_after_queueing_is_stopped_at_claim(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], "hello")
    db.write(lambda tx: tx.execute("UPDATE contacts SET opted_out = TRUE WHERE id = ?", [ws["contact"]]))
    provider = ScriptedProvider()
    dispatcher(db, provider).step()
    assert provider.calls == []
    assert db.fetchone("SELECT status, error_reason FROM messages WHERE id = ?", [mid]) == (
        "not_sent",
        "Contact opted out",
    )


def test_per_sender_rate_limit_holds(db, ws):
    db.write(lambda tx: tx.execute("UPDATE senders SET rate_per_second = 5 WHERE id = ?", [ws["sms"]]))
    for i in range(30):
        messaging.do_send(db, ws["maria"], ws["conv"], f"m{i}")
    provider = ScriptedProvider(lambda msg: SendResult(f"SM{msg.message_id}", "sent"))
    d = dispatcher(db, provider)
    clock_now = [0.0]
    d.limiter = RateLimiter(now=lambda: clock_now[0])
    d.gate.wait_turn = lambda sender_id, rate: None  # claims are under test here; the gate has its own test
    per_step, answers = [], []
    for step in range(30):  # 0.2 s of simulated time between steps
        clock_now[0] = step * 0.2
        before = len(provider.calls)
        answers.append(d.step())
        per_step.append(len(provider.calls) - before)
    assert sum(per_step) == 30
    assert per_step[0] == 5  # a second's worth at once
    windows = [sum(per_step[i : i + 5]) for i in range(len(per_step) - 4)]  # 5 steps = any 1 s
    assert max(windows) == 5  # never more than the limit within one second
    assert per_step[5] == 5  # and the next second's worth as soon as the second is over
    # While held back, the dispatcher says how long until the sender may send again.
    assert answers[1] == pytest.approx(0.8) and answers[4] == pytest.approx(0.2)


def test_the_start_gate_holds_starts_to_the_rate_whatever_the_claims():
    """On a busy machine claimed sends may start late and bunch up: the gate spaces their starts."""
    now = [0.0]
    waits = []

    def sleep(seconds):
        waits.append(round(seconds, 3))
        now[0] += seconds

    gate = StartGate(now=lambda: now[0], sleep=sleep)
    for _ in range(12):  # twelve claimed sends all trying to start at once, rate 5/s
        gate.wait_turn(1, 5)
    assert waits == [1.01, 1.01] and now[0] == 2.02  # five, then five a second later (and a margin), then two
    gate.wait_turn(2, 5)  # another sender is not held by this one
    assert waits == [1.01, 1.01]


def test_a_slot_freeing_within_the_look_ahead_is_claimed_now_never_more_than_the_rate_a_window():
    """The dispatcher claims once a round: a slot that frees before the next round is claimed now, for
    then (the start gate holds the send to it), so a limited sender keeps its pace."""
    now = [0.0]
    limiter = RateLimiter(now=lambda: now[0], ahead=0.2)
    taken = []
    for t in (0.0, 0.7, 0.85, 0.9, 1.7, 1.85):
        now[0] = t
        taken.append(limiter.take(1, 5, 10))
    assert taken == [5, 0, 5, 0, 0, 5]  # at 0.85 the slots of 1.0, at 1.85 those of 2.0; none early by more
    assert list(limiter._claimed[1]) == [1.0] * 5 + [2.0] * 5  # the slots: five a second, each second's at once
    now[0] = 1.9
    assert limiter.seconds_until_free(1, 5) == pytest.approx(0.9)  # 3.0 less the look-ahead
    assert RateLimiter(now=lambda: 0.5, ahead=0.2).take(2, 5, 3) == 3  # another sender has its own slots


def test_rates_below_one_per_second_space_the_sends():
    ticks = iter([0.0, 1.0, 1.9, 2.0, 2.5, 4.0])
    limiter = RateLimiter(now=lambda: next(ticks))
    assert [limiter.take(1, 0.5, 3) for _ in range(6)] == [1, 0, 0, 1, 0, 1]


def test_one_senders_backlog_does_not_hold_up_another_sender(db, ws):
    """A slow sender with a long queue still leaves room in each claim for the others."""
    db.write(lambda tx: tx.execute("UPDATE senders SET rate_per_second = 2 WHERE id = ?", [ws["sms"]]))
    for i in range(300):
        messaging.do_send(db, ws["maria"], ws["conv"], f"bulk {i}")
    other = f.add_sender(db, phone="+14155550111", rate=1000)
    conv2 = f.add_conversation(db, contact_id=f.add_contact(db, name="Bo"), sender_id=other, owner_id=ws["maria"].id)
    later = [messaging.do_send(db, ws["maria"], conv2, f"reply {i}") for i in range(5)]
    provider = ScriptedProvider(lambda msg: SendResult(f"SM{msg.message_id}", "sent"))
    d = dispatcher(db, provider)
    d.step()
    assert {c.message_id for c in provider.calls} >= set(later)  # all five went in the first claim
    assert sum(1 for c in provider.calls if c.message_id not in later) == 2  # the slow sender: its burst only


def test_a_claim_takes_each_senders_oldest_due_rows_ties_by_queue_order(db, ws):
    """The batch is picked per sender from the outbox before any join (issue 18: the 1M workspace)."""
    mids = [messaging.do_send(db, ws["maria"], ws["conv"], f"due {i}") for i in range(10)]
    start = clock.utcnow() - dt.timedelta(hours=1)
    minutes = {7: 0, 2: 1, 9: 2, 0: 3, 4: 3, 1: 4, 3: 5, 5: 6, 6: 7, 8: 8}  # message index -> minutes after start
    for index, after in minutes.items():
        db.write(
            lambda tx, m=mids[index], at=start + dt.timedelta(minutes=after): tx.execute(
                "UPDATE outbox SET due_at = ? WHERE message_id = ?", [at, m]
            )
        )
    provider = ScriptedProvider(lambda msg: SendResult(f"SM{msg.message_id}", "sent"))
    d = Dispatcher(
        db, lambda sender: provider, media_url=lambda t: None, status_callback_url=lambda p: None, batch=4, threads=8
    )
    d.step()
    assert sorted(c.message_id for c in provider.calls) == sorted([mids[7], mids[2], mids[9], mids[0]])
    d.step()
    assert sorted(c.message_id for c in provider.calls[4:]) == sorted([mids[4], mids[1], mids[3], mids[5]])


def test_backoff_grows_with_jitter_and_honours_retry_after():
    import random

    rng = random.Random(1)
    first, later = backoff_seconds(1, rng=rng), backoff_seconds(5, rng=rng)
    assert 1.0 <= first <= 3.0 and 16 <= later <= 48
    assert backoff_seconds(2, retry_after=7) == 7
    assert backoff_seconds(50) <= RetryPolicy.backoff_cap


def test_claimed_rows_found_at_start_are_checked_never_resent_blindly(db, ws):
    """A provider that cannot be asked: the row waits for a status callback, then the agent decides."""
    mid = messaging.do_send(db, ws["maria"], ws["conv"], "in flight")
    db.write(lambda tx: tx.execute("UPDATE outbox SET state = 'claimed', claimed_at = ? WHERE message_id = ?",
                                   [clock.utcnow(), mid]))  # fmt: skip
    provider = ScriptedProvider()
    d = dispatcher(db, provider)
    assert d.recover() == 1
    r = row(db, mid)
    assert (r["status"], r["state"]) == ("interrupted", "unknown")
    assert r["error_reason"] == delivery.CHECKING_REASON
    for _ in range(3):  # however often it runs, and whenever a lookup is due, nothing is sent
        clock.freeze(row(db, mid)["due_at"] + dt.timedelta(seconds=1))
        d.step()
    r = row(db, mid)
    assert (r["status"], r["state"], r["error_reason"]) == ("interrupted", "interrupted", delivery.INTERRUPTED_REASON)
    assert provider.calls == []  # never resent on its own
    messaging.do_retry(db, ws["maria"], mid)
    d.step()
    assert row(db, mid)["status"] == "sent" and len(provider.calls) == 1


def test_claimed_rows_found_at_start_are_settled_when_the_provider_lists_them(db, ws):
    from core.providers.base import SentCandidate

    mid = messaging.do_send(db, ws["maria"], ws["conv"], "in flight")
    db.write(lambda tx: tx.execute("UPDATE outbox SET state = 'claimed', claimed_at = ? WHERE message_id = ?",
                                   [clock.utcnow(), mid]))  # fmt: skip
    phone = db.scalar("SELECT phone FROM contacts WHERE id = ?", [ws["contact"]])
    provider = ScriptedProvider()
    looked = []
    provider.lookup_sent = lambda msg, since: (
        looked.append(msg.message_id)
        or [
            SentCandidate("SMother", "delivered", phone, "an older message", clock.utcnow()),
            SentCandidate("SMfound", "sent", phone, "in flight", clock.utcnow()),
        ]
    )
    d = dispatcher(db, provider)
    assert d.recover() == 1
    assert d.step() is False and looked == []  # not before the provider had time to finish
    clock.freeze(row(db, mid)["due_at"] + dt.timedelta(seconds=1))
    assert d.step() is True and looked == [mid]
    r = row(db, mid)
    assert (r["status"], r["state"], r["provider_message_id"], r["error_reason"]) == ("sent", "done", "SMfound", None)
    assert provider.calls == []


def test_whatsapp_text_held_past_the_window_is_not_sent(db, ws):
    """Rule 5 at release time: free text queued for business hours cannot go once the window closed."""
    wa = f.add_sender(db, channel="whatsapp", provider_ref="PNID9", rate=1000)
    conv = f.add_conversation(
        db,
        contact_id=ws["contact"],
        sender_id=wa,
        owner_id=ws["maria"].id,
        last_inbound_at=clock.utcnow() - dt.timedelta(hours=23),
    )
    mid = messaging.do_send(db, ws["maria"], conv, "See you tomorrow")
    db.write(
        lambda tx: tx.execute(
            "UPDATE outbox SET due_at = ? WHERE message_id = ?", [clock.utcnow() + dt.timedelta(hours=2), mid]
        )
    )
    clock.freeze(clock.utcnow() + dt.timedelta(hours=2, seconds=1))
    provider = ScriptedProvider()
    dispatcher(db, provider).step()
    r = row(db, mid)
    assert provider.calls == []
    assert r["status"] == "not_sent" and "window closed" in r["error_reason"]


# ---- rule 3 at release time: every way a row falls due, not only a message written now ---------------

MONDAY = dt.datetime(2025, 6, 2)  # a Monday
WEEKDAYS_9_TO_5 = {str(d): [["09:00", "17:00"]] for d in range(5)}


def test_retry_clicked_after_closing_waits_for_the_next_opening_and_says_so(db, ws):
    clock.freeze(MONDAY.replace(hour=23))
    f.set_hours(db, weekly=WEEKDAYS_9_TO_5)
    failed = f.add_message(
        db, contact_id=ws["contact"], sender_id=ws["sms"], conversation_id=ws["conv"], body="hello",
        status="failed", author_id=ws["maria"].id,
    )  # fmt: skip
    messaging.do_retry(db, ws["maria"], failed)
    r = row(db, failed)
    assert (r["status"], r["release_at"], r["queued_reason"], r["due_at"]) == (
        "queued",
        dt.datetime(2025, 6, 3, 9),
        "business_hours",
        dt.datetime(2025, 6, 3, 9),
    )
    provider = ScriptedProvider(SendResult("SM1", "sent"))
    d = dispatcher(db, provider)
    assert d.step() is False and provider.calls == []
    clock.freeze(dt.datetime(2025, 6, 3, 9, 0, 1))
    d.step()
    assert [m.body for m in provider.calls] == ["hello"] and row(db, failed)["status"] == "sent"


def test_a_back_off_that_crosses_closing_time_is_held_until_the_next_opening(db, ws):
    clock.freeze(MONDAY.replace(hour=16, minute=59))
    f.set_hours(db, weekly=WEEKDAYS_9_TO_5)
    mid = messaging.do_send(db, ws["maria"], ws["conv"], "hello")  # inside hours: due now
    provider = ScriptedProvider(
        ProviderError("busy", retryable=True, http_status=429, retry_after=120), SendResult("SM1", "sent")
    )
    d = dispatcher(db, provider)
    d.step()  # 429 with Retry-After 120 s: due at 17:01, after closing
    clock.freeze(MONDAY.replace(hour=17, minute=1, second=1))
    d.step()
    r = row(db, mid)
    assert len(provider.calls) == 1
    assert (r["status"], r["state"], r["due_at"], r["release_at"], r["queued_reason"]) == (
        "queued",
        "pending",
        dt.datetime(2025, 6, 3, 9),
        dt.datetime(2025, 6, 3, 9),
        "business_hours",
    )
    clock.freeze(dt.datetime(2025, 6, 3, 9, 0, 1))
    d.step()
    assert len(provider.calls) == 2 and row(db, mid)["status"] == "sent"


def test_a_row_due_after_the_recipients_quiet_hours_began_waits_for_their_morning(db, ws):
    # Business hours always open; the recipient is in Los Angeles (PDT, UTC-7): 8:00-21:00 there.
    f.set_hours(db, weekly={str(d): [["00:00", "24:00"]] for d in range(7)}, quiet=("08:00", "21:00"))
    db.write(
        lambda tx: tx.execute("UPDATE contacts SET timezone = 'America/Los_Angeles' WHERE id = ?", [ws["contact"]])
    )
    clock.freeze(dt.datetime(2025, 6, 3, 3, 59))  # 20:59 in LA: may go
    mid = messaging.do_send(db, ws["maria"], ws["conv"], "see you tomorrow")
    clock.freeze(dt.datetime(2025, 6, 3, 4, 0, 30))  # 21:00:30 in LA when the dispatcher gets to it
    provider = ScriptedProvider(SendResult("SM1", "sent"))
    dispatcher(db, provider).step()
    r = row(db, mid)
    assert provider.calls == []
    assert (r["status"], r["release_at"], r["queued_reason"]) == ("queued", dt.datetime(2025, 6, 3, 15), "quiet_hours")


def test_at_claim_time_quiet_hours_hold_in_every_zone_the_number_may_be_in(db, ws):
    # Idaho 208-320: Boise (MDT, UTC-6) or northern Idaho (PDT, UTC-7). 21:00 in Boise is 20:00 there.
    f.set_hours(db, weekly={str(d): [["00:00", "24:00"]] for d in range(7)}, quiet=("08:00", "21:00"))
    db.write(lambda tx: tx.execute("UPDATE contacts SET phone = '+12083201234' WHERE id = ?", [ws["contact"]]))
    clock.freeze(dt.datetime(2025, 6, 3, 2, 59))  # 20:59 in Boise, 19:59 in northern Idaho: may go
    mid = messaging.do_send(db, ws["maria"], ws["conv"], "see you tomorrow")
    clock.freeze(dt.datetime(2025, 6, 3, 3, 0, 30))  # 21:00:30 in Boise when the dispatcher gets to it
    provider = ScriptedProvider(SendResult("SM1", "sent"))
    dispatcher(db, provider).step()
    r = row(db, mid)
    assert provider.calls == []
    # 8:00 in both: 14:00 UTC is 8:00 in Boise but 7:00 in northern Idaho.
    assert (r["status"], r["release_at"], r["queued_reason"]) == ("queued", dt.datetime(2025, 6, 3, 15), "quiet_hours")


def test_an_automatic_reply_due_after_closing_still_goes(db, ws):
    clock.freeze(MONDAY.replace(hour=23))
    f.set_hours(db, weekly=WEEKDAYS_9_TO_5)
    help_reply = f.add_message(
        db, contact_id=ws["contact"], sender_id=ws["sms"], conversation_id=ws["conv"], body="Help: call us",
        status="queued", author_id=None,
    )  # fmt: skip
    db.write(
        lambda tx: tx.execute(
            "INSERT INTO outbox (message_id, sender_id, due_at, created_at) VALUES (?, ?, ?, ?)",
            [help_reply, ws["sms"], clock.utcnow(), clock.utcnow()],
        )
    )
    provider = ScriptedProvider(SendResult("SM1", "sent"))
    dispatcher(db, provider).step()
    assert [m.body for m in provider.calls] == ["Help: call us"]


def test_a_retried_message_is_settled_by_its_new_sends_echoed_callback(db, ws):
    # Sent earlier and failed by status callback: it has its first send's provider id. Retried, the
    # new send's answer never comes; WhatsApp's callback for it echoes Parley's id.
    from core.actions import inbound
    from core.providers.base import StatusEvent

    wa = f.add_sender(db, channel="whatsapp", provider="whatsapp_cloud", provider_ref="1065", rate=1000)
    conv = f.add_conversation(db, contact_id=ws["contact"], sender_id=wa, owner_id=ws["maria"].id)
    mid = f.add_message(
        db, contact_id=ws["contact"], sender_id=wa, conversation_id=conv, body="hello", status="failed",
        author_id=ws["maria"].id,
    )  # fmt: skip
    assert db.scalar("SELECT provider_message_id FROM messages WHERE id = ?", [mid]) is not None
    messaging.do_retry(db, ws["maria"], mid)
    assert db.scalar("SELECT provider_message_id FROM messages WHERE id = ?", [mid]) is None
    timeout = ProviderError("WhatsApp did not answer in time.", retryable=False, outcome_unknown=True)
    dispatcher(db, ScriptedProvider(timeout)).step()
    assert row(db, mid)["state"] == "unknown"
    event = StatusEvent("wamid.NEW", "delivered", clock.utcnow(), client_ref=str(mid))
    result = db.write(lambda tx: inbound.apply_statuses(tx, [event]))
    assert result.unknown_message_ids == []
    assert db.fetchone("SELECT status, provider_message_id FROM messages WHERE id = ?", [mid]) == (
        "delivered",
        "wamid.NEW",
    )


# ---- a lookup never takes another message's provider id --------------------------------------------


def _unknown_send(db, ws, body):
    """A send of ``body`` whose answer never came, found claimed at start: due for its first lookup."""
    mid = messaging.do_send(db, ws["maria"], ws["conv"], body)
    db.write(lambda tx: tx.execute("UPDATE outbox SET state = 'claimed', claimed_at = ? WHERE message_id = ?",
                                   [clock.utcnow(), mid]))  # fmt: skip
    return mid


def test_a_lookup_waits_while_another_send_to_the_same_person_is_under_way(db, ws):
    from core.providers.base import SentCandidate

    phone = db.scalar("SELECT phone FROM contacts WHERE id = ?", [ws["contact"]])
    lost = _unknown_send(db, ws, "Thanks!")  # the provider never created it
    provider = ScriptedProvider()
    d = dispatcher(db, provider)
    d.recover()
    # The agent writes the same words again; that send is under way (claimed, its answer not recorded)
    # when the lookup lists what the provider has: the second message, SM-SECOND.
    clock.freeze(row(db, lost)["due_at"] + dt.timedelta(seconds=1))
    second = messaging.do_send(db, ws["maria"], ws["conv"], "Thanks!")
    db.write(lambda tx: tx.execute("UPDATE outbox SET state = 'claimed', claimed_at = ? WHERE message_id = ?",
                                   [clock.utcnow(), second]))  # fmt: skip
    provider.lookup_sent = lambda msg, since: [SentCandidate("SM-SECOND", "sent", phone, "Thanks!", clock.utcnow())]
    d.step()
    r = row(db, lost)
    assert (r["status"], r["state"], r["provider_message_id"]) == ("interrupted", "unknown", None)
    # The second send's answer is recorded: SM-SECOND is its id. The lookups then find nothing else,
    # and the lost message is sent again, once.
    db.write(lambda tx: tx.execute("UPDATE outbox SET state = 'done' WHERE message_id = ?", [second]))
    db.write(lambda tx: tx.execute("UPDATE messages SET provider_message_id = 'SM-SECOND' WHERE id = ?", [second]))
    provider.script = [SendResult("SM-RESENT", "sent")]
    for _ in range(4):
        clock.freeze(row(db, lost)["due_at"] + dt.timedelta(seconds=1))
        d.step()
    r = row(db, lost)
    assert (r["status"], r["provider_message_id"]) == ("sent", "SM-RESENT")
    assert [m.message_id for m in provider.calls] == [lost]


def test_a_lookup_that_finds_the_message_failed_at_the_provider_says_why(db, ws):
    from core.providers.base import SentCandidate

    phone = db.scalar("SELECT phone FROM contacts WHERE id = ?", [ws["contact"]])
    mid = _unknown_send(db, ws, "hello")
    provider = ScriptedProvider()
    provider.lookup_sent = lambda msg, since: [
        SentCandidate("SMfailed", "undelivered", phone, "hello", clock.utcnow(), error_code="30003")
    ]
    d = dispatcher(db, provider)
    d.recover()
    clock.freeze(row(db, mid)["due_at"] + dt.timedelta(seconds=1))
    d.step()
    r = row(db, mid)
    assert (r["status"], r["provider_message_id"], r["error_code"], r["state"]) == (
        "undelivered",
        "SMfailed",
        "30003",
        "failed",
    )
    assert r["error_reason"] == "Unreachable handset (error 30003)"
    assert provider.calls == []


def test_a_lookup_answered_in_the_same_round_as_a_send_of_the_same_words_does_not_take_its_id(db, ws):
    from core.providers.base import SentCandidate

    class ListingProvider(ScriptedProvider):
        """Twilio-like: every send it accepts shows in its list; the list is read once the second send
        was created (the order the race needs, made certain)."""

        def __init__(self, *script):
            super().__init__(*script)
            self.created, self.second_sent = [], threading.Event()

        def send(self, msg):
            result = super().send(msg)
            self.created.append(SentCandidate(result.provider_message_id, "sending", msg.to_number, msg.body,
                                              clock.utcnow()))  # fmt: skip
            if len(self.calls) == 2:
                self.second_sent.set()
            return result

        def lookup_sent(self, msg, since):
            self.second_sent.wait(10)
            return list(self.created)

    timeout = ProviderError("Twilio did not answer in time.", retryable=False, outcome_unknown=True, code="timeout")
    provider = ListingProvider(timeout, SendResult("SM-SECOND", "sending"))
    d = dispatcher(db, provider)
    first = messaging.do_send(db, ws["maria"], ws["conv"], "Thanks!")
    d.step()  # no answer: Twilio never created it (it is not in its list)
    clock.freeze(row(db, first)["due_at"] + dt.timedelta(seconds=1))
    second = messaging.do_send(db, ws["maria"], ws["conv"], "Thanks!")
    d.step()  # one round: the lookup of the first and the send of the second
    ids = dict(db.fetchall("SELECT id, provider_message_id FROM messages WHERE id IN (?, ?)", [first, second]))
    assert ids == {first: None, second: "SM-SECOND"}


# ---- a clean stop ---------------------------------------------------------------------------------


class HangingProvider:
    """Calls hang until released; the provider cannot be asked what it has (as WhatsApp Cloud)."""

    def __init__(self):
        self.calls, self.release, self.lock = [], threading.Event(), threading.Lock()

    def send(self, msg):
        with self.lock:
            self.calls.append(msg.body)
        self.release.wait(30)
        return SendResult(f"wamid.{msg.message_id}", "sending")


def test_a_clean_stop_puts_back_the_claims_whose_call_never_began(db, ws):
    wa = f.add_sender(db, channel="whatsapp", provider="whatsapp_cloud", provider_ref="1065", rate=1000)
    contact = f.add_contact(db, name="Zoë")
    f.add_message(db, contact_id=contact, sender_id=wa, body="hi", direction="in")
    conv = f.add_conversation(db, contact_id=contact, sender_id=wa, owner_id=ws["maria"].id)
    db.write(lambda tx: tx.execute("UPDATE conversations SET last_inbound_at = ? WHERE id = ?", [clock.utcnow(), conv]))
    mids = [messaging.do_send(db, ws["maria"], conv, f"m{i}") for i in range(5)]
    hanging = HangingProvider()
    d = Dispatcher(db, lambda s: hanging, media_url=lambda t: None, status_callback_url=lambda p: None, threads=4)
    try:
        d.pump()  # all 5 claimed; a sender's cap is 3 calls at once: 2 wait in its lane
        deadline = time.monotonic() + 10
        while len(hanging.calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        d.close()  # Parley stops
    finally:
        hanging.release.set()
    states = dict(
        db.fetchall(
            "SELECT m.body, m.status || '/' || o.state || '/' || o.attempts FROM messages m "
            "JOIN outbox o ON o.message_id = m.id WHERE m.id IN (SELECT unnest(?::BIGINT[]))",
            [mids],
        )
    )
    under_way = sorted(hanging.calls)
    assert len(under_way) == 3
    # The 3 calls under way stay claimed (the next start looks them up); the 2 never sent are queued
    # again as they were, and no call begins after the stop.
    assert {states[b] for b in under_way} == {"sending/claimed/1"}
    assert {states[b] for b in set(states) - set(under_way)} == {"queued/pending/0"}
    time.sleep(0.2)
    assert len(hanging.calls) == 3


def test_a_clean_stop_records_the_outcomes_already_back(db, ws):
    mid = messaging.do_send(db, ws["maria"], ws["conv"], "hello")
    provider = ScriptedProvider(SendResult("SM1", "sent"))
    d = dispatcher(db, provider)
    d.pump()
    deadline = time.monotonic() + 10
    while d._finished.empty() and time.monotonic() < deadline:
        time.sleep(0.01)
    d.close()  # the answer came back; no round recorded it yet
    r = row(db, mid)
    assert (r["status"], r["provider_message_id"], r["state"]) == ("sent", "SM1", "done")


def test_a_status_callback_whose_echoed_id_is_not_ascii_digits_is_an_unknown_id_not_an_error(db, ws):
    from core.actions import inbound
    from core.providers.base import StatusEvent

    event = StatusEvent("SMx", "delivered", clock.utcnow(), client_ref="²")  # "²".isdigit() is True
    result = db.write(lambda tx: inbound.apply_statuses(tx, [event]))
    assert result.unknown_message_ids == ["SMx"]
