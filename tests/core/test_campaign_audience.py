"""Campaign audiences: by tag, CSV, everyone; every exclusion with its reason; variables; the estimate."""

from __future__ import annotations

import datetime as dt

import pytest

from core import clock, settings
from core.actions import campaigns
from core.actions.senders import do_set_unregistered_rule
from core.campaigns.audience import AudienceSpec, VariableSource, read_csv_audience
from core.errors import ValidationError
from tests.core import campaign_workspace as cw


@pytest.fixture
def ws(db, make_user):
    return cw.build(db, make_user)


def kept(preview) -> list[str]:
    return sorted(preview.audience.recipients["phone"])


def test_contacts_with_a_tag_any_case_minus_the_opted_out_and_archived(db, ws):
    p = campaigns.check_campaign(db, ws["maria"], cw.draft(ws))
    assert kept(p) == ["+14158670001", "+14158670002", "+14158670003", "+447911123456"]
    assert p.audience.candidates == 6
    assert p.audience.counts == {"opted_out": 1, "archived": 1}
    assert sorted(p.audience.recipients["body"]) == [
        "Hi Ana, your cleaning is due. Reply YES to book.",
        "Hi Ben, your cleaning is due. Reply YES to book.",
        "Hi Una, your cleaning is due. Reply YES to book.",
        "Hi there, your cleaning is due. Reply YES to book.",  # Cleo has no name: the fallback
    ]


def test_all_contacts_who_have_not_opted_out(db, ws):
    p = campaigns.check_campaign(db, ws["maria"], cw.draft(ws, audience=AudienceSpec("all")))
    assert p.audience.size == 4 and p.audience.counts == {"opted_out": 1, "archived": 1}


def test_csv_audience_each_exclusion_with_its_reason(db, ws):
    text = (
        "phone,date\n"
        "(415) 867-0001,May 4\n"  # Ana, written nationally
        "+1 415 867 0001,May 5\n"  # Ana again
        "banana,May 6\n"
        "415-867-0004,May 7\n"  # Dora, opted out
        "+1 415 867 9999,May 8\n"  # not a contact yet
        ",May 9\n"
    )
    p = campaigns.check_campaign(db, ws["maria"], cw.draft(ws, audience=cw.csv_spec(text)))
    assert kept(p) == ["+14158670001", "+14158679999"]
    assert p.audience.counts == {"invalid_number": 2, "duplicate": 1, "opted_out": 1}
    excluded = p.audience.excluded.sort_values("given")
    assert list(zip(excluded["given"], excluded["reason"])) == [
        ("", "invalid_number"),
        ("+1 415 867 0001", "duplicate"),
        ("415-867-0004", "opted_out"),
        ("banana", "invalid_number"),
    ]


def test_csv_without_a_header_line_and_variables_from_its_columns(db, ws):
    template = cw.f.add_template(
        db, name="Reminder", kind="campaign", channel="sms", body="Hi {{first_name}}, see you on {{date}}."
    )
    audience = cw.csv_spec("+14158670002;Tuesday\n+14158670001;Friday\n")
    assert audience.csv.columns == ["column 2"]
    sources = {
        "first_name": VariableSource("field", "first_name"),
        "date": VariableSource("column", "column 2"),
    }
    p = campaigns.check_campaign(
        db, ws["maria"], cw.draft(ws, template_id=template, audience=audience, sources=sources)
    )
    assert sorted(p.audience.recipients["body"]) == ["Hi Ana, see you on Friday.", "Hi Ben, see you on Tuesday."]


def test_csv_without_a_header_line_keeps_the_first_rows_cells_as_they_are(db, ws):
    # Read as a header, Ben's empty cell became "Unnamed: 1" and his repeated "Friday" "Friday.1".
    template = cw.f.add_template(
        db, name="Reminder", kind="campaign", channel="sms", body="Hi {{first_name}}: {{a}} / {{b}} / {{c}}."
    )
    audience = cw.csv_spec("+14158670002,,Friday,Friday\n+14158670001,Monday,Tuesday,Wednesday\n")
    assert audience.csv.columns == ["column 2", "column 3", "column 4"]
    sources = {
        "first_name": VariableSource("field", "first_name"),
        "a": VariableSource("column", "column 2", "soon"),
        "b": VariableSource("column", "column 3"),
        "c": VariableSource("column", "column 4"),
    }
    p = campaigns.check_campaign(
        db, ws["maria"], cw.draft(ws, template_id=template, audience=audience, sources=sources)
    )
    assert sorted(p.audience.recipients["body"]) == [
        "Hi Ana: Monday / Tuesday / Wednesday.",
        "Hi Ben: soon / Friday / Friday.",
    ]
    # Without a fallback, the empty cell excludes that recipient for want of a value.
    sources["a"] = VariableSource("column", "column 2")
    p = campaigns.check_campaign(
        db, ws["maria"], cw.draft(ws, template_id=template, audience=audience, sources=sources)
    )
    assert (kept(p), p.audience.counts) == (["+14158670001"], {"missing_value": 1})


def test_a_csv_of_one_number_without_a_header_line(db, ws):
    p = campaigns.check_campaign(db, ws["maria"], cw.draft(ws, audience=cw.csv_spec("+14158670002\n")))
    assert kept(p) == ["+14158670002"]
    with pytest.raises(ValidationError, match="has a header line but no rows"):
        read_csv_audience(b"phone\n")


def test_a_csv_column_named_like_the_variable_is_the_first_guess(db, ws):
    template = cw.f.add_template(db, name="R2", kind="campaign", channel="sms", body="Hi {{first_name}}, on {{date}}.")
    upload = read_csv_audience(b"number,first_name,date\n+14158679999,Zed,May 4\n")
    from core import template_finders
    from core.campaigns.audience import default_sources

    guessed = default_sources(template_finders.get_template(db, template), upload)
    assert guessed == {"first_name": VariableSource("column", "first_name"), "date": VariableSource("column", "date")}


def test_a_csv_column_named_like_a_contact_field_fills_the_variable(db, ws):
    audience = cw.csv_spec("phone,first_name\n+14158670001,Annie\n+14158679999,Zed\n")
    sources = {"first_name": VariableSource("column", "first_name")}
    p = campaigns.check_campaign(db, ws["maria"], cw.draft(ws, audience=audience, sources=sources))
    assert sorted(p.audience.recipients["body"]) == [
        "Hi Annie, your cleaning is due. Reply YES to book.",  # the list's name, not the contact's (Ana)
        "Hi Zed, your cleaning is due. Reply YES to book.",
    ]


def test_a_variable_without_value_or_fallback_excludes_that_recipient(db, ws):
    sources = {"first_name": VariableSource("field", "first_name")}  # no fallback
    p = campaigns.check_campaign(db, ws["maria"], cw.draft(ws, sources=sources))
    assert "+14158670003" not in kept(p)
    assert p.audience.counts == {"opted_out": 1, "archived": 1, "missing_value": 1}


def test_the_same_text_for_everyone(db, ws):
    sources = {"first_name": VariableSource("text", "  friend ")}
    p = campaigns.check_campaign(db, ws["maria"], cw.draft(ws, sources=sources))
    assert set(p.audience.recipients["body"]) == {"Hi friend, your cleaning is due. Reply YES to book."}


def test_every_variable_needs_a_source(db, ws):
    with pytest.raises(ValidationError, match=r"Choose where \{\{first_name\}\} comes from"):
        campaigns.check_campaign(db, ws["maria"], cw.draft(ws, sources={}))
    with pytest.raises(ValidationError, match="the file lacks"):
        campaigns.check_campaign(
            db, ws["maria"], cw.draft(ws, sources={"first_name": VariableSource("column", "first")})
        )


def test_whatsapp_needs_an_opt_in(db, ws):
    # Ben wrote to the business on WhatsApp; Ana gave her opt-in in the uploaded list.
    cw.f.add_conversation(db, contact_id=ws["ben"], sender_id=ws["wa"], owner_id=ws["maria"].id)
    text = "phone,whatsapp opt-in\n+14158670001,yes\n+14158670002,\n+14158670003,no\n"
    d = cw.draft(ws, sender_id=ws["wa"], template_id=ws["wa_recall"], audience=cw.csv_spec(text))
    p = campaigns.check_campaign(db, ws["maria"], d)
    assert kept(p) == ["+14158670001", "+14158670002"]
    assert p.audience.counts == {"no_whatsapp_opt_in": 1}


def test_an_unregistered_sender_the_workspace_blocks_excludes_us_numbers(db, ws):
    db.write(lambda tx: tx.execute("UPDATE senders SET registration_status = 'pending' WHERE id = ?", [ws["sms"]]))
    p = campaigns.check_campaign(db, ws["maria"], cw.draft(ws))
    assert p.audience.size == 4 and any("US carriers may filter or block" in w for w in p.warnings)
    do_set_unregistered_rule(db, ws["admin"], "block")
    p = campaigns.check_campaign(db, ws["maria"], cw.draft(ws))
    assert kept(p) == ["+447911123456"]
    assert p.audience.counts == {"opted_out": 1, "archived": 1, "unregistered_sender": 3}


def test_segments_cost_units_and_encoding(db, ws):
    zoe = cw.f.add_contact(db, phone="+14158670010", name="Zoë Ávila")  # ë is not GSM-7: her text is UCS-2
    cw.tag(db, {zoe: "recall"})
    template = cw.f.add_template(
        db, name="Long", kind="campaign", channel="sms", body="Hi {{first_name}}, " + "x" * 150 + "."
    )
    p = campaigns.check_campaign(db, ws["maria"], cw.draft(ws, template_id=template))
    # 156 characters around the name. Ana, Ben, Una: 159 GSM-7 septets = 1 segment each; "there": 161 = 2
    # segments (153 per part); Zoë: 159 UCS-2 units = 3 segments (67 per part). 1 + 1 + 1 + 2 + 3 = 8.
    assert p.audience.size == 5
    assert (p.estimate.segments, p.estimate.cost_units, p.estimate.ucs2) == (8, 8, 1)
    assert p.estimate.per_message == 1.6
    assert any("1 of the messages contain characters outside GSM-7" in w for w in p.warnings)


def test_a_pair_of_units_that_would_straddle_two_parts_starts_the_next_one(db, ws):
    # "Hi Ben " + 145 letters fill 152 of part one's 153 septets: the € (an escape pair, 2 septets) goes
    # whole to part two, which the 152 letters after it then overflow: 3 segments, not 306 / 153 = 2.
    # "Hi there " + 145 letters fill part one; the € is inside part two: 311 septets, 3 segments either way.
    body = "Hi {{first_name}} " + "a" * 145 + "€" + "b" * 152
    template = cw.f.add_template(db, name="Euro", kind="campaign", channel="sms", body=body)
    audience = cw.csv_spec("phone\n+14158670002\n+14158679999\n")
    p = campaigns.check_campaign(db, ws["maria"], cw.draft(ws, template_id=template, audience=audience))
    assert (p.estimate.segments, p.estimate.cost_units, p.estimate.per_message) == (6, 6, 3.0)
    # UCS-2: an emoji is a surrogate pair. "Hi Ben " + 59 é fill 66 of 67 units: 7 + 59 + 2 + 66 = 134
    # units take 3 segments, not 2.
    body = "Hi {{first_name}} " + "é" * 59 + "😀" + "é" * 66
    template = cw.f.add_template(db, name="Smile", kind="campaign", channel="sms", body=body)
    audience = cw.csv_spec("phone\n+14158670002\n")
    p = campaigns.check_campaign(db, ws["maria"], cw.draft(ws, template_id=template, audience=audience))
    assert (p.estimate.segments, p.estimate.cost_units, p.estimate.ucs2) == (3, 3, 1)


def test_whatsapp_costs_one_unit_per_message(db, ws):
    cw.f.add_conversation(db, contact_id=ws["ben"], sender_id=ws["wa"], owner_id=ws["maria"].id)
    d = cw.draft(ws, sender_id=ws["wa"], template_id=ws["wa_recall"])
    p = campaigns.check_campaign(db, ws["maria"], d)
    assert (p.audience.size, p.estimate.cost_units) == (1, 1)


def test_first_time_it_can_go_under_business_and_quiet_hours(db, ws):
    # Open 9:00–17:00 New York time on weekdays; recipients' quiet hours 8:00–21:00 their time.
    db.write(
        lambda tx: (
            settings.put(
                tx,
                "business_hours",
                {
                    "timezone": "America/New_York",
                    "weekly": {str(d): [["09:00", "17:00"]] for d in range(5)},
                    "holidays": [],
                },
            ),
            settings.put(tx, "quiet_hours", {"start": "08:00", "end": "21:00"}),
        )
    )
    clock.freeze(dt.datetime(2026, 3, 14, 15, 0))  # Saturday 11:00 in New York
    p = campaigns.check_campaign(db, ws["maria"], cw.draft(ws, audience=AudienceSpec("all")))
    # Monday 9:00 New York (13:00 UTC) for the San Francisco numbers too (6:00 there: quiet until 8:00 = 15:00 UTC).
    assert p.estimate.first_at == dt.datetime(2026, 3, 16, 13, 0)  # the UK number: 13:00 UTC is 13:00 in London
    assert p.estimate.last_start_at == dt.datetime(2026, 3, 16, 15, 0)
    assert set(p.why) == {"business_hours"}  # closed on Saturday: the hours hold every one of them
