"""/api/notifications/version: what every open tab's notifications watcher asks every two seconds."""

from __future__ import annotations

from core import events, sessions
from tests.routes.test_health_and_sign_in import signed_in


def ask(client, cookie, user_id) -> tuple[int, dict]:
    client.cookies.clear()
    if cookie is not None:
        client.cookies.set(sessions.COOKIE_NAME, cookie)
    response = client.get(f"/api/notifications/version?user={user_id}")
    return response.status_code, response.json()


def publish(rt, name: str, **payload) -> None:
    rt.db.write(lambda tx: tx.publish(name, **payload))


def test_the_version_moves_with_the_users_own_news_only(server):
    rt, client = server
    signed_in(rt, client, "boss", role="admin")
    ana, cookie = signed_in(rt, client, "ana", role="standard")
    ben, _ = signed_in(rt, client, "ben", role="standard")
    status, first = ask(client, cookie, ana.id)
    assert status == 200 and isinstance(first["now"], int) and first["now"] > 1_700_000_000_000

    # A new contact writing in, a contact renamed, another agent's message: nothing ana's title or
    # toasts show, so her tabs stay still during such a burst.
    publish(rt, events.CONTACT_CREATED, contact_id=900)
    publish(rt, events.CONTACT_UPDATED, contact_id=900, actor_id=ben.id)
    publish(rt, events.MESSAGE_RECEIVED, conversation_id=77, owner_id=ben.id, user_id=ben.id, contact_name="Omar")
    assert ask(client, cookie, ana.id)[1]["version"] == first["version"]

    publish(rt, events.MESSAGE_RECEIVED, conversation_id=78, owner_id=ana.id, user_id=ana.id, contact_name="Zoë")
    assert ask(client, cookie, ana.id)[1]["version"] > first["version"]


def test_a_tab_hears_when_its_session_is_over(server):
    rt, client = server
    signed_in(rt, client, "boss", role="admin")
    ana, cookie = signed_in(rt, client, "ana", role="standard")
    ben, _ = signed_in(rt, client, "ben", role="standard")
    # No cookie yet (a tab just signed in): it asks again, nothing to rerun for.
    assert ask(client, None, ana.id) == (401, {"error": "Sign in first."})
    # This browser signed in again as someone else: the tab reruns and finds out.
    assert ask(client, cookie, ben.id) == (403, {"error": "This browser is signed in as someone else now."})
    assert ask(client, "1.123.forged", ana.id) == (403, {"error": "Your session has ended; sign in again."})
    assert ask(client, cookie, ana.id)[0] == 200
    sessions.end_cookie(rt.db, cookie, rt.config.secret_key)
    assert ask(client, cookie, ana.id) == (403, {"error": "Your session has ended; sign in again."})
