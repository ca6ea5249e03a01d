"""Sender numbers (admins): the list with warnings, adding one, registration, the sending rule."""

from __future__ import annotations

import pytest

from tests.pages.admin_page import errors, plain, toasts

PAGE = "pages/admin_senders.py"
pytestmark = pytest.mark.usefixtures("navigation_only")


def test_the_list_and_the_warning_for_an_unregistered_toll_free_number(app_as):
    at = app_as("admin", PAGE)
    assert not errors(at)
    table = at.dataframe[0].value
    assert list(table["Name"]) == ["Front desk SMS", "Toll-free (verification pending)", "WhatsApp"]
    assert list(table["Sending"]) == ["OK", "⚠ unregistered", "OK"]
    assert any(
        plain(w.value).startswith("Toll-free (verification pending) has no completed toll-free verification")
        for w in at.warning
    )


def test_add_a_sender_with_its_10dlc_registration(app_as, demo_db):
    at = app_as("admin", PAGE)
    at.text_input(key="senders.phone").input("(415) 555-0177").run()
    at.text_input(key="senders.label").input("Second line").run()
    at.selectbox(key="senders.brand").set_value("approved").run()
    at.selectbox(key="senders.campaign").set_value("approved").run()
    at.button(key="senders.save").click().run()
    assert not errors(at) and toasts(at) == ["Sender added."]
    assert demo_db.fetchone(
        "SELECT phone, label, registration_kind, registration_status FROM senders WHERE label = 'Second line'"
    ) == ("+14155550177", "Second line", "10dlc", "registered")


def test_a_bad_number_is_one_sentence(app_as, demo_db):
    at = app_as("admin", PAGE)
    at.text_input(key="senders.phone").input("12345").run()
    at.text_input(key="senders.label").input("Broken").run()
    at.button(key="senders.save").click().run()
    assert errors(at) == ["“12345” is not a valid phone number."]
    assert demo_db.scalar("SELECT count(*) FROM senders WHERE label = 'Broken'") == 0


def test_the_rule_for_unregistered_numbers(app_as, demo_db):
    at = app_as("admin", PAGE)
    at.radio(key="senders.rule").set_value("Do not send from them").run()
    assert not errors(at)
    assert demo_db.fetchall("SELECT label, send_blocked FROM senders WHERE send_blocked IS NOT NULL") == [
        ("Toll-free (verification pending)", "Sender not verified (toll-free)")
    ]
    assert list(at.dataframe[0].value["Sending"]) == ["OK", "Sender not verified (toll-free)", "OK"]


def test_another_sender_chosen_as_save_is_clicked_saves_nothing(app_as, demo_db):
    # The first sender's form edited, the second chosen and Save clicked before the page redrew:
    # one rerun. Nothing is saved on either; one sentence says so.
    first, second = demo_db.fetchall("SELECT id, label FROM senders ORDER BY id LIMIT 2")
    at = app_as("admin", PAGE)
    at.selectbox(key="senders.chosen").set_value(first[0]).run()
    at.text_input(key="senders.label").input("Renamed line").run()
    at.selectbox(key="senders.chosen").set_value(second[0])
    at.button(key="senders.save").click()
    at.run()
    assert errors(at) == [
        "Another sender was chosen as you clicked: nothing was saved. Check the form, then click again."
    ]
    assert demo_db.fetchall("SELECT id, label FROM senders ORDER BY id LIMIT 2") == [first, second]
    assert at.text_input(key="senders.label").value == second[1]


def test_a_save_from_a_stale_form_does_not_undo_someone_elses_change(app_as, demo_db):
    """The carrier suspended the 10DLC campaign and another admin recorded it while this form was open:
    saving the form (its rate changed) must not put the campaign back to Approved (and unblock it)."""
    from core.actions.senders import SenderForm, do_update_sender
    from tests.conftest import demo_user

    sid = demo_db.scalar("SELECT id FROM senders WHERE label = 'Front desk SMS'")
    phone, provider, rate = demo_db.fetchone("SELECT phone, provider, rate_per_second FROM senders WHERE id = ?", [sid])

    def record(campaign_status: str) -> None:
        form = SenderForm(
            phone=phone,
            channel="sms",
            provider=provider,
            label="Front desk SMS",
            rate_per_second=rate,
            brand_status="approved",
            campaign_status=campaign_status,
        )
        do_update_sender(demo_db, demo_user(demo_db, "admin"), sid, form)

    record("approved")
    at = app_as("admin", PAGE)
    at.selectbox(key="senders.chosen").set_value(sid).run()
    assert at.selectbox(key="senders.campaign").value == "approved"
    record("suspended")  # another admin, meanwhile
    at.number_input(key="senders.rate").set_value(2.0).run()
    at.button(key="senders.save").click().run()
    assert demo_db.fetchone(
        "SELECT campaign_status, registration_status, rate_per_second FROM senders WHERE id = ?", [sid]
    ) == ("suspended", "rejected", rate)
    assert any("Someone else saved" in e for e in errors(at)), errors(at)


def test_turning_a_sender_off_says_how_many_messages_wait_to_go_from_it(app_as, demo_db):
    from core.actions import messaging
    from tests import factories as f
    from tests.conftest import demo_user

    admin = demo_user(demo_db, "admin")
    sid = f.add_sender(demo_db, phone="+14155550188", label="Night line")
    contact = f.add_contact(demo_db, phone="+14158679999", name="Late Larry")
    conversation = f.add_conversation(demo_db, contact_id=contact, sender_id=sid, owner_id=admin.id)
    for text in ("One", "Two", "Three"):
        messaging.do_send(demo_db, admin, conversation, text)
    assert demo_db.scalar("SELECT count(*) FROM outbox WHERE sender_id = ? AND state = 'pending'", [sid]) == 3
    at = app_as("admin", PAGE)
    at.selectbox(key="senders.chosen").set_value(sid).run()
    assert not [w for w in at.warning if "to go from" in plain(w.value)]  # still enabled: nothing to say
    at.toggle(key="senders.enabled").set_value(False).run()
    [said] = [plain(w.value) for w in at.warning if "to go from" in plain(w.value)]
    assert said == (
        "3 messages wait to go from Night line. Each one that falls due while it is disabled is recorded as not "
        "sent, and is not sent later if you enable it again."
    )
