"""The template model: what Meta would refuse, the Cloud API shape, filling and the parameters a send carries."""

from __future__ import annotations

import pytest

from core import template_checks, template_finders, templates
from core.errors import ValidationError
from core.providers.base import TemplateParameter
from core.templates import Button, Template


def registered(**changes) -> Template:
    base = dict(
        name="Appointment reminder",
        body="Hi {{first_name}}, your visit is on {{date}} at {{time}}. Reply C to confirm.",
        channel="whatsapp",
        registered=True,
        provider_name="appointment_reminder",
        language="en_US",
        category="utility",
        approval_status="approved",
    )
    return Template(**(base | changes))


def test_a_registered_template_is_cleaned_and_kept():
    t = template_checks.check_template(
        registered(provider_name="  Appointment_Reminder ", name="  Appointment   reminder ")
    )
    assert (t.name, t.provider_name) == ("Appointment reminder", "appointment_reminder")
    assert templates.variables(t) == ["first_name", "date", "time"]


def test_saved_text_keeps_nothing_of_a_registration():
    t = template_checks.check_template(
        Template(
            name="Directions", body="We're at 120 Main Street.", channel=None, provider_name="x", category="utility"
        )
    )
    assert (t.registered, t.provider_name, t.category, t.approval_status, t.buttons) == (False, None, None, None, ())


@pytest.mark.parametrize(
    "changes, sentence",
    [
        (dict(name=" "), "Give the template a name."),
        (dict(body=""), "Write the template's text."),
        (dict(channel="sms"), "Only WhatsApp templates are registered with a provider; choose the WhatsApp channel."),
        (dict(provider_name="Appointment Reminder!"), "Enter the template's name at WhatsApp exactly as registered"),
        (dict(language="english"), "“english” is not a WhatsApp language code"),
        (dict(category="promo"), "Choose the template's category: marketing, utility or authentication."),
        (dict(approval_status="maybe"), "Choose the template's approval status at WhatsApp."),
        (dict(body="{{first_name}}, your visit is soon."), "starts or ends with a variable"),
        (dict(body="Your visit is on {{date}}"), "starts or ends with a variable"),
        (dict(body="Hi {{first name}}, hello."), "“{{first name}}” in the text is not a variable"),
        (dict(body="Hi {{1}}, hello."), "“{{1}}” in the text is not a variable"),
        (dict(body="Hi " + "x" * 1030 + " there"), "a registered WhatsApp template's body can be at most 1,024"),
        (
            dict(body="Hi {{first_name}}, yes {{first_name}}, really."),
            "{{first_name}} appears twice in the text; with positional parameters",
        ),
        (
            dict(body="Hi {{FirstName}}, hello.", parameter_format="named"),
            "rename {{FirstName}} in the text",
        ),
        (dict(header_format="text", header_text=""), "Write the header's text, or choose no header."),
        (
            dict(header_format="text", header_text="For {{first_name}} on {{date}}"),
            "WhatsApp allows at most one variable in a text header.",
        ),
        (dict(header_format="text", header_text="x" * 61), "A header can be at most 60 characters."),
        (dict(header_format="image", header_link="http://x/a.png"), "A image header needs the https:// link"),
        (dict(footer="Reply {{x}} to stop"), "A footer cannot hold variables."),
        (dict(footer="x" * 61), "A footer can be at most 60 characters."),
        (dict(content_sid="HX123"), "A Twilio Content SID is “HX” followed by 32 hexadecimal characters."),
        (dict(buttons=(Button("quick_reply", ""),)), "Button 1 needs the text people tap."),
        (dict(buttons=(Button("quick_reply", "x" * 26),)), "Button 1's text can be at most 25 characters."),
        (dict(buttons=(Button("url", "Book", url="example.com"),)), "Button 1 needs the web address it opens"),
        (
            dict(buttons=(Button("url", "Book", url="https://x.example/{{code}}/now"),)),
            "Button 1's address may end in one variable, nowhere else.",
        ),
        (
            dict(buttons=tuple(Button("url", f"B{i}", url=f"https://x.example/{i}") for i in range(3))),
            "at most 2 website buttons",
        ),
        (
            dict(buttons=tuple(Button("quick_reply", f"Q{i}") for i in range(11))),
            "at most 10 buttons",
        ),
        (
            dict(
                buttons=(
                    Button("quick_reply", "Yes"),
                    Button("url", "Book", url="https://x.example"),
                    Button("quick_reply", "No"),
                )
            ),
            "WhatsApp keeps quick replies together",
        ),
        (dict(buttons=(Button("phone_number", "Call", phone="12"),)), "“12” is not a valid phone number."),
    ],
)
def test_what_meta_would_refuse_is_refused_with_one_sentence(changes, sentence):
    with pytest.raises(ValidationError) as info:
        template_checks.check_template(registered(**changes))
    assert sentence in str(info.value)


def test_sms_text_has_its_own_limit():
    with pytest.raises(ValidationError, match="SMS templates can be at most 1,600"):
        template_checks.check_template(Template(name="Long", body="x" * 1601, channel="sms"))
    assert template_checks.check_template(Template(name="Long", body="x" * 1600, channel="sms")).body == "x" * 1600


def test_cloud_definition_is_what_meta_registers_positional():
    t = template_checks.check_template(
        registered(
            header_format="text",
            header_text="Visit for {{first_name}}",
            footer="Brightside Dental",
            buttons=(
                Button("url", "Manage booking", url="https://dental.example/b/{{code}}"),
                Button("quick_reply", "Not me", payload="NOT_ME"),
            ),
            samples={"first_name": "Alex", "date": "May 4", "time": "3 PM", "code": "b77"},
        )
    )
    assert templates.cloud_definition(t) == [
        {"type": "HEADER", "format": "TEXT", "text": "Visit for {{1}}", "example": {"header_text": ["Alex"]}},
        {
            "type": "BODY",
            "text": "Hi {{1}}, your visit is on {{2}} at {{3}}. Reply C to confirm.",
            "example": {"body_text": [["Alex", "May 4", "3 PM"]]},
        },
        {"type": "FOOTER", "text": "Brightside Dental"},
        {
            "type": "BUTTONS",
            "buttons": [
                {
                    "type": "URL",
                    "text": "Manage booking",
                    "url": "https://dental.example/b/{{1}}",
                    "example": ["https://dental.example/b/b77"],
                },
                {"type": "QUICK_REPLY", "text": "Not me"},
            ],
        },
    ]


def test_cloud_definition_named_parameters_keep_their_names():
    t = template_checks.check_template(registered(parameter_format="named", samples={"first_name": "Alex"}))
    body = templates.cloud_definition(t)[0]
    assert body["text"] == "Hi {{first_name}}, your visit is on {{date}} at {{time}}. Reply C to confirm."
    assert body["example"] == {
        "body_text_named_params": [
            {"param_name": "first_name", "example": "Alex"},
            {"param_name": "date", "example": "date"},
            {"param_name": "time", "example": "time"},
        ]
    }


def test_render_fills_header_body_and_footer_and_names_what_is_missing():
    t = registered(header_format="text", header_text="Visit for {{first_name}}", footer="Brightside Dental")
    done = templates.render(t, {"first_name": "Zoë", "date": "May 4", "time": "3 PM"})
    assert done.text == (
        "Visit for Zoë\n\nHi Zoë, your visit is on May 4 at 3 PM. Reply C to confirm.\n\nBrightside Dental"
    )
    assert done.missing == []
    partial = templates.render(t, {"first_name": "Zoë"})
    assert partial.missing == ["date", "time"]
    assert "{{date}}" in partial.text


def test_template_ref_carries_every_parameter_in_template_order():
    t = template_checks.check_template(
        registered(
            header_format="image",
            header_link="https://cdn.example/map.png",
            buttons=(
                Button("quick_reply", "Confirm", payload="CONFIRM"),
                Button("quick_reply", "Later"),
                Button("url", "Manage", url="https://dental.example/b/{{code}}"),
            ),
        )
    )
    ref = templates.template_ref(t, {"first_name": "Zoë", "date": "May 4", "time": "3 PM", "code": "b77"})
    assert (ref.name, ref.language, ref.named, ref.content_sid) == ("appointment_reminder", "en_US", False, None)
    assert ref.parameters == (
        TemplateParameter("header", "https://cdn.example/map.png", kind="image"),
        TemplateParameter("body", "Zoë", name="first_name"),
        TemplateParameter("body", "May 4", name="date"),
        TemplateParameter("body", "3 PM", name="time"),
        TemplateParameter("button", "CONFIRM", kind="payload", index=0, sub_type="quick_reply"),
        TemplateParameter("button", "b77", name="code", index=2, sub_type="url"),
    )


@pytest.mark.parametrize(
    "values, sentence",
    [
        ({"first_name": "Zoë", "date": "May 4"}, "needs a value for {{time}}"),
        ({"first_name": "Zoë", "date": "May 4", "time": "  "}, "needs a value for {{time}}"),
        ({"first_name": "Zoë\nDrop table", "date": "May 4", "time": "3"}, "line breaks, tabs or more than four"),
        ({"first_name": "Zoë", "date": "May     4", "time": "3"}, "line breaks, tabs or more than four"),
    ],
)
def test_values_a_registered_send_would_be_refused_for(values, sentence):
    with pytest.raises(ValidationError, match=sentence.replace("{", r"\{").replace("}", r"\}")):
        templates.template_ref(registered(), values)


def test_an_edited_approved_template_is_only_sendable_while_approved():
    assert registered().sendable_as_template
    assert not registered(approval_status="pending").sendable_as_template
    assert not registered(registered=False).sendable_as_template


def test_sms_segment_count_uses_the_samples():
    t = Template(
        name="Recall", body="Hi {{first_name}}, your cleaning is due.", channel="sms", samples={"first_name": "Al"}
    )
    info = templates.sms_segments(t)
    assert (info.encoding, info.units, info.segments) == ("GSM-7", 28, 1)  # "Hi Al, your cleaning is due."
    emoji = templates.sms_segments(t, {"first_name": "Al 🦷"})
    assert (emoji.encoding, emoji.segments) == ("UCS-2", 1)


def test_existing_templates_move_to_the_new_store_without_loss(tmp_path):
    """A workspace from before migration 7: every template keeps every field; registered ones are
    marked approved (they were being sent as approved templates)."""
    import datetime as dt

    from core import schema
    from core.db import Database

    db = Database(tmp_path / "old.duckdb")
    schema.migrate(db, target=3)
    made = dt.datetime(2026, 3, 1, 9, 30)
    db.write(
        lambda tx: tx.execute(
            "INSERT INTO templates (name, kind, channel, body, registered, provider_name, language, active, "
            "created_by, created_at) VALUES "
            "('Check-up recall', 'conversation', 'whatsapp', 'Hello {{first_name}}, time for a check-up.', TRUE, "
            "'checkup_recall', 'en_US', TRUE, 1, ?), "
            "('Directions', 'conversation', NULL, 'We are at 120 Main Street.', FALSE, NULL, 'en_US', FALSE, 1, ?)",
            [made, made],
        )
    )
    schema.migrate(db)
    rows = db.fetchall(
        "SELECT name, kind, channel, body, registered, provider_name, language, active, created_by, created_at, "
        "approval_status, category, updated_at FROM templates ORDER BY id"
    )
    assert rows == [
        (
            "Check-up recall",
            "conversation",
            "whatsapp",
            "Hello {{first_name}}, time for a check-up.",
            True,
            "checkup_recall",
            "en_US",
            True,
            1,
            made,
            "approved",
            None,
            made,
        ),
        (
            "Directions",
            "conversation",
            None,
            "We are at 120 Main Street.",
            False,
            None,
            "en_US",
            False,
            1,
            made,
            None,
            None,
            made,
        ),
    ]
    assert template_finders.get_template(db, 1).sendable_as_template
    db.close()


def test_an_edit_from_a_stale_form_is_refused_and_changes_nothing(db, make_user):
    from dataclasses import replace

    from core.actions import templates as template_actions
    from core.errors import Conflict

    ada, bo = make_user("ada", "admin"), make_user("bo", "admin")
    tid = template_actions.do_create_template(db, ada, registered())
    loaded = template_finders.get_template(db, tid)  # both forms are filled from this version
    template_actions.do_update_template(db, bo, tid, replace(loaded, approval_status="paused"), expected=loaded)
    with pytest.raises(Conflict, match="Someone else saved “Appointment reminder” while you were editing"):
        template_actions.do_update_template(db, ada, tid, replace(loaded, category="marketing"), expected=loaded)
    after = template_finders.get_template(db, tid)
    assert (after.approval_status, after.category) == ("paused", "utility")
    fresh = template_finders.get_template(db, tid)
    template_actions.do_update_template(db, ada, tid, replace(fresh, category="marketing"), expected=fresh)
    assert template_finders.get_template(db, tid).category == "marketing"


def test_pointing_an_approved_template_at_another_twilio_content_sends_it_back_to_review(db, make_user):
    """Through Twilio the Content SID is what goes: another SID is another template, whose words
    WhatsApp approved (or not) under that SID, not the text Parley shows; as for a new name at
    WhatsApp, the template is Pending until an admin marks it Approved again."""
    from dataclasses import replace

    from core.actions import templates as template_actions

    ada = make_user("ada", "admin")
    tid = template_actions.do_create_template(db, ada, registered(content_sid="HX" + "a" * 32))
    stored = template_finders.get_template(db, tid)
    note = template_actions.do_update_template(db, ada, tid, replace(stored, content_sid="HX" + "b" * 32))
    assert note == (
        "The template's content changed, so WhatsApp reviews it again: it is Pending until you mark it Approved."
    )
    after = template_finders.get_template(db, tid)
    assert (after.content_sid, after.approval_status, after.sendable_as_template) == ("HX" + "b" * 32, "pending", False)
