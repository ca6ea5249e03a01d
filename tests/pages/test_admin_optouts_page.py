"""Opt-outs (admins): the list, adding a number, removing one with its reason, history."""

from __future__ import annotations

import pytest

from core.actions.suppression import do_add_opt_out
from tests.conftest import demo_user
from tests.pages.admin_page import errors, toasts

PAGE = "pages/admin_optouts.py"
pytestmark = pytest.mark.usefixtures("navigation_only")


def test_list_add_search_and_remove(app_as, demo_db):
    before = demo_db.scalar("SELECT count(*) FROM contacts WHERE opted_out")
    at = app_as("admin", PAGE)
    assert not errors(at)
    assert len(at.dataframe[0].value) == min(before, 50)
    at.text_input(key="optouts.add_phone").input("+1 415 867 0077").run()
    at.text_input(key="optouts.add_reason").input("Asked by phone").run()
    at.button(key="optouts.add").click().run()
    assert not errors(at) and toasts(at) == ["Opted out."]
    at.text_input(key="optouts.q").input("867-0077").run()
    table = at.dataframe[0].value
    assert list(table["Number"]) == ["(415) 867-0077"] and list(table["How"]) == [
        "Added by Alex Rivera: Asked by phone"
    ]
    history = at.dataframe[1].value
    assert list(history["Reason"]) == ["Asked by phone"]
    at.button(key="optouts.remove").click().run()
    assert errors(at)[0].startswith("Say why")
    at.text_input(key="optouts.remove_reason").input("Consent form signed").run()
    at.button(key="optouts.remove").click().run()
    assert not errors(at)
    assert demo_db.scalar("SELECT opted_out FROM contacts WHERE phone = '+14158670077'") is False


def test_another_number_chosen_as_remove_is_clicked_removes_nothing(app_as, demo_db):
    # Another number chosen in "History of" and Remove clicked before the page redrew reach the
    # server in one rerun: the reason typed and the history shown belonged to the first, the page
    # then shows the second. Neither is opted back in; one sentence says so.
    admin = demo_user(demo_db, "admin")
    first = do_add_opt_out(demo_db, admin, "+1 415 867 0081", "Asked by phone")
    second = do_add_opt_out(demo_db, admin, "+1 415 867 0082", "Asked by phone")
    at = app_as("admin", PAGE)
    at.text_input(key="optouts.q").input("867-008").run()
    assert list(at.dataframe[0].value["Number"]) == ["(415) 867-0082", "(415) 867-0081"]
    assert at.selectbox(key="optouts.chosen").value == second
    at.text_input(key="optouts.remove_reason").input("Consent form signed").run()
    at.selectbox(key="optouts.chosen").set_value(first)
    at.button(key="optouts.remove").click()
    at.run()
    assert errors(at) == [
        "Another number was chosen as you clicked: no opt-out was removed. Check it, then click again."
    ]
    assert demo_db.fetchall(
        "SELECT phone, opted_out FROM contacts WHERE phone IN ('+14158670081', '+14158670082') ORDER BY phone"
    ) == [("+14158670081", True), ("+14158670082", True)]
    # Clicked again, with the page showing the number chosen: that one is opted back in, by name.
    at.button(key="optouts.remove").click().run()
    assert not errors(at)
    assert toasts(at) == ["Opt-out removed: (415) 867-0081 may be texted again."]
    assert demo_db.fetchall(
        "SELECT phone, opted_out FROM contacts WHERE phone IN ('+14158670081', '+14158670082') ORDER BY phone"
    ) == [("+14158670081", False), ("+14158670082", True)]
