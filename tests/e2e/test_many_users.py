"""Issue 17, many users at once: the test-suite-sized run (``bench/bench_many_users.py`` is the long one).

One Parley (``streamlit run app.py``) on a generated workspace (3,000 conversations of the
benchmark generator: distinct texts, long-tailed threads, 25 agents) serves 25 agents' sessions
driven over Streamlit's own websocket protocol (``bench/many_users.py``: My Inbox, one of the
agent's conversations, a reply typed into the composer and sent with its Send button), while
signed Twilio webhooks arrive at 200 a second for 30 s (a third from the agents' customers, the
rest from new numbers) and the dispatcher sends the replies to a loopback Twilio.

Nothing may fail and nothing may be lost: every page run finishes without an exception, no
webhook is refused, every webhook that got a 2xx is exactly one message, and every reply is
recorded once in its conversation and reaches Twilio once. A webhook that got no answer or a
5xx (a loaded machine) is sent again, as Twilio does.

The p95s are printed, not asserted: the machine running the suite is shared.
"""

from __future__ import annotations

import time

import pytest

from bench import many_users as mu
from bench.common import load_average
from bench.many_users_webhooks import resend_failed
from bench.many_users_workspace import generate
from tests.fakes.twilio_server import FakeTwilio

SESSIONS = 25
SECONDS = 30
WEBHOOKS_PER_SECOND = 200
CONVERSATIONS = 3_000
SETTLE = 300  # seconds for the applier and the dispatcher to finish on a loaded 2-core machine


@pytest.fixture
def twilio():
    with FakeTwilio() as fake:
        yield fake


def test_twenty_five_agents_and_200_webhooks_a_second_lose_nothing(tmp_path, twilio):
    started = time.monotonic()
    ws = generate(tmp_path, agents=SESSIONS, conversations=CONVERSATIONS, per_agent=10)
    assert len(ws.agents) == SESSIONS and all(convs for _, _, convs in ws.agents)
    server = mu.Server(tmp_path, ws.db_path, twilio)
    server.start()
    results = mu.Results()
    try:
        load_started = time.monotonic()
        hooks = mu.run_sessions(
            server.base, ws, SESSIONS, SECONDS, results, reply_every=1,
            twilio_token=twilio.auth_token, webhook_rate=WEBHOOKS_PER_SECOND,
        )  # fmt: skip
        load_seconds = time.monotonic() - load_started
        first_failures = resend_failed(server.base, twilio.auth_token, hooks, time.monotonic() + SETTLE)
        replies = {text for _, text in results.replies}
        all_sent = mu.wait_sent(twilio, replies, time.monotonic() + SETTLE)
        # Acknowledged means stored: the applier makes each stored webhook a message in the background.
        all_applied = server.wait_applied(0, time.monotonic() + SETTLE)
    finally:
        server.stop()

    print(
        f"\n{SESSIONS} sessions + {WEBHOOKS_PER_SECOND} webhooks/s for {load_seconds:.0f} s "
        f"(load average {load_average():.1f}):\n"
        f"  My Inbox      p95 {mu.percentile(results.inbox, 95):8.0f} ms (n={len(results.inbox)}), "
        f"first visit {mu.percentile(results.first_inbox, 95):8.0f} ms\n"
        f"  Conversation  p95 {mu.percentile(results.conversation, 95):8.0f} ms (n={len(results.conversation)}), "
        f"first visit {mu.percentile(results.first_conversation, 95):8.0f} ms\n"
        f"  Reply         p95 {mu.percentile(results.reply, 95):8.0f} ms (n={len(results.reply)})\n"
        f"  webhooks acknowledged {len(hooks.acked):,}, sent again {len(first_failures):,}; "
        f"test {time.monotonic() - started:.0f} s"
    )
    assert results.errors == []
    assert hooks.refused == []
    assert hooks.failed == []  # every webhook sent again got its 2xx in the end
    assert len(hooks.acked) == 6_000  # 200 a second for 30 s, each acknowledged (late ones too)
    assert all_applied, "the applier did not apply every stored webhook"
    assert all_sent, "the dispatcher did not send every reply"
    # Every session read its inbox and a conversation, and replied, at least once.
    assert len(results.first_inbox) == SESSIONS and len(results.first_conversation) == SESSIONS
    assert len({cid for cid, _ in results.replies}) >= SESSIONS // 2 and len(results.replies) >= SESSIONS

    # Every acknowledged webhook is one message, exactly once; nothing else came from these webhooks.
    stored = mu.webhook_messages(ws.db_path)
    assert set(stored) == set(hooks.acked)
    assert set(stored.values()) == {1}
    # Every reply is recorded once, in its conversation, and reached Twilio once.
    assert mu.reply_problems(ws.db_path, results.replies, twilio) == []
