"""Opt-outs (admins): the list, adding a number, removing one with its reason, history."""

from __future__ import annotations

import pytest

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
