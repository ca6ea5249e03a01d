"""/healthz and the sign-in cookie routes."""

from __future__ import annotations

from core import auth
from core.actions.users import do_create_user


def test_healthz_reports_database_and_workers(server):
    rt, client = server
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["database"]["schema"] >= 3
    assert body["workers"]["dispatcher"]["alive"] and body["workers"]["webhook-applier"]["alive"]


def test_healthz_says_503_when_a_worker_is_down(server):
    rt, client = server
    rt.workers[0].stop()
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["ok"] is False


def test_ticket_is_traded_for_an_httponly_signed_cookie_once(server):
    rt, client = server
    user = do_create_user(rt.db, None, "ada", "Ada", "admin", "long-enough-pw")
    ticket = auth.tickets.issue(user.id)
    response = client.post("/auth/session", content=ticket)
    assert response.status_code == 204
    header = response.headers["set-cookie"]
    assert auth.COOKIE_NAME in header and "HttpOnly" in header and "SameSite=lax" in header
    value = response.cookies[auth.COOKIE_NAME]
    assert auth.user_from_cookie(rt.db, value, rt.config.secret_key).id == user.id
    again = client.post("/auth/session", content=ticket)
    assert again.status_code == 400 and "expired" in again.json()["error"]


def test_forged_ticket_sets_no_cookie(server):
    _, client = server
    response = client.post("/auth/session", content="made-up")
    assert response.status_code == 400 and "set-cookie" not in response.headers


def test_logout_clears_the_cookie(server):
    _, client = server
    response = client.post("/auth/logout")
    assert response.status_code == 204
    assert f'{auth.COOKIE_NAME}=""' in response.headers["set-cookie"] or "Max-Age=0" in response.headers["set-cookie"]


def test_notifications_need_a_valid_cookie(server):
    _, client = server
    client.cookies.set(auth.COOKIE_NAME, "1.123.forged")
    assert client.get("/api/notifications").status_code == 401
