"""A fragment's run of its own checks the session as a whole run does (pages/session.fragment_user).

A click inside the inbox list or a thread, and their live watchers, rerun only that fragment:
ui.py, which checks the session on a whole run, does not run. A tab whose session ended (the
account disabled, signed out everywhere) used to keep reading new conversations and messages
that way.
"""

from __future__ import annotations

from core import sessions
from core.actions import sessions as session_actions
from core.actions.users import do_set_active
from pages.session import PAGES_KEY, SESSION_KEY
from tests import factories as f
from tests.pages import lists
from tests.pages.fragments import fragment_drawing, run_fragment
from tests.pages.lists import workspace  # noqa: F401


def has_sign_in_form(at) -> bool:
    return [t.label for t in at.text_input] == ["Username", "Password"] and [b.label for b in at.button] == ["Sign in"]


def inbox(ws):
    """Ana (agent) with Carla's conversation, her My Inbox open; the list's fragment id."""
    db = ws.db
    admin = ws.user("boss", role="admin")
    ana = ws.user("ana", display_name="Ana Ruiz")
    sms = f.add_sender(db, channel="sms", phone="+14155550100", label="Front desk")
    f.add_conversation(
        db, contact_id=f.add_contact(db, name="Carla", phone="+14155551001"), sender_id=sms, owner_id=ana.id
    )
    at = ws.app("ana", "pages/my_inbox.py")
    assert [r["title"] for r in lists.rows(at, "mine")] == ["Carla"]
    fid = fragment_drawing(at, lambda run: lists.rows_element(run, "mine") is not None)
    return at.run(), fid, admin, ana, sms


def new_conversation_for(ws, ana, sms, name: str) -> None:
    """A customer writes in and the conversation reaches Ana's inbox (its version moves)."""
    f.add_conversation(
        ws.db, contact_id=f.add_contact(ws.db, name=name, phone="+14155551009"), sender_id=sms, owner_id=ana.id
    )
    ws.db.write(lambda tx: tx.execute("UPDATE users SET inbox_version = inbox_version + 1 WHERE id = ?", [ana.id]))


def test_a_live_session_gets_the_new_rows_with_one_session_check(workspace, monkeypatch):  # noqa: F811
    at, fid, _admin, ana, sms = inbox(workspace)
    new_conversation_for(workspace, ana, sms, "Zed")
    checked = []
    real = sessions.check
    monkeypatch.setattr(sessions, "check", lambda db, sid, **kw: checked.append((sid, kw)) or real(db, sid, **kw))
    at = run_fragment(at, fid)
    assert [r["title"] for r in lists.rows(at, "mine")] == ["Zed", "Carla"]
    assert checked == [(at.session_state[SESSION_KEY], {"touch": False})]
    assert not has_sign_in_form(at)


def test_a_click_in_a_disabled_agents_inbox_list_shows_the_sign_in_form(workspace):  # noqa: F811
    at, fid, admin, ana, sms = inbox(workspace)
    session_id = at.session_state[SESSION_KEY]
    do_set_active(workspace.db, admin, ana.id, False)  # fired: every session ends at once
    assert sessions.check(workspace.db, session_id) is None
    new_conversation_for(workspace, ana, sms, "Zed Secret")
    at = run_fragment(at, fid)  # she clicks "All" or the pager in the list
    assert lists.rows_element(at, "mine") is None
    assert has_sign_in_form(at)
    assert SESSION_KEY not in at.session_state
    assert not at.exception


def bodies(at) -> list[str]:
    """The message texts the thread shows (``st.text``)."""
    return [str(t.value) for t in at.text]


def test_a_signed_out_tab_with_a_conversation_open_reads_no_new_message(workspace):  # noqa: F811
    ws = workspace
    ana = ws.user("ana", display_name="Ana Ruiz")
    sms = f.add_sender(ws.db, channel="sms", phone="+14155550100", label="Front desk")
    contact = f.add_contact(ws.db, name="Carla", phone="+14155551001")
    cid = f.add_conversation(ws.db, contact_id=contact, sender_id=sms, owner_id=ana.id, inbound_body="Hello")
    at = ws.app("ana", "pages/conversation.py", {"id": cid})
    assert "Hello" in bodies(at)
    fid = fragment_drawing(at, lambda run: "Hello" in bodies(run))
    at = at.run()
    # Signed out everywhere (from her phone: this tab's session ends with the others).
    session_actions.do_end_all_sessions(ws.db, ana, ana.id)
    f.add_message(
        ws.db, contact_id=contact, sender_id=sms, conversation_id=cid, direction="in", body="The code is 4711"
    )
    ws.db.write(lambda tx: tx.execute("UPDATE conversations SET version = version + 1 WHERE id = ?", [cid]))
    at = run_fragment(at, fid)  # the live watcher saw the version move, or she clicked "load older"
    assert "The code is 4711" not in bodies(at)
    assert has_sign_in_form(at)
    assert not at.exception


def test_an_admin_demoted_while_team_inbox_is_open_gets_the_agents_pages_at_the_next_click(workspace):  # noqa: F811
    ws = workspace
    ws.user("boss", role="admin")
    bob = ws.user("bob", role="admin", display_name="Bob Admin")
    ana = ws.user("ana", display_name="Ana Ruiz")
    sms = f.add_sender(ws.db, channel="sms", phone="+14155550100", label="Front desk")
    f.add_conversation(
        ws.db, contact_id=f.add_contact(ws.db, name="Carla", phone="+14155551001"), sender_id=sms, owner_id=ana.id
    )
    at = ws.app("bob", "pages/team_inbox.py")
    assert [r["title"] for r in lists.rows(at, "team")] == ["Carla"]
    fid = fragment_drawing(at, lambda run: lists.rows_element(run, "team") is not None)
    at = at.run()
    ws.db.write(lambda tx: tx.execute("UPDATE users SET role = 'standard' WHERE id = ?", [bob.id]))
    at = run_fragment(at, fid)  # he clicks the pager: the whole app runs, as an agent's
    assert lists.rows_element(at, "team") is None
    assert [page.title for key, page in at.session_state[PAGES_KEY].items() if key != "conversation"] == [
        "My Inbox",
        "Sent Messages",
        "Contacts",
        "Campaigns",
    ]
    assert [str(h.value) for h in at.header] == ["My Inbox :gray-badge[all read]"]
    assert not at.error and not at.exception
