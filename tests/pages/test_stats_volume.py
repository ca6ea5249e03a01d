"""The Volume Stats page under AppTest: supervisors and admins see it, agents do not; bad ranges."""

from __future__ import annotations

import pytest

from tests.conftest import demo_user
from tests.pages import stats_helpers as h

PAGE = "pages/stats_volume.py"
TITLE = "Stats · Volume"


def test_supervisors_and_admins_see_it_agents_do_not(app_as):
    h.check_roles(app_as, PAGE, TITLE, 3)


def test_a_range_with_no_data_says_so(app_as, demo_db):
    at = app_as("sam", PAGE)
    at.session_state["stats.filter"] = h.far_past(demo_user(demo_db, "sam").timezone)
    at.run()
    assert not h.page_errors(at), at.exception
    assert TITLE in h.shown(at)
    if "volume" != "workload":  # workload is about now: the range does not apply
        assert at.info, "an empty range gets a clear note"


@pytest.mark.parametrize("username", ["sam", "admin"])
def test_every_chart_says_what_it_counts(app_as, username):
    at = app_as(username, PAGE)
    assert sum(1 for c in h.captions(at) if c.startswith(("Counts", "How long", "From a", "In:", "Of "))) >= 3


def test_a_range_with_only_its_first_day_chosen_asks_for_the_last(app_as):
    import datetime as dt

    at = app_as("sam", PAGE)
    at.date_input(key="stats.dates").set_value((dt.date.today() - dt.timedelta(days=3),)).run()
    assert not h.page_errors(at)
    assert any("Choose the last day of the range" in str(i.value) for i in at.info)
    assert h.charts(at) == 3  # the previous range still shows meanwhile


def test_changing_the_agent_filter_follows_to_the_next_stats_page(app_as, demo_db):
    at = app_as("sam", PAGE)
    aiko = demo_user(demo_db, "aiko").id
    at.selectbox(key="stats.agent_id").set_value(aiko).run()
    assert not h.page_errors(at)
    assert at.session_state["stats.filter"].agent_id == aiko
    at.switch_page("pages/stats_responsiveness.py").run()
    assert not h.page_errors(at)
    assert at.selectbox(key="stats.agent_id").value == aiko
