"""Hours and texts (admins): the schedule as stored, saving it, the automatic texts."""

from __future__ import annotations

import pytest

from core import settings
from tests.pages.admin_page import errors, toasts

PAGE = "pages/admin_hours.py"
pytestmark = pytest.mark.usefixtures("navigation_only")


def test_holidays_are_saved_with_the_hours(app_as, demo_db):
    at = app_as("admin", PAGE)
    assert not errors(at)
    assert at.selectbox(key="hours.tz").value == "America/New_York"
    at.text_area(key="hours.holidays").input("2027-01-01\n2027-12-24\n").run()
    at.button(key="hours.save_hours").click().run()
    assert not errors(at)
    assert toasts(at)[0].startswith("Hours saved")
    assert settings.get(demo_db, "business_hours")["holidays"] == ["2027-01-01", "2027-12-24"]


def test_a_bad_holiday_is_one_sentence(app_as, demo_db):
    before = settings.get(demo_db, "business_hours")
    at = app_as("admin", PAGE)
    at.text_area(key="hours.holidays").input("next friday").run()
    at.button(key="hours.save_hours").click().run()
    assert errors(at) == ["“next friday” is not a date; write holidays as 2026-12-25."]
    assert settings.get(demo_db, "business_hours") == before


def test_the_texts(app_as, demo_db):
    at = app_as("admin", PAGE)
    at.text_area(key="hours.text.optin_confirmation").input("Welcome back! Reply STOP to opt out.").run()
    at.button(key="hours.save_texts").click().run()
    assert not errors(at) and toasts(at) == ["Texts saved."]
    assert settings.get(demo_db, "optin_confirmation") == "Welcome back! Reply STOP to opt out."
    at.text_area(key="hours.text.help_reply").input("Call us.").run()
    at.button(key="hours.save_texts").click().run()
    assert errors(at) == ["The HELP reply must tell people how to opt out (e.g. “Reply STOP to opt out.”)."]


def test_texts_saved_from_a_stale_form_do_not_undo_someone_elses_change(app_as, demo_db):
    from core.actions import workspace
    from tests.conftest import demo_user

    at = app_as("admin", PAGE)
    theirs = "You are unsubscribed from Brightside Dental texts. No more messages will be sent."
    workspace.do_save_texts(demo_db, demo_user(demo_db, "admin"), {"optout_confirmation": theirs})
    at.text_area(key="hours.text.help_reply").input("Brightside Dental: call 555-0100. Reply STOP to opt out.").run()
    at.button(key="hours.save_texts").click().run()
    assert settings.get(demo_db, "optout_confirmation") == theirs
    assert any(e.startswith("Someone else saved the automatic texts") for e in errors(at)), errors(at)


def test_hours_saved_from_a_stale_form_do_not_undo_someone_elses_change(app_as, demo_db):
    from core.actions import workspace
    from tests.conftest import demo_user

    at = app_as("admin", PAGE)
    business, quiet = settings.get(demo_db, "business_hours"), settings.get(demo_db, "quiet_hours")
    workspace.do_save_hours(
        demo_db,
        demo_user(demo_db, "admin"),
        timezone=business["timezone"],
        weekly={int(d): intervals for d, intervals in business["weekly"].items()},
        holidays=["2027-12-24"],
        quiet_start=quiet["start"],
        quiet_end=quiet["end"],
    )
    at.selectbox(key="hours.tz").set_value("America/Chicago").run()
    at.button(key="hours.save_hours").click().run()
    assert settings.get(demo_db, "business_hours")["holidays"] == ["2027-12-24"]
    assert settings.get(demo_db, "business_hours")["timezone"] == business["timezone"]
    assert any(e.startswith("Someone else saved the hours") for e in errors(at)), errors(at)
