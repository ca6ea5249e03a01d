"""The Templates page (admins): list and search, a new template, editing a registered one, disabling."""

from __future__ import annotations

import re

import pytest

from core import template_finders

PAGE = "pages/templates.py"
pytestmark = pytest.mark.usefixtures("navigation_only")


def plain(markdown: str) -> str:
    """Text as the reader sees it (the page escapes Markdown in people's words)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def errors(at) -> list[str]:
    return [e.value for e in at.exception] + [e.value for e in at.error]


def listed(at) -> list[str]:
    return list(at.dataframe[0].value["Name"])


def open_page(app_as, query=None):
    at = app_as("admin", PAGE, query)
    assert not errors(at), errors(at)
    return at


def test_the_list_searches_and_filters(app_as):
    at = open_page(app_as)
    assert "Appointment reminder" in listed(at) and "Cleaning recall" in listed(at)
    at.text_input(key="tpl.q").input("appointment").run()
    # By name, by WhatsApp name (Recordatorio de cita is appointment_reminder too) and by text.
    assert listed(at) == ["Appointment reminder", "Recordatorio de cita", "Running late"]
    at.text_input(key="tpl.q").input("").run()
    at.segmented_control(key="tpl.kind").set_value("Campaign").run()
    assert listed(at) == ["Check-up reminder (WhatsApp)", "Cleaning recall", "Saturday hours launch", "Whitening offer"]


def test_a_new_sms_template_with_its_preview_and_segment_count(app_as, demo_db):
    at = open_page(app_as)
    at.button(key="tpl.new").click().run()
    at.text_input(key="tpl.f.name").input("Bring your card").run()
    at.selectbox(key="tpl.f.channel").set_value("sms").run()
    at.text_area(key="tpl.f.body").input("Hi {{first_name}}, please bring your insurance card 🪪").run()
    at.text_input(key="tpl.sample.first_name").input("Ana").run()
    assert "Hi Ana, please bring your insurance card 🪪" in [t.value for t in at.text]
    # 42 characters; the ID-card emoji is outside GSM-7 and takes two UCS-2 units: 43 of 70.
    assert "42 characters · UCS-2 · 1 segment (27 left) · UCS-2 because of “🪪”" in [plain(c.value) for c in at.caption]
    at.button(key="tpl.save").click().run()
    assert not errors(at)
    saved = demo_db.dicts("SELECT name, kind, channel, body, samples FROM templates WHERE name = 'Bring your card'")
    assert saved == [
        {
            "name": "Bring your card",
            "kind": "conversation",
            "channel": "sms",
            "body": "Hi {{first_name}}, please bring your insurance card 🪪",
            "samples": '{"first_name": "Ana"}',
        }
    ]
    assert at.query_params["id"] == (str(demo_db.scalar("SELECT id FROM templates WHERE name = 'Bring your card'")))


def test_what_whatsapp_would_refuse_is_said_in_one_sentence_and_nothing_is_saved(app_as, demo_db):
    at = open_page(app_as)
    at.button(key="tpl.new").click().run()
    at.text_input(key="tpl.f.name").input("Promo").run()
    at.selectbox(key="tpl.f.channel").set_value("whatsapp").run()
    at.text_area(key="tpl.f.body").input("{{first_name}}, our sale is on").run()
    at.toggle(key="tpl.f.registered").set_value(True).run()
    at.text_input(key="tpl.f.provider_name").input("spring_promo").run()
    assert any("starts or ends with a variable" in w.value for w in at.warning)
    at.button(key="tpl.save").click().run()
    assert [plain(e.value) for e in at.error] == [
        "WhatsApp refuses a template whose text starts or ends with a variable; add words around it."
    ]
    assert demo_db.scalar("SELECT count(*) FROM templates WHERE name = 'Promo'") == 0


def test_editing_an_approved_templates_text_sends_it_back_to_review(app_as, demo_db):
    tid = demo_db.scalar("SELECT id FROM templates WHERE name = 'Appointment reminder'")
    at = open_page(app_as, {"id": tid})
    assert at.text_input(key="tpl.f.provider_name").value == "appointment_reminder"
    assert "Twilio Content variables: {{1}} = first_name, {{2}} = date, {{3}} = time" in [
        plain(c.value) for c in at.caption
    ]
    at.text_area(key="tpl.f.body").input(
        "Hi {{first_name}}, a reminder of your visit to Brightside Dental on {{date}} at {{time}}. Reply C to confirm."
    ).run()
    at.button(key="tpl.save").click().run()
    assert not errors(at)
    assert template_finders.get_template(demo_db, tid).approval_status == "pending"
    assert any("Pending until you mark it Approved" in plain(i.value) for i in at.info)


def test_disable_and_enable(app_as, demo_db):
    tid = demo_db.scalar("SELECT id FROM templates WHERE name = 'Directions'")
    at = open_page(app_as, {"id": tid})
    at.button(key="tpl.disable").click().run()
    assert demo_db.scalar("SELECT active FROM templates WHERE id = ?", [tid]) is False
    assert any("This template is disabled" in w.value for w in at.warning)
    at.button(key="tpl.enable").click().run()
    assert demo_db.scalar("SELECT active FROM templates WHERE id = ?", [tid]) is True
    assert demo_db.fetchall(
        "SELECT action FROM audit_log WHERE object_type = 'template' AND object_id = ? ORDER BY id", [tid]
    ) == [("template.disabled",), ("template.enabled",)]


def test_a_save_from_a_stale_form_does_not_undo_someone_elses_change(app_as, demo_db):
    """Meta paused the template and another admin marked it Paused while this form was open: saving the
    form (its category changed) must not mark it Approved again from the form's old state."""
    from dataclasses import replace

    from core.actions import templates as template_actions
    from tests.conftest import demo_user

    tid = demo_db.scalar("SELECT id FROM templates WHERE name = 'Appointment reminder'")
    at = open_page(app_as, {"id": tid})
    assert at.selectbox(key="tpl.f.approval_status").value == "approved"
    stored = template_finders.get_template(demo_db, tid)
    template_actions.do_update_template(
        demo_db, demo_user(demo_db, "admin"), tid, replace(stored, approval_status="paused")
    )
    at.selectbox(key="tpl.f.category").set_value("marketing").run()
    at.button(key="tpl.save").click().run()
    after = template_finders.get_template(demo_db, tid)
    assert (after.approval_status, after.category) == ("paused", "utility")
    assert any("Someone else saved" in plain(e.value) for e in at.error), [e.value for e in at.error]
