"""Who reaches the campaign, template and admin pages: each role's navigation, and a page script run
directly by someone it is not for (as a crafted request would) shows one sentence and nothing else."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, sign_in_apptest

ADMIN_PAGES = [
    "pages/templates.py",
    "pages/admin_users.py",
    "pages/admin_senders.py",
    "pages/admin_providers.py",
    "pages/admin_hours.py",
    "pages/admin_optouts.py",
    "pages/admin_audit.py",
    "pages/admin_webhooks.py",
]

pytestmark = pytest.mark.usefixtures("navigation_only")


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_admins_open_each_admin_page(app_as, page):
    at = app_as("admin", page)
    assert not at.exception and not at.error, ([e.value for e in at.exception], [e.value for e in at.error])


@pytest.mark.parametrize("who", ["maria", "sam"])
def test_agents_and_supervisors_have_no_admin_pages_in_their_navigation(app_as, who):
    at = app_as(who)
    for page in ADMIN_PAGES:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)
    at.switch_page("pages/campaigns.py")  # everyone follows campaigns
    at.run()
    assert not at.exception and [h.value for h in at.header] == ["Campaigns"]


@pytest.mark.parametrize("page", ADMIN_PAGES)
@pytest.mark.parametrize("who", ["maria", "sam"])
def test_an_admin_page_run_directly_by_a_non_admin_shows_one_sentence(demo_runtime, page, who):
    at = AppTest.from_file(str(ROOT / page), default_timeout=30)
    sign_in_apptest(at, demo_runtime, who)
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Only admins can open this page."]
    assert not at.dataframe and not at.button and not at.text_input


def test_the_unregistered_sender_banner_is_for_admins_on_every_page(app_as):
    for page in ("pages/my_inbox.py", "pages/contacts.py", "pages/campaigns.py"):
        admin = app_as("admin", page)
        [banner] = [w.value for w in admin.warning if w.value.startswith("**URGENT! Please register the 10-digit")]
        # The demo's unregistered number, after its name (which has parentheses of its own).
        assert banner.replace("\\", "").endswith(
            "Not registered yet: Toll-free (verification pending) · (888) 555-0142."
        ), page
    for who, page in (("maria", "pages/my_inbox.py"), ("sam", "pages/team_inbox.py")):
        assert not any("URGENT" in w.value for w in app_as(who, page).warning)
