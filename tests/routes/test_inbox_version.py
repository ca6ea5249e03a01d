"""/api/inbox/version: what an open My Inbox, Team Inbox or Sent Messages asks every two seconds."""

from __future__ import annotations

from core import sessions
from tests.routes.test_health_and_sign_in import signed_in


def ask(client, cookie, owner) -> tuple[int, dict]:
    client.cookies.clear()
    if cookie is not None:
        client.cookies.set(sessions.COOKIE_NAME, cookie)
    response = client.get("/api/inbox/version", params={} if owner is None else {"owner": owner})
    return response.status_code, response.json()


def set_inbox_version(rt, user_id: int, version: int) -> None:
    rt.db.write(lambda tx: tx.execute("UPDATE users SET inbox_version = ? WHERE id = ?", [version, user_id]))


def everyone_at(rt, version: int) -> None:
    rt.db.write(lambda tx: tx.execute("UPDATE users SET inbox_version = ?", [version]))


def test_an_agent_gets_their_own_inbox_version_and_the_servers_clock(server):
    rt, client = server
    signed_in(rt, client, "boss", role="admin")
    ana, cookie = signed_in(rt, client, "ana", role="standard")
    set_inbox_version(rt, ana.id, 41)
    status, body = ask(client, cookie, ana.id)
    assert status == 200 and body["version"] == 41
    assert isinstance(body["now"], int) and body["now"] > 1_700_000_000_000  # milliseconds since 1970

    set_inbox_version(rt, ana.id, 42)
    assert ask(client, cookie, str(ana.id))[1]["version"] == 42


def test_an_agent_may_not_watch_anyone_elses_inbox_nor_the_team(server):
    rt, client = server
    signed_in(rt, client, "boss", role="admin")
    ana, ana_cookie = signed_in(rt, client, "ana", role="standard")
    ben, _ = signed_in(rt, client, "ben", role="standard")
    refused = {"error": "Only admins and supervisors can see the Team Inbox."}
    assert ask(client, ana_cookie, ben.id) == (403, refused)
    assert ask(client, ana_cookie, "team") == (403, refused)
    assert ask(client, ana_cookie, 999_999) == (403, refused)  # no telling an agent who exists


def test_admins_and_supervisors_watch_any_agent_and_the_whole_team(server):
    rt, client = server
    _boss, boss_cookie = signed_in(rt, client, "boss", role="admin")
    _sue, sue_cookie = signed_in(rt, client, "sue", role="supervisor")
    ana, _ = signed_in(rt, client, "ana", role="standard")
    everyone_at(rt, 3)
    set_inbox_version(rt, ana.id, 10)
    users = rt.db.scalar("SELECT count(*) FROM users")
    team = 3 * (users - 1) + 10

    assert ask(client, boss_cookie, ana.id)[:1] == (200,) and ask(client, boss_cookie, ana.id)[1]["version"] == 10
    assert ask(client, sue_cookie, ana.id)[1]["version"] == 10
    assert ask(client, sue_cookie, "team")[1]["version"] == team
    set_inbox_version(rt, ana.id, 11)
    assert ask(client, boss_cookie, "team")[1]["version"] == team + 1


def test_who_is_not_signed_in_or_asks_for_no_inbox(server):
    rt, client = server
    _boss, boss_cookie = signed_in(rt, client, "boss", role="admin")
    assert ask(client, None, "team") == (401, {"error": "Sign in first."})
    assert ask(client, "1.123.forged", "team") == (401, {"error": "Sign in first."})
    assert ask(client, boss_cookie, 999_999) == (404, {"error": "There is no inbox of user 999999."})
    assert ask(client, boss_cookie, "abc") == (
        404,
        {"error": "“abc” is not an inbox: ask for a user's number or “team”."},
    )
    assert ask(client, boss_cookie, None) == (
        404,
        {"error": "“” is not an inbox: ask for a user's number or “team”."},
    )
