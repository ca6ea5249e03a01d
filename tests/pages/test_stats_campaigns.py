"""The Campaign results Stats page under AppTest: supervisors and admins see it, agents do not; bad ranges."""

from __future__ import annotations

import pytest

from tests.conftest import demo_user
from tests.pages import stats_helpers as h

PAGE = "pages/stats_campaigns.py"
TITLE = "Stats · Campaign results"


def test_supervisors_and_admins_see_it_agents_do_not(app_as):
    h.check_roles(app_as, PAGE, TITLE, 1)


def test_a_range_with_no_data_says_so(app_as, demo_db):
    at = app_as("sam", PAGE)
    at.session_state["stats.filter"] = h.far_past(demo_user(demo_db, "sam").timezone)
    at.run()
    assert not h.page_errors(at), at.exception
    assert TITLE in h.shown(at)
    if "campaigns" != "workload":  # workload is about now: the range does not apply
        assert at.info, "an empty range gets a clear note"


@pytest.mark.parametrize("username", ["sam", "admin"])
def test_every_chart_says_what_it_counts(app_as, username):
    at = app_as(username, PAGE)
    assert sum(1 for c in h.captions(at) if c.startswith(("Counts", "How long", "From a", "In:", "Of "))) >= 1
