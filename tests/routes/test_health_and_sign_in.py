"""/healthz (bare for anyone, details for admins and a local token), /noop, and the sign-in cookie routes."""

from __future__ import annotations

import json
import threading

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from core import auth, sessions
from core.actions.users import do_create_user
from routes import ROUTES
from tests.routes.asgi import call, json_answer

HEALTH_TOKEN = "local-monitor-token"


@pytest.fixture
def test_config(test_config):
    test_config.health_token = HEALTH_TOKEN
    return test_config


def signed_in(rt, client, username="ada", role="admin") -> tuple[auth.User, str]:
    """Sign in as the form does (a session and a ticket), trade the ticket; returns (user, cookie)."""
    user = do_create_user(rt.db, rt_admin(rt), username, username.title(), role, "long-enough-pw")
    started = sessions.start(rt.db, user.id, rt.config.secret_key, source="test")
    response = client.post("/auth/session", content=auth.tickets.issue(auth.Ticket(started.cookie, "dev")))
    assert response.status_code == 204
    return user, response.cookies[sessions.COOKIE_NAME]


def rt_admin(rt):
    row = rt.db.fetchone("SELECT id FROM users WHERE role = 'admin' ORDER BY id LIMIT 1")
    return auth.get_user(rt.db, row[0]) if row else None


def notifications_status(client: TestClient, cookie: str | None) -> int:
    client.cookies.clear()
    if cookie is not None:
        client.cookies.set(sessions.COOKIE_NAME, cookie)
    with client.stream("GET", "/api/notifications") as response:
        return response.status_code


# ---- /healthz ----------------------------------------------------------------------------------


def test_healthz_tells_anyone_only_ok(server):
    _, client = server
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"ok": True})


def test_healthz_says_503_and_nothing_more_when_a_worker_is_down(server):
    rt, client = server
    rt.workers[0].stop()
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (503, {"ok": False})


def test_healthz_details_for_a_signed_in_admin(server, test_config):
    rt, client = server
    signed_in(rt, client)
    body = client.get("/healthz").json()
    assert body["ok"] is True
    assert body["database"] == {"ok": True, "schema": body["database"]["schema"], "path": str(test_config.db_path)}
    assert body["workers"]["dispatcher"]["alive"] is True
    assert body["workers"]["webhook-applier"]["alive"] is True


def test_healthz_answers_bare_when_the_cookies_session_cannot_be_checked(server, monkeypatch):
    rt, client = server
    signed_in(rt, client)  # an admin's cookie: details, while its session can be checked

    def broken(*args, **kwargs):
        raise RuntimeError("the sessions table cannot be read")

    monkeypatch.setattr(sessions, "from_cookie", broken)
    response = client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"ok": True})


def test_healthz_details_are_not_for_agents(server):
    rt, client = server
    signed_in(rt, client)  # the first account is the admin
    client.cookies.clear()
    signed_in(rt, client, "maria", "standard")
    assert client.get("/healthz").json() == {"ok": True}


@pytest.mark.parametrize(
    "host, token, details",
    [
        ("127.0.0.1", HEALTH_TOKEN, True),
        ("::1", HEALTH_TOKEN, True),
        ("::ffff:127.0.0.1", HEALTH_TOKEN, True),  # how a dual-stack server sees 127.0.0.1
        ("127.0.0.1", "not-the-token", False),
        ("203.0.113.9", HEALTH_TOKEN, False),  # the token is for a monitor on this machine
        ("127.0.0.1", None, False),
    ],
)
def test_healthz_local_token(server, host, token, details):
    with TestClient(Starlette(routes=ROUTES), client=(host, 40000)) as client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body = client.get("/healthz", headers=headers).json()
    assert ("workers" in body) is details
    assert body["ok"] is True


def test_without_a_configured_token_no_bearer_is_accepted(server):
    rt, _ = server
    rt.config.health_token = None
    with TestClient(Starlette(routes=ROUTES), client=("127.0.0.1", 40000)) as client:
        assert client.get("/healthz", headers={"Authorization": "Bearer "}).json() == {"ok": True}


# ---- bench-only routes -------------------------------------------------------------------------------


def test_noop_is_not_served_unless_a_bench_turns_it_on(server):
    rt, client = server
    assert client.post("/noop", content=b"x").status_code == 404
    rt.config.bench_routes = True
    response = client.post("/noop", content=b"x")
    assert (response.status_code, response.text) == (200, "ok")


# ---- the sign-in cookie ------------------------------------------------------------------------------


def test_ticket_is_traded_for_httponly_session_and_device_cookies_once(server):
    rt, client = server
    user = do_create_user(rt.db, None, "ada", "Ada", "admin", "long-enough-pw")
    started = sessions.start(rt.db, user.id, rt.config.secret_key)
    ticket = auth.tickets.issue(auth.Ticket(started.cookie, started.device_token))
    response = client.post("/auth/session", content=ticket)
    assert response.status_code == 204
    headers = response.headers.get_list("set-cookie")
    assert len(headers) == 2
    for header, name, age in zip(
        headers,
        (sessions.COOKIE_NAME, sessions.DEVICE_COOKIE_NAME),
        (sessions.COOKIE_MAX_AGE, sessions.DEVICE_COOKIE_MAX_AGE),
    ):
        assert header.startswith(f"{name}=")
        assert f"Max-Age={age}" in header and "HttpOnly" in header and "SameSite=lax" in header
    assert response.cookies[sessions.COOKIE_NAME] == started.cookie
    assert response.cookies[sessions.DEVICE_COOKIE_NAME] == started.device_token
    again = client.post("/auth/session", content=ticket)
    assert again.status_code == 400
    assert again.json() == {"error": "This sign-in link has expired; sign in again."}


def test_forged_ticket_sets_no_cookie(server):
    _, client = server
    response = client.post("/auth/session", content="made-up")
    assert response.status_code == 400 and "set-cookie" not in response.headers


EXPIRED = (400, {"error": "This sign-in link has expired; sign in again."})


def test_the_ticket_route_reads_no_more_than_a_ticket_from_anyone(server):
    app = Starlette(routes=ROUTES)
    flood = [b"x" * 65536] * 200  # 12.8 MB from an anonymous caller
    streamed = call(app, "POST", "/auth/session", body=flood)  # no length declared: dropped at the first piece
    assert (json_answer(streamed), streamed.pulled) == (EXPIRED, 1)
    declared = call(app, "POST", "/auth/session", [(b"content-length", b"13107200")], body=flood)
    assert (json_answer(declared), declared.pulled) == (EXPIRED, 0)  # answered before reading any of it


def test_a_ticket_that_arrives_in_pieces_is_still_traded(server):
    rt, _client = server
    user = do_create_user(rt.db, None, "ada", "Ada", "admin", "long-enough-pw")
    started = sessions.start(rt.db, user.id, rt.config.secret_key)
    ticket = auth.tickets.issue(auth.Ticket(started.cookie, started.device_token)).encode()
    assert len(ticket) == 43
    answer = call(Starlette(routes=ROUTES), "POST", "/auth/session", body=[ticket[:20], ticket[20:]])
    assert (answer.status, answer.body, answer.pulled) == (204, b"", 2)


def test_logout_ends_the_session_and_clears_the_cookie(server):
    rt, client = server
    user, cookie = signed_in(rt, client)
    response = client.post("/auth/logout")
    assert response.status_code == 204
    header = response.headers["set-cookie"]
    assert header.startswith(f'{sessions.COOKIE_NAME}=""; ') and "Max-Age=0" in header
    assert sessions.from_cookie(rt.db, cookie, rt.config.secret_key) is None
    assert rt.db.scalar("SELECT ended_reason FROM sessions WHERE user_id = ?", [user.id]) == "signed_out"


def test_notifications_need_a_live_session(server):
    rt, client = server
    _, cookie = signed_in(rt, client)
    assert notifications_status(client, cookie) == 200
    assert notifications_status(client, "1.123.forged") == 401
    assert notifications_status(client, None) == 401


def test_an_old_cookie_stops_working_after_sign_out(server):
    rt, client = server
    _, cookie = signed_in(rt, client)
    assert notifications_status(client, cookie) == 200
    client.cookies.set(sessions.COOKIE_NAME, cookie)
    assert client.post("/auth/logout").status_code == 204
    assert notifications_status(client, cookie) == 401
    assert client.get("/healthz").json() == {"ok": True}, "no admin details for the ended session"


def test_a_copied_cookie_dies_with_the_sign_out(server):
    rt, client = server
    _, cookie = signed_in(rt, client)
    with TestClient(Starlette(routes=ROUTES)) as thief:
        assert notifications_status(thief, cookie) == 200
        client.cookies.set(sessions.COOKIE_NAME, cookie)
        assert client.post("/auth/logout").status_code == 204  # the owner signs out
        assert notifications_status(thief, cookie) == 401


def test_an_open_notification_stream_ends_with_its_session(server):
    rt, client = server
    user, cookie = signed_in(rt, client)
    client.cookies.set(sessions.COOKIE_NAME, cookie)
    opened, ended = threading.Event(), threading.Event()
    statuses = []

    def read_stream():
        with client.stream("GET", "/api/notifications") as response:
            statuses.append(response.status_code)
            for line in response.iter_lines():
                if line.startswith("data:"):
                    opened.set()  # the first unread count arrived: the stream is open
        ended.set()

    threading.Thread(target=read_stream, daemon=True).start()
    assert opened.wait(timeout=15) and statuses == [200]
    assert not ended.is_set()
    sessions.end(rt.db, rt.db.scalar("SELECT id FROM sessions WHERE user_id = ?", [user.id]))
    assert ended.wait(timeout=15), "the stream stops at its next check (every 2 s)"


def test_the_notification_stream_says_at_which_version_it_counted(server):
    # The page keeps the newest count, the stream's or a fragment run's (pages/notify.py), by this
    # version: a new admin has 0 unread and no notices; one event named them so far (the account
    # made), so their notifications are at version 1.
    rt, client = server
    _, cookie = signed_in(rt, client)
    client.cookies.set(sessions.COOKIE_NAME, cookie)
    with client.stream("GET", "/api/notifications") as response:
        first = next(line for line in response.iter_lines() if line.startswith("data:"))
    assert json.loads(first.removeprefix("data:")) == {"unread": 0, "version": 1, "notices": []}
