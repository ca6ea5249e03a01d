"""Users and teams (admins): add a user, disable one with the hand-over, re-enable, roles, teams."""

from __future__ import annotations

import pytest

from tests.pages.admin_page import errors, toasts

PAGE = "pages/admin_users.py"
pytestmark = pytest.mark.usefixtures("navigation_only")


def uid(db, username):
    return db.scalar("SELECT id FROM users WHERE username = ?", [username])


def test_the_list_shows_everyone(app_as):
    at = app_as("admin", PAGE)
    assert not errors(at)
    table = at.dataframe[0].value
    assert list(table["Username"]) == ["aiko", "admin", "james", "maria", "sam"]
    assert list(table["Role"]) == ["Agent", "Admin", "Agent", "Agent", "Supervisor"]


def test_add_a_user(app_as, demo_db):
    at = app_as("admin", PAGE)
    # A form: the values go with its submit button, in one run.
    at.text_input(key="users.new_username").input("Lena")
    at.text_input(key="users.new_name").input("Lena Park")
    at.text_input(key="users.new_password").input("long-enough-pw")
    at.button[[b.label for b in at.button].index("Add user")].click().run()
    assert not errors(at)
    assert toasts(at) == ["Lena Park can sign in as @lena."]
    assert demo_db.fetchone("SELECT display_name, role, active FROM users WHERE username = 'lena'") == (
        "Lena Park",
        "standard",
        True,
    )


def test_disabling_asks_who_takes_the_conversations_then_hands_them_over(app_as, demo_db):
    maria, james = uid(demo_db, "maria"), uid(demo_db, "james")
    owned = demo_db.scalar("SELECT count(*) FROM conversations WHERE owner_id = ?", [maria])
    at = app_as("admin", PAGE)
    at.selectbox(key="users.chosen").set_value(maria).run()
    at.button(key="users.disable").click().run()
    assert errors(at) == [f"María López owns {owned} conversations; choose who takes them over."]
    at.selectbox(key="users.heir").set_value(james).run()
    at.button(key="users.disable").click().run()
    assert not errors(at)
    assert toasts(at) == [f"Disabled; {owned} conversations handed over."]
    assert demo_db.scalar("SELECT count(*) FROM conversations WHERE owner_id = ?", [maria]) == 0
    at.button(key="users.enable").click().run()
    assert demo_db.scalar("SELECT active FROM users WHERE id = ?", [maria]) is True


def test_the_last_admin_keeps_the_role(app_as, demo_db):
    at = app_as("admin", PAGE)
    at.selectbox(key="users.chosen").set_value(uid(demo_db, "admin")).run()
    at.selectbox(key="users.role").set_value("standard").run()
    at.button(key="users.change_role").click().run()
    assert errors(at) == ["Alex Rivera is the last active admin; make someone else an admin first."]


def test_teams(app_as, demo_db):
    at = app_as("admin", PAGE)
    at.text_input(key="users.team_new").input("Billing").run()
    at.button(key="users.team_add").click().run()
    billing = demo_db.scalar("SELECT id FROM teams WHERE name = 'Billing'")
    at.selectbox(key="users.team_chosen").set_value(billing).run()
    at.multiselect(key="users.team_members").set_value([uid(demo_db, "aiko")]).run()
    at.button(key="users.team_save").click().run()
    assert not errors(at)
    assert demo_db.scalar("SELECT team_id FROM users WHERE username = 'aiko'") == billing


def test_a_users_sign_in_sessions_and_ending_them(app_as, demo_db, demo_runtime):
    from core import sessions

    maria = uid(demo_db, "maria")
    phone = sessions.start(demo_db, maria, demo_runtime.config.secret_key, user_agent="Safari on an iPhone").session_id
    sessions.start(demo_db, maria, demo_runtime.config.secret_key, user_agent="Firefox on a laptop")
    at = app_as("admin", PAGE)
    at.selectbox(key="users.chosen").set_value(maria).run()
    shown = [c.value for c in at.caption if "signed in" in c.value]
    assert len(shown) == 2 and any(c.startswith("Safari on an iPhone") for c in shown)
    table = at.dataframe[0].value.set_index("Username")
    assert table.loc["maria", "Signed in"] == 2
    at.button(key=f"users.end_session.{phone}").click().run()
    assert not errors(at) and toasts(at) == ["Session ended."]
    assert [s.user_agent for s in sessions.live_sessions(demo_db, maria)] == ["Firefox on a laptop"]
    at.button(key="users.end_all").click().run()
    assert sessions.live_sessions(demo_db, maria) == []
    assert at.dataframe[0].value.set_index("Username").loc["maria", "Signed in"] == 0


def test_an_admin_sees_this_browser_among_their_own_sessions_and_cannot_disable_themselves(app_as, demo_db):
    at = app_as("admin", PAGE)
    at.selectbox(key="users.chosen").set_value(uid(demo_db, "admin")).run()
    ours = [c.value for c in at.caption if "(this browser: ending it signs you out) · from " in c.value]
    assert len(ours) == 1  # the AppTest's own session
    assert "This is your own account: another admin can disable it." in [c.value for c in at.caption]
    assert not [b for b in at.button if b.key == "users.disable"]


def test_another_user_chosen_as_a_button_is_clicked_changes_nobody(app_as, demo_db):
    # Another user chosen and Change role clicked before the page redrew reach the server in one
    # rerun: the role picked belonged to the form of the first, the page then shows the second.
    # Neither is changed; one sentence says so. The same guard stands on every button of the form.
    maria, james = uid(demo_db, "maria"), uid(demo_db, "james")
    at = app_as("admin", PAGE)
    at.selectbox(key="users.chosen").set_value(maria).run()
    at.selectbox(key="users.role").set_value("admin").run()
    at.selectbox(key="users.chosen").set_value(james)
    at.button(key="users.change_role").click()
    at.run()
    assert errors(at) == [
        "Another user was chosen as you clicked: nothing was changed. Check the form, then click again."
    ]
    assert demo_db.fetchall(
        "SELECT username, role FROM users WHERE id IN (?, ?) ORDER BY username", [maria, james]
    ) == [
        ("james", "standard"),
        ("maria", "standard"),
    ]
    at.text_input(key="users.password").input("a-new-password-9").run()
    before = demo_db.fetchall("SELECT id, password_hash FROM users WHERE id IN (?, ?) ORDER BY id", [maria, james])
    at.selectbox(key="users.chosen").set_value(maria)
    at.button(key="users.reset").click()
    at.run()
    assert errors(at) == [
        "Another user was chosen as you clicked: nothing was changed. Check the form, then click again."
    ]
    assert (
        demo_db.fetchall("SELECT id, password_hash FROM users WHERE id IN (?, ?) ORDER BY id", [maria, james]) == before
    )
