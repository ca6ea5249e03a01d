"""/api/conversations/<id>/version: what an open Conversation page asks every two seconds."""

from __future__ import annotations

from core import sessions
from tests import factories as f
from tests.routes.test_health_and_sign_in import signed_in


def ask(client, cookie, conversation) -> tuple[int, dict]:
    client.cookies.clear()
    if cookie is not None:
        client.cookies.set(sessions.COOKIE_NAME, cookie)
    response = client.get(f"/api/conversations/{conversation}/version")
    return response.status_code, response.json()


def set_version(rt, conv: int, version: int) -> None:
    rt.db.write(lambda tx: tx.execute("UPDATE conversations SET version = ? WHERE id = ?", [version, conv]))


def a_conversation_of(rt, owner_id: int, version: int) -> int:
    sender = f.add_sender(rt.db)
    conv = f.add_conversation(rt.db, contact_id=f.add_contact(rt.db), sender_id=sender, owner_id=owner_id)
    set_version(rt, conv, version)
    return conv


def test_the_owner_gets_the_version_and_the_servers_clock(server):
    rt, client = server
    signed_in(rt, client, "boss", role="admin")
    ana, cookie = signed_in(rt, client, "ana", role="standard")
    conv = a_conversation_of(rt, ana.id, 41)
    status, body = ask(client, cookie, conv)
    assert status == 200 and body["version"] == 41
    assert isinstance(body["now"], int) and body["now"] > 1_700_000_000_000  # milliseconds since 1970

    set_version(rt, conv, 42)
    assert ask(client, cookie, conv)[1]["version"] == 42


def test_it_answers_only_who_may_open_the_conversation(server):
    rt, client = server
    _admin, admin_cookie = signed_in(rt, client, "boss", role="admin")
    ana, _ = signed_in(rt, client, "ana", role="standard")
    _ben, ben_cookie = signed_in(rt, client, "ben", role="standard")
    conv = a_conversation_of(rt, ana.id, 7)

    assert ask(client, ben_cookie, conv) == (
        403,
        {
            "error": f"Conversation {conv} is assigned to someone else; "
            "you can open only the conversations in your inbox."
        },
    )
    assert ask(client, admin_cookie, conv)[0] == 200
    assert ask(client, None, conv) == (401, {"error": "Sign in first."})
    assert ask(client, "1.123.forged", conv) == (401, {"error": "Sign in first."})
    assert ask(client, admin_cookie, 999_999) == (404, {"error": "There is no conversation 999999."})
    assert ask(client, admin_cookie, "abc") == (404, {"error": "“abc” is not a conversation number."})
