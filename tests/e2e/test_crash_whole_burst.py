"""Issue 17, faults: Parley killed (SIGKILL) in the middle of a webhook burst, then the provider
sends the *whole* burst again — the webhooks it got a 2xx for as well as the ones it did not (a
provider that lost track, or replays after an incident).

On a real server (``streamlit run app.py``): every webhook that got a 2xx before the kill is in
the database after the restart; after the replay every webhook of the burst is a message exactly
once; and every raw payload that was stored is applied (none left pending or kept as an error).
"""

from __future__ import annotations

import http.client
import signal
import threading
import time

import pytest

from bench import many_users as mu
from bench.many_users_webhooks import Webhooks, post_one, resend_failed
from bench.many_users_workspace import prepare
from core.db import Database
from tests.fakes.twilio_server import FakeTwilio

BURST = 400
SETTLE = 180  # seconds for the applier to drain on a loaded 2-core machine


@pytest.fixture
def twilio():
    with FakeTwilio() as fake:
        yield fake


def burst(sender_phone: str) -> list[tuple[str, list]]:
    return [
        (
            f"SMburst{i:05d}",
            [
                ("MessageSid", f"SMburst{i:05d}"),
                ("AccountSid", "AC1"),
                ("From", f"+1646555{i % 50:04d}"),
                ("To", sender_phone),
                ("Body", f"Burst message {i}: can I move my appointment to {9 + i % 8}:00?"),
                ("NumMedia", "0"),
            ],
        )  # fmt: skip
        for i in range(BURST)
    ]


def post(server: mu.Server, token: str, items, hooks: Webhooks, stop: threading.Event, clients: int = 6) -> None:
    queue = list(items)
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        while not stop.is_set():
            with lock:
                if not queue:
                    return
                sid, params = queue.pop(0)
            conn = post_one(conn, "127.0.0.1", server.port, server.base, token, sid, params, hooks)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def applied(db_path) -> tuple[dict[str, int], dict[str, int]]:
    db = Database(db_path)
    try:
        messages = dict(db.fetchall("SELECT provider_message_id, count(*) FROM messages WHERE provider_message_id "
                                    "LIKE 'SMburst%' GROUP BY 1"))  # fmt: skip
        states = dict(db.fetchall("SELECT state, count(*) FROM webhook_inbox GROUP BY 1"))
        return messages, states
    finally:
        db.close()


def test_a_kill_mid_burst_then_the_whole_burst_again_gives_each_message_once(tmp_path, twilio):
    ws = prepare(tmp_path, agents=1, conversations_each=1, twilio_token=twilio.auth_token)
    items = burst(ws.sender_phone)
    server = mu.Server(tmp_path, ws.db_path, twilio)
    server.start()
    before_kill = Webhooks()
    stop = threading.Event()
    poster = threading.Thread(target=post, args=(server, twilio.auth_token, items, before_kill, stop))
    poster.start()
    deadline = time.monotonic() + SETTLE
    while len(before_kill.acked) < BURST // 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(30)
    stop.set()
    poster.join()
    acked_before_kill = set(before_kill.acked)
    assert 0 < len(acked_before_kill) < BURST, "the kill did not land mid-burst"

    # Everything acknowledged is stored: nothing that got a 2xx was lost with the process.
    db = Database(ws.db_path)
    try:
        stored = {r[0] for r in db.fetchall("SELECT body FROM webhook_inbox")}
    finally:
        db.close()
    from urllib.parse import urlencode

    by_sid = dict(items)
    assert {sid for sid in acked_before_kill if urlencode(by_sid[sid]).encode() in stored} == acked_before_kill

    db = Database(ws.db_path)
    try:
        backlog = db.scalar("SELECT count(*) FROM webhook_inbox WHERE state = 'pending'")
    finally:
        db.close()
    server.start()
    try:
        replay = Webhooks()
        post(server, twilio.auth_token, items, replay, threading.Event())  # the whole burst, again
        resend_failed(server.base, twilio.auth_token, replay, time.monotonic() + SETTLE)
        assert set(replay.acked) == {sid for sid, _ in items}
        assert server.wait_applied(backlog, time.monotonic() + SETTLE)
    finally:
        server.stop()
    messages, states = applied(ws.db_path)
    assert set(messages) == {sid for sid, _ in items}
    assert set(messages.values()) == {1}
    assert set(states) == {"applied"}
