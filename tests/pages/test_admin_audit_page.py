"""The audit log page (admins): entries, filters, and the CSV export (itself audited)."""

from __future__ import annotations

import pytest

from core.actions.conversations import do_assign
from core.actions.user_admin import do_create_team
from tests.conftest import demo_user
from tests.pages.admin_page import errors

PAGE = "pages/admin_audit.py"
pytestmark = pytest.mark.usefixtures("navigation_only")


def test_filter_and_export(app_as, demo_db):
    admin, james = demo_user(demo_db, "admin"), demo_user(demo_db, "james")
    conversation = demo_db.scalar("SELECT min(id) FROM conversations WHERE owner_id <> ?", [james.id])
    do_assign(demo_db, admin, [conversation], james.id)
    do_create_team(demo_db, admin, "Billing")
    at = app_as("admin", PAGE)
    assert not errors(at)
    contact = demo_db.fetchone(
        "SELECT ct.name FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = ?", [conversation]
    )[0]
    table = at.dataframe[0].value
    assert list(table["Action"])[:2] == ["Team: created", "Conversation: assigned"]
    assert list(table["About"])[:2] == ["Billing", f"Conversation with {contact}"]
    at.selectbox(key="audit.action").set_value("conversation").run()
    assert list(at.dataframe[0].value["Action"]) == ["Conversation: assigned"]
    at.button(key="audit.export_button").click().run()
    assert not errors(at)
    assert demo_db.scalar("SELECT count(*) FROM audit_log WHERE action = 'audit.exported'") == 1
    assert [b.label for b in at.get("download_button")] == ["Download CSV"]


def test_a_filter_changed_in_the_same_run_as_the_export_click_is_the_one_exported(app_as, demo_db):
    # A person picks an action and clicks Export before the page has redrawn: both reach the
    # server in one rerun. The export must hold what the page then shows (the new filter), not
    # what the filter was when the button was drawn (seen in a loaded browser run: one entry on
    # screen, every entry in the file).
    admin, james = demo_user(demo_db, "admin"), demo_user(demo_db, "james")
    conversation = demo_db.scalar("SELECT min(id) FROM conversations WHERE owner_id <> ?", [james.id])
    do_assign(demo_db, admin, [conversation], james.id)
    do_create_team(demo_db, admin, "Billing")
    at = app_as("admin", PAGE)
    at.selectbox(key="audit.action").set_value("team")
    at.button(key="audit.export_button").click()
    at.run()
    assert not errors(at)
    assert list(at.dataframe[0].value["Action"]) == ["Team: created"]
    assert "1 entry (dates in UTC)" in [c.value for c in at.caption]
    exported = at.session_state["audit.export"][1].decode("utf-8-sig").splitlines()
    assert len(exported) == 2, exported
    assert exported[1].split(",")[1:3] == ["admin", "team.created"]
    assert demo_db.scalar("SELECT detail FROM audit_log WHERE action = 'audit.exported'") == (
        '{"rows": 1, "filters": {"action": "team"}}'
    )
    # Another filter afterwards: the file made for the old one is no longer offered.
    at.selectbox(key="audit.action").set_value("conversation").run()
    assert list(at.dataframe[0].value["Action"]) == ["Conversation: assigned"]
    assert not at.get("download_button")
    assert at.button(key="audit.export_button").label == "Export these entries as CSV"
    assert "audit.export" not in at.session_state
