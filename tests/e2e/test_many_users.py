"""Issue 17, many users at once (the test-sized run; ``bench/bench_many_users.py`` is the long one).

One Parley (``streamlit run app.py``) serves 25 agents' sessions driven over Streamlit's own
websocket protocol (``bench/many_users.py``: My Inbox, a conversation, a reply through the
composer's text area and Send button), while signed Twilio webhooks arrive at 200 a second and
the dispatcher sends the replies to a loopback Twilio. Nothing may fail and nothing may be
lost: every page run finishes without an exception, every acknowledged webhook is a message
exactly once, every reply is recorded once and reaches Twilio once.

Figures are not asserted here (the machine is shared); the bench reports them.
"""

from __future__ import annotations

import time

import pytest

from bench import many_users as mu
from core.db import Database
from tests.fakes.twilio_server import FakeTwilio

SESSIONS = 25
SECONDS = 30
SETTLE = 180  # seconds for the applier and dispatcher to finish on a loaded 2-core machine


@pytest.fixture
def twilio():
    with FakeTwilio() as fake:
        yield fake


def test_twenty_five_agents_and_a_webhook_burst_lose_nothing(tmp_path, twilio):
    ws = mu.prepare(tmp_path, agents=SESSIONS, conversations_each=6, twilio_token=twilio.auth_token)
    server = mu.Server(tmp_path, ws.db_path, twilio)
    server.start()
    results = mu.Results()
    try:
        hooks = mu.run_sessions(
            server.base, ws, SESSIONS, SECONDS, results, reply_every=1,
            twilio_token=twilio.auth_token, webhook_rate=200,
        )  # fmt: skip
        assert results.errors == []
        # A webhook that got no answer in 30 s (a busy machine) is sent again, as Twilio would;
        # none may have been refused outright.
        first_failures = mu.resend_failed(server.base, twilio.auth_token, hooks, time.monotonic() + SETTLE)
        assert hooks.failed == []
        assert [why for why in first_failures if not why.startswith(("TimeoutError", "HTTP 503"))] == []
        assert len(results.inbox) >= SESSIONS and len(results.conversation) >= SESSIONS
        assert len(results.replies) >= SESSIONS  # each session replied at least once
        assert len(hooks.acked) >= 200
        replies = {text for _, text in results.replies}
        deadline = time.monotonic() + SETTLE
        while time.monotonic() < deadline:
            sent = [dict(r.form).get("Body") for r in twilio.sends]
            if replies <= set(sent):
                break
            time.sleep(0.5)
    finally:
        server.stop()
    db = Database(ws.db_path)
    try:
        # Every acknowledged webhook is one message, once.
        got = dict(db.fetchall("SELECT provider_message_id, count(*) FROM messages WHERE provider_message_id LIKE "
                               "'SMmany%' GROUP BY 1"))  # fmt: skip
        assert set(got) == set(hooks.acked) and set(got.values()) == {1}
        # Every reply is recorded once, in its conversation, and went to Twilio once.
        recorded = db.fetchall(
            "SELECT conversation_id, body FROM messages WHERE direction = 'out' AND body IN (SELECT unnest(?))",
            [sorted(replies)],
        )
        assert sorted(recorded) == sorted(results.replies)
        sent = [dict(r.form).get("Body") for r in twilio.sends]
        assert sorted(b for b in sent if b in replies) == sorted(replies)
    finally:
        db.close()
